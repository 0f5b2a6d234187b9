"""Build the offline demo database: real official timelines, simulated posts.

The official side is real: every OpenAI incident from the bundled timelines.
The public side is simulated, because no machine here can fetch years of
posts: background chatter with a daily and weekly rhythm on five sources,
and bursts of complaints starting at each chosen incident's real onset (for
example 05:42 PT on 2023-11-08, from OpenAI's own postmortem). The same
collector code path then classifies and stores the posts, and the database
is marked as a demo so the dashboard can say the posts are simulated.

>>> scenarios = load_scenarios()
>>> scenarios[0]["onset"]
Timestamp('2023-11-08 13:42:00+0000', tz='UTC')
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from collectors.collect import classify_posts
from collectors.timelines import DATA_DIR, read_official_timelines
from detector.simulate import PEAK_POSTS_PER_HOUR

from .analysis import detect
from .config import Config, load_config
from .store import (
    open_db,
    replace_alerts,
    set_meta,
    store_incident_updates,
    store_posts,
)

SCENARIOS = DATA_DIR / "demo" / "incidents.toml"
DAYS_BEFORE, DAYS_AFTER = 3, 1
SEED = 20231108

BACKGROUND_COMPLAINT_SHARE = 0.03  # someone, somewhere, always has a broken session
# Complaints per minute, over all sources, at the height of an incident of size 1.
PEAK_COMPLAINTS_PER_MINUTE = 12.0
RAMP_MINUTES, DECAY_MINUTES = 4.0, 12.0
VAGUE_SHARE = 0.15  # complaints the rules cannot recognise ("hello??")

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
MODELS = ["GPT-4", "GPT-4o", "GPT-4 Turbo", "ChatGPT Plus", "GPT-3.5"]


def load_scenarios(path: Path = SCENARIOS) -> list[dict]:
    """The incidents the demo simulates, with tz-aware ``onset`` and ``recovered``."""
    scenarios = tomllib.loads(Path(path).read_text(encoding="utf-8"))["incidents"]
    for scenario in scenarios:
        scenario["onset"] = pd.Timestamp(scenario["onset"])
        scenario["recovered"] = pd.Timestamp(scenario["recovered"])
    return scenarios


def build_demo(path: str | Path, config: Config | None = None, seed: int = SEED) -> dict:
    """Create the demo database at ``path``, with its alert episodes detected;
    return how much it holds."""
    config = config or load_config()
    db = open_db(path)
    rng = np.random.default_rng(seed)
    new_updates, _ = store_incident_updates(db, read_official_timelines(providers=["openai"]))
    scenarios = load_scenarios()
    posts = 0
    for number, scenario in enumerate(scenarios):
        simulated = simulate_posts(scenario, rng, prefix=f"demo{number}")
        for source_name, rows in simulated.items():
            source = config.source(source_name)
            new, _ = store_posts(db, classify_posts(config, source, rows))
            posts += new
    set_meta(db, "demo", True)
    set_meta(
        db,
        "demo_windows",
        [
            [str(s["onset"] - pd.Timedelta(days=DAYS_BEFORE)), str(s["onset"] + pd.Timedelta(days=DAYS_AFTER))]
            for s in scenarios
        ],
    )
    for service in config.services:
        replace_alerts(db, service.name, detect(db, config, service.name)[1])
    db.close()
    return {"posts": posts, "official_updates": new_updates, "incidents": len(scenarios)}


def simulate_posts(scenario: dict, rng: np.random.Generator, prefix: str) -> dict[str, list[dict]]:
    """Simulated posts per source for the days around one incident."""
    start = scenario["onset"].floor("D") - pd.Timedelta(days=DAYS_BEFORE)
    minutes = pd.date_range(start, periods=(DAYS_BEFORE + DAYS_AFTER) * 24 * 60, freq="1min", tz="UTC")
    rhythm = _rhythm(minutes)
    burst = _burst(minutes, scenario) * PEAK_COMPLAINTS_PER_MINUTE * scenario["size"]
    problems = list(scenario["problems"])
    problem_weights = np.array([scenario["problems"][p] for p in problems], dtype=float)
    problem_weights /= problem_weights.sum()
    by_source = {}
    for source, peak in PEAK_POSTS_PER_HOUR.items():
        chatter_rate = peak / 60.0 * rhythm
        complaint_rate = burst * scenario["sources"].get(source, 0.0) + chatter_rate * BACKGROUND_COMPLAINT_SHARE
        rows = []
        for kind, rate in (("chatter", chatter_rate), ("complaint", complaint_rate)):
            n = rng.poisson(rate)
            stamps = np.repeat(minutes.as_unit("s").asi8, n) + rng.integers(0, 60, n.sum())
            for stamp in stamps:
                if kind == "chatter":
                    text = rng.choice(CHATTER)
                elif rng.random() < VAGUE_SHARE:
                    text = rng.choice(VAGUE)
                else:
                    text = rng.choice(COMPLAINTS[rng.choice(problems, p=problem_weights)])
                rows.append(
                    {
                        "source": source,
                        "post_id": f"{prefix}-{kind}-{stamp}",
                        "url": None,
                        "author": f"user{rng.integers(0, 4000)}",
                        "created_at": int(stamp),
                        "title": None,
                        "text": text.format(model=rng.choice(MODELS)),
                    }
                )
        by_source[source] = rows
    return by_source


def _rhythm(minutes: pd.DatetimeIndex) -> np.ndarray:
    """Share of the peak activity: busiest at 17:00 UTC (US morning), quietest at 05:00;
    weekends at 80%."""
    hours = minutes.hour + minutes.minute / 60.0
    daily = 0.3 + 0.7 * (1 + np.cos(2 * math.pi * (hours - 17) / 24)) / 2
    weekly = np.where(minutes.day_of_week >= 5, 0.8, 1.0)
    return np.asarray(daily * weekly)


def _burst(minutes: pd.DatetimeIndex, scenario: dict) -> np.ndarray:
    """0 before the onset, ramping to 1 within a few minutes, holding until recovery,
    then fading as people notice it works again."""
    since_onset = np.asarray((minutes - scenario["onset"]).total_seconds() / 60.0)
    since_recovery = np.asarray((minutes - scenario["recovered"]).total_seconds() / 60.0)
    ramp = np.clip((since_onset + 1) / RAMP_MINUTES, 0, 1)
    fade = np.where(since_recovery > 0, np.exp(-since_recovery / DECAY_MINUTES), 1.0)
    return np.where(since_onset >= 0, ramp * fade, 0.0)
