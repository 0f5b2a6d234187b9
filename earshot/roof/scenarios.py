"""The simulated world of the bundled ChatGPT configuration: how much each of
its sources posts, where an outage's complaints land, the labelled scenarios
(:func:`detector.simulate.simulate` takes them), and the words of simulated posts.

>>> sorted(SCENARIOS)[:3]
['api-busy', 'api-forum', 'bursty']
>>> set(SOURCE_RATES) == set(OUTAGE_MIX)
True
"""

from __future__ import annotations

from detector.simulate import PEAK_OUTAGE_PER_MINUTE

# Posts an hour on each source of the bundled config at the busiest hour of a weekday.
SOURCE_RATES = {
    "reddit-chatgpt": 40.0,
    "reddit-openai": 12.0,
    "hackernews": 6.0,
    "openai-forum": 8.0,
    "mastodon-chatgpt": 5.0,
}
# Where an outage's complaints land, unless its event says otherwise.
OUTAGE_MIX = {
    "reddit-chatgpt": 0.45,
    "reddit-openai": 0.2,
    "hackernews": 0.1,
    "openai-forum": 0.15,
    "mastodon-chatgpt": 0.1,
}

SCENARIOS = {
    # Ten ordinary days: a launch-day surge, one account posting the same
    # complaint forty times, a source not read for half a day. No outage.
    "ordinary": {
        "days": 10,
        "events": [
            {"type": "gap", "source": "reddit-openai", "at": "2d09:00", "hours": 12},
            {"type": "launch", "at": "5d17:00", "hours": 6, "posts_per_hour": 400},
            {"type": "flood", "at": "7d15:10", "source": "reddit-chatgpt", "posts": 40, "minutes": 50},
        ],
    },
    "major": {
        "days": 9,
        "events": [
            {
                "type": "outage",
                "at": "8d13:42",
                "minutes": 94,
                "size": 1.0,
                "problems": {"down": 0.4, "errors": 0.35, "api": 0.25},
            }
        ],
    },
    # A dozen complaints an hour, at night, where the usual is near zero.
    "night-partial": {
        "days": 9,
        "events": [
            {
                "type": "outage",
                "at": "8d04:10",
                "minutes": 90,
                "size": 12 / 60 / PEAK_OUTAGE_PER_MINUTE,
                "problems": {"errors": 0.6, "down": 0.4},
            }
        ],
    },
    # The API fails, ChatGPT works: developers say so on the forum.
    "api-forum": {
        "days": 9,
        "events": [
            {
                "type": "outage",
                "at": "8d19:20",
                "minutes": 60,
                "size": 0.06,
                "mix": {"openai-forum": 0.8, "hackernews": 0.1, "reddit-openai": 0.1},
                "problems": {"api": 0.9, "errors": 0.1},
            }
        ],
    },
    "ramp": {
        "days": 9,
        "events": [
            {
                "type": "outage",
                "at": "8d10:05",
                "minutes": 120,
                "size": 0.3,
                "shape": "ramp",
                "ramp_minutes": 45,
                "problems": {"slow": 0.5, "errors": 0.5},
            }
        ],
    },
    # The API fails in the busiest hours, ChatGPT works: a few developers
    # say so, three complaints a quarter hour, all about the API, a handful
    # against the hundreds of ordinary posts of those hours.
    "api-busy": {
        "days": 9,
        "events": [
            {
                "type": "outage",
                "at": "8d17:05",
                "minutes": 45,
                "size": 0.2 / PEAK_OUTAGE_PER_MINUTE,
                "mix": {"openai-forum": 0.4, "reddit-openai": 0.3, "hackernews": 0.2, "reddit-chatgpt": 0.1},
                "problems": {"api": 1.0},
            }
        ],
    },
    # A partial outage in the busiest hours, small against the day's chatter.
    "partial-busy": {
        "days": 9,
        "events": [
            {"type": "outage", "at": "8d16:30", "minutes": 40, "size": 0.12, "problems": {"errors": 0.7, "login": 0.3}}
        ],
    },
}

# Ordinary days as rough as real chatter, no outage: the stress cases for
# false alarms (see detector.simulate for each kind of roughness).
STRESS = {
    # News-driven bursts of every size and self-exciting complaint threads.
    "bursty": {
        "days": 14,
        "events": [
            {"type": "bursts", "per_day": 3, "alpha": 1.5, "min_posts": 20, "minutes": 30, "complaint_share": 0.03},
            {"type": "threads", "branching": 0.5, "minutes": 8},
        ],
    },
    # The community doubles overnight, then its daily rhythm slides.
    "growing": {
        "days": 14,
        "events": [
            {"type": "shift", "at": "8d00:00", "factor": 2.0},
            {"type": "drift", "hours_per_day": 0.4},
            {"type": "threads", "branching": 0.3, "minutes": 8},
        ],
    },
    # Sources that are silent most hours, a source unread for a day, posts that arrive late.
    "sparse": {
        "days": 14,
        "events": [
            {"type": "sporadic", "source": "mastodon-chatgpt", "active": 0.08},
            {"type": "sporadic", "source": "hackernews", "active": 0.2},
            {"type": "gap", "source": "openai-forum", "at": "6d00:00", "hours": 24},
            {"type": "late", "source": "reddit-chatgpt", "share": 0.3, "minutes": 20},
            {"type": "bursts", "per_day": 1, "alpha": 1.5, "min_posts": 20, "minutes": 30, "complaint_share": 0.03},
        ],
    },
}
SCENARIOS.update(STRESS)


# The words of simulated posts: chatter, complaints by problem type, vague ones.
CHATTER = [
    "What's the best prompt for summarising long PDFs with {model}?",
    "ChatGPT wrote my error handler and it actually works",
    "Is {model} worth it over the free tier?",
    "I asked ChatGPT to plan my week and it did better than me",
    "OpenAI's outage last week cost us a demo, lessons learned thread",
    "How do you keep {model} from being so verbose?",
    "Made a little game with the OpenAI API this weekend",
    "{model} just explained monads to me better than any tutorial",
    "Does anyone use custom instructions? Share yours",
    "The new voice mode is wild",
    "Tips for structured outputs with the API?",
    "ChatGPT helped me debug a 500 error in my Flask app",
    "Comparing {model} and Claude for code review",
    "What do you use ChatGPT for at work?",
    "Fine-tuning vs RAG for a support bot?",
    "Launch day! {model} is finally here, so excited",
    "Prompt: 'act as a senior SRE and review this runbook'",
    "How are people handling token limits in long chats?",
    "The memory feature keeps surprising me",
    "Pricing question about the batch API",
]
COMPLAINTS = {
    "down": [
        "Is ChatGPT down?",
        "is chatgpt down for anyone else??",
        "ChatGPT not loading at all",
        "chatgpt down again, blank page",
        "Is it down for everyone or just me?",
        "ChatGPT stopped responding mid-answer, site won't load",
        "OpenAI outage? Nothing works",
    ],
    "errors": [
        "Anyone else getting 'network error' on chatgpt?",
        "'Something went wrong' on every message",
        "Error in body stream, again",
        "ChatGPT keeps erroring out on every prompt",
        "Hmm...something seems to have gone wrong. Every. Single. Time.",
        "getting an error on every chat, tried 3 browsers",
    ],
    "api": [
        "API returning 502s",
        "Getting 503 Service Unavailable from the completions endpoint",
        "Our requests to {model} are timing out since a few minutes",
        "openai api 500 internal server error on every call",
        "Bad gateway from api.openai.com, anyone?",
    ],
    "capacity": [
        "ChatGPT is at capacity again",
        "Too many requests?? I sent one message",
        "'ChatGPT is at capacity right now' ugh",
    ],
    "login": [
        "Can't log in to ChatGPT",
        "Login is broken, stuck on the auth page",
        "chatgpt keeps logging me out",
        "Unable to sign in to the API platform",
    ],
    "slow": [
        "ChatGPT is so slow today",
        "Responses taking forever right now",
        "{model} painfully slow, one word per second",
    ],
}
VAGUE = [
    "chatgpt?? hello??",
    "uh oh openai",
    "welp, there goes my afternoon",
    "F5 F5 F5",
    "me refreshing chatgpt every 10 seconds",
]
VAGUE_SHARE = 0.15  # complaints the rules cannot recognise ("hello??")
MODELS = ["GPT-4", "GPT-4o", "GPT-4 Turbo", "ChatGPT Plus", "GPT-3.5"]
LAUNCH = [
    "Launch day! {model} is finally here, so excited",
    "Just tried {model}, this is incredible",
    "{model} is out!!! Who else is staying up to play with it?",
    "The {model} launch stream was amazing",
    "First impressions of {model}: wow",
]
FLOOD = "ChatGPT keeps erroring out on every prompt"

# The demo's Claude sources: how much each posts at the busiest hour of a weekday.
CLAUDE_SOURCE_RATES = {
    "reddit-claudeai": 20.0,
    "reddit-anthropic": 4.0,
    "hackernews-claude": 4.0,
    "mastodon-claude": 2.0,
    "bluesky-claude": 5.0,
}
# The same posts about another service: what to write instead, in this order
# (the competitor a ChatGPT post names becomes ChatGPT, by way of a mark).
WORDING = {
    "claude": [
        ("Claude", "\0"),
        ("api.openai.com", "api.anthropic.com"),
        ("completions endpoint", "messages endpoint"),
        ("API platform", "Anthropic Console"),
        ("GPT-4 Turbo", "Claude 3 Opus"),
        ("GPT-4o", "Claude 3.5 Sonnet"),
        ("GPT-4", "Claude 3 Opus"),
        ("GPT-3.5", "Claude 3 Haiku"),
        ("ChatGPT Plus", "Claude Pro"),
        ("ChatGPT", "Claude"),
        ("chatgpt", "claude"),
        ("OpenAI", "Anthropic"),
        ("openai", "anthropic"),
        ("at capacity", "overloaded"),
        ("\0", "ChatGPT"),
    ]
}


def reworded(text: str, service: str) -> str:
    """A simulated post's words as they would be about ``service``.

    >>> reworded("Is ChatGPT down? Claude works", "claude")
    'Is Claude down? ChatGPT works'
    >>> reworded("Is ChatGPT down?", "chatgpt")
    'Is ChatGPT down?'
    """
    for old, new in WORDING.get(service, ()):
        text = text.replace(old, new)
    return text


def describe(name: str) -> str:
    """A scenario in one line, as ``earshot simulate --list`` prints it.

    >>> describe("api-forum")
    'api-forum      9 days: outage (abrupt, size 0.06)'
    """
    spec = SCENARIOS[name]
    kinds = ", ".join(
        event["type"]
        + (f" ({event.get('shape', 'abrupt')}, size {event['size']:.3g})" if event["type"] == "outage" else "")
        for event in spec["events"]
    )
    return f"{name:<14} {spec['days']} days: {kinds}"
