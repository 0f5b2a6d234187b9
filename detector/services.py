"""Posts read as reports about one service: its names masked to a placeholder.

A complaint looks the same whichever service it is about ("is X down?",
"X keeps saying something went wrong"), so the classifier reads posts with
the service it judges for written ``svcname`` and every other service it
knows of written ``othersvc``. A model that learned mostly from ChatGPT posts
then hears "is claude down?" as a complaint when it judges for Claude, and as
someone else's outage when it judges for ChatGPT. A service's own error
strings (Anthropic's ``overloaded_error``) are kept and followed by
``svcerror``, so they count as that service failing.

>>> claude = ServiceView.for_service("claude")
>>> claude.mask(["Is Claude down? ChatGPT works", "getting overloaded_error again"])
['is svcname down? othersvc works', 'getting overloaded_error svcerror again']
>>> ServiceView.for_service("chatgpt").mask(["Is Claude down? ChatGPT works"])
['is othersvc down? svcname works']
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

SELF, OTHER, ERROR = "svcname", "othersvc", "svcerror"

# How people name the services earshot knows of, and the error strings each
# shows its users. A configured service adds its own terms and phrases.
KNOWN_SERVICES: dict[str, tuple[str, ...]] = {
    "chatgpt": (
        "chatgpt",
        "chat gpt",
        "openai",
        "open ai",
        "gpt-4o",
        "gpt-4",
        "gpt-5",
        "gpt-4.1",
        "gpt",
        "dall-e",
        "sora",
        "codex",
    ),
    "claude": ("claude", "claude.ai", "claude code", "anthropic", "sonnet", "opus", "haiku"),
    "gemini": ("gemini", "bard", "google ai studio", "ai studio"),
    "copilot": ("github copilot", "copilot", "copilot chat"),
    "perplexity": ("perplexity", "perplexity.ai"),
    "characterai": ("character.ai", "character ai", "characterai", "c.ai"),
    "mistral": ("mistral", "le chat"),
    "grok": ("grok", "xai"),
    "deepseek": ("deepseek",),
    "midjourney": ("midjourney",),
    "llama": ("llama", "meta ai"),
    "cohere": ("cohere",),
    "groq": ("groq",),
}
KNOWN_ERRORS: dict[str, tuple[str, ...]] = {
    "chatgpt": ("something went wrong", "network error", "error in message stream", "conversation not found"),
    "claude": ("overloaded_error", "claude will return soon", "unexpected capacity constraints", "529"),
    "gemini": ("resource exhausted", "resource_exhausted"),
    "characterai": ("waiting room",),
}


@dataclass(frozen=True)
class ServiceView:
    """How to read posts as reports about one service.

    ``names``: how people name it; ``errors``: the error strings it shows;
    ``others``: names of every other service (someone else's outage).
    Hosting and chat services (AWS, Cloudflare, Slack) keep their names: "a
    Cloudflare error page from the API" is this service failing.
    """

    names: tuple[str, ...]
    errors: tuple[str, ...] = ()
    others: tuple[str, ...] = ()

    @classmethod
    def for_service(cls, name: str, names: Iterable[str] = (), errors: Iterable[str] = (), others: Iterable[str] = ()):
        """The view of service ``name``: its known names and errors (if earshot
        knows it) plus ``names`` and ``errors``; every other known service, and
        ``others``, as someone else.

        >>> ServiceView.for_service("my-llm", names=["acme ai"]).mask(["Acme AI is down, Claude is fine"])
        ['svcname is down, othersvc is fine']
        """
        own = _lowered([name, *KNOWN_SERVICES.get(name, ()), *names])
        everyone = [term for service, terms in KNOWN_SERVICES.items() if service != name for term in terms]
        rest = tuple(t for t in _lowered([*everyone, *others]) if t not in own)
        return cls(own, _lowered([*KNOWN_ERRORS.get(name, ()), *errors]), rest)

    def mask(self, texts: Iterable[str]) -> list[str]:
        """``texts`` lowered, this service's names as ``svcname``, the others' as
        ``othersvc``, its error strings followed by ``svcerror``."""
        own, others, errors = self.names, self.others, self.errors
        out = []
        for text in texts:
            text = (text or "").lower()
            # A regular expression of every name tries each at every character;
            # substring tests are far cheaper, and most posts name one or two.
            mine = tuple(t for t in own if t in text)
            theirs = tuple(t for t in others if t in text)
            if mine or theirs:
                text = _names(mine, theirs).sub(_name, text)
            said = tuple(t for t in errors if t in text)
            if said:
                text = _errors(said).sub(_error, text)
            out.append(text)
        return out


def _lowered(terms: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip().lower() for t in terms if t and t.strip()))


def _alternation(terms: tuple[str, ...]) -> str:
    # Longest first, so "claude code" is one name, not "claude" and a word.
    return "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))


# Not inside a word or a longer name ("gpt" in "chatgpt", "opus" in
# "octopus"); letters of other scripts may touch a name ("claude落ちてる").
EDGE_BEFORE, EDGE_AFTER = r"(?<![a-z0-9_-])", r"(?![a-z0-9_-])"


@functools.lru_cache(maxsize=4096)
def _names(own: tuple[str, ...], others: tuple[str, ...]) -> re.Pattern:
    """One pattern for the names found in a post (a group tells whose)."""
    parts = [f"(?P<own>{_alternation(own)})"] if own else []
    if others:
        parts.append(f"(?P<other>{_alternation(others)})")
    return re.compile(EDGE_BEFORE + "(?:" + "|".join(parts) + ")" + EDGE_AFTER)


@functools.lru_cache(maxsize=1024)
def _errors(errors: tuple[str, ...]) -> re.Pattern:
    # Never marked twice: reading a post already read is a no-op.
    return re.compile(EDGE_BEFORE + "(?:" + _alternation(errors) + ")" + EDGE_AFTER + f"(?! {ERROR})")


def _name(match: re.Match) -> str:
    return SELF if match.lastgroup == "own" else OTHER


def _error(match: re.Match) -> str:
    return f"{match.group(0)} {ERROR}"
