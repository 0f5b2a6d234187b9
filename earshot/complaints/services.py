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
>>> claude.mask(["Is Claude down? ChatGPT works", "getting overloaded_error again", "Claude will return soon"])
['is svcname down? othersvc works', 'getting overloaded_error svcerror again', 'svcname will return soon svcerror']
>>> ServiceView.for_service("chatgpt").mask(["Is Claude down? ChatGPT works"])
['is othersvc down? svcname works']
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick

SELF, OTHER, ERROR = "svcname", "othersvc", "svcerror"


class Known(NamedTuple):
    """How people name a service, and the error strings it shows its users."""

    names: tuple[str, ...]
    errors: tuple[str, ...] = ()


# The services earshot knows of. A configured service adds its own terms,
# phrases and errors.
KNOWN: dict[str, Known] = {
    "chatgpt": Known(
        (
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
        ("something went wrong", "network error", "error in message stream", "conversation not found"),
    ),
    "claude": Known(
        ("claude", "claude.ai", "claude code", "anthropic", "sonnet", "opus", "haiku"),
        ("overloaded_error", "claude will return soon", "unexpected capacity constraints", "529"),
    ),
    "gemini": Known(("gemini", "bard", "google ai studio", "ai studio"), ("resource exhausted", "resource_exhausted")),
    "copilot": Known(("github copilot", "copilot", "copilot chat")),
    "perplexity": Known(("perplexity", "perplexity.ai")),
    "characterai": Known(("character.ai", "character ai", "characterai", "c.ai"), ("waiting room",)),
    "mistral": Known(("mistral", "le chat")),
    "grok": Known(("grok", "xai")),
    "deepseek": Known(("deepseek",)),
    "midjourney": Known(("midjourney",)),
    "llama": Known(("llama", "meta ai")),
    "cohere": Known(("cohere",)),
    "groq": Known(("groq",)),
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
        known = KNOWN.get(name, Known(()))
        own = _lowered([name, *known.names, *names])
        everyone = [term for service, other in KNOWN.items() if service != name for term in other.names]
        rest = tuple(t for t in _lowered([*everyone, *others]) if t not in own)
        return cls(own, _lowered([*known.errors, *errors]), rest)

    def mask(self, texts: Iterable[str]) -> list[str]:
        """``texts`` lowered, this service's error strings followed by
        ``svcerror``, its names written ``svcname``, the others' ``othersvc``."""
        finder = self._finder
        out = []
        for text in texts:
            text = (text or "").lower()
            if finder is not None:
                found = self._occurrences(text)
                if any(term in self._error_set for _, _, term in found):
                    # Errors first, so "claude will return soon" is still whole.
                    text = _mark_errors(text, [(s, t) for s, _, t in found if t in self._error_set])
                    found = self._occurrences(text)
                text = _rewrite_names(text, found, self._own_set, self._name_set)
            out.append(text)
        return out

    def _occurrences(self, text: str) -> list[tuple[int, int, str]]:
        """Every known term in ``text`` as (start, -length, term), leftmost
        then longest first, at word edges only."""
        found = []
        for end, term in self._finder.iter(text):
            start = end - len(term) + 1
            if (start == 0 or text[start - 1] not in _WORD) and (end + 1 == len(text) or text[end + 1] not in _WORD):
                found.append((start, -len(term), term))
        found.sort()
        return found

    @functools.cached_property
    def _finder(self) -> ahocorasick.Automaton | None:
        # One Aho-Corasick pass finds every name and error string in a post;
        # a regular expression of them all would try each at every character.
        terms = {*self.names, *self.others, *self.errors}
        if not terms:
            return None
        finder = ahocorasick.Automaton()
        for term in terms:
            finder.add_word(term, term)
        finder.make_automaton()
        return finder

    @functools.cached_property
    def _own_set(self) -> frozenset[str]:
        return frozenset(self.names)

    @functools.cached_property
    def _name_set(self) -> frozenset[str]:
        return frozenset((*self.names, *self.others))

    @functools.cached_property
    def _error_set(self) -> frozenset[str]:
        return frozenset(self.errors)


# Not inside a word or a longer name ("gpt" in "chatgpt", "opus" in
# "octopus"); letters of other scripts may touch a name ("claude落ちてる").
_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def _rewrite_names(text: str, found: list[tuple[int, int, str]], own: frozenset[str], names: frozenset[str]) -> str:
    # Left to right, the longest name at each place, as a regular expression's
    # alternation of longest-first names would take them.
    pieces, done = [], 0
    for start, length, term in found:
        if start >= done and term in names:
            pieces += [text[done:start], SELF if term in own else OTHER]
            done = start - length
    return "".join(pieces) + text[done:] if pieces else text


def _mark_errors(text: str, found: list[tuple[int, str]]) -> str:
    pieces, done = [], 0
    for start, term in found:
        end = start + len(term)
        # Never marked twice: reading a post already read is a no-op.
        if start >= done and not text.startswith(f" {ERROR}", end):
            pieces += [text[done:end], f" {ERROR}"]
            done = end
    return "".join(pieces) + text[done:]


def _lowered(terms: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip().lower() for t in terms if t and t.strip()))
