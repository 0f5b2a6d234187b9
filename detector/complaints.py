"""Complaint filter v0: rules that say whether a post reports the service failing.

A post is a complaint when it describes the service not working *now*
("is chatgpt down?", "API returning 502s", "at capacity again"); a post that
merely mentions the service, or talks about a past outage, is not.

Every filter has the same seam, ``predict(texts) -> DataFrame`` with columns
``complaint`` (bool), ``probability`` and ``problem``, so a learned
classifier can take the rules' place without touching its callers.

>>> RuleComplaintFilter().classify("anyone else getting 'network error' on chatgpt?")
{'complaint': True, 'probability': 1.0, 'problem': 'errors'}
>>> RuleComplaintFilter().classify("ChatGPT wrote my error handler")
{'complaint': False, 'probability': 0.0, 'problem': None}
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import pandas as pd

PROBLEM_TYPES = ("down", "errors", "capacity", "api", "login", "slow")

# Checked in order; the first problem type whose pattern matches wins, so the
# more specific types come before the catch-all "down".
PROBLEM_PATTERNS: dict[str, str] = {
    "login": r"\b(can'?t|cannot|unable to|won'?t let me|not able to) (log ?in|sign ?in)\b"
    r"|\blog ?in (is )?(broken|failing|fails|error|loop)\b|\bkeeps? logging me out\b|\blogged out (again|randomly)\b",
    "capacity": r"\bat capacity\b|\btoo many requests\b|\brate ?limit(ed)? (again|for no reason)\b|\boverloaded\b",
    "api": r"\b(api|endpoint|requests?|completions?|calls?)\b.{0,40}(\b50[0234]s?\b|\b429s?\b|timing out|time-?outs?\b|timed out)"
    r"|\b(returning|throwing|getting|got) (http )?50[0234]s?\b|\b(bad gateway|service unavailable|gateway time-?out)\b",
    "errors": r"\bnetwork error\b|\bsomething went wrong\b|\berror in (the )?(message|body) stream\b"
    r"|\ban error occurred\b|\berror generating\b|\bconversation not found\b|\bkeeps? (erroring|giving errors?)\b"
    r"|\bgetting (an? |this )?errors?\b|\bhmm\.\.\.something seems to have gone wrong\b",
    "slow": r"\b(so|super|very|extremely|painfully|really) slow\b|\btaking forever\b|\bslow as\b|\bhuge latency\b",
    "down": r"\bis (chat ?gpt|openai|the api|it) down\b|\b(chat ?gpt|openai|api|it'?s|site)( is| seems)? down\b"
    r"|\bdown for (anyone|everyone|me)\b|\b(outage|not loading|won'?t load|doesn'?t load|unavailable)\b"
    r"|\b(not|stopped) (working|responding)\b|\bdead (again|for me)\b|\bblank (page|screen)\b",
}

# Talk about an outage that is over, or that is elsewhere, is not a report.
NOT_A_REPORT = re.compile(
    r"\b(last (week|month|year|night)'?s?|yesterday'?s?|post-?mortem|remember when|back when|was down (yesterday|last))\b",
    re.I,
)

_COMPILED = {problem: re.compile(pattern, re.I) for problem, pattern in PROBLEM_PATTERNS.items()}


class RuleComplaintFilter:
    """Regular-expression complaint filter; probabilities are 0 or 1."""

    def classify(self, text: str) -> dict:
        """Classify one post: ``{'complaint', 'probability', 'problem'}``."""
        text = text or ""
        if not NOT_A_REPORT.search(text):
            for problem, pattern in _COMPILED.items():
                if pattern.search(text):
                    return {"complaint": True, "probability": 1.0, "problem": problem}
        return {"complaint": False, "probability": 0.0, "problem": None}

    def predict(self, texts: Iterable[str]) -> pd.DataFrame:
        """Classify many posts at once; one row per text, in order."""
        return pd.DataFrame(
            [self.classify(t) for t in texts], columns=["complaint", "probability", "problem"]
        ).astype({"complaint": bool, "probability": float})


@functools.cache
def default_complaint_filter() -> RuleComplaintFilter:
    """The filter collectors and the CLI use today (built once per process)."""
    return RuleComplaintFilter()
