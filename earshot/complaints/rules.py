"""Which posts report a problem, by rule: the patterns, and what every filter shares.

A post is a complaint when it describes the service failing *now* ("is
chatgpt down?", "API returning 502s", "at capacity again"); a post that merely
mentions the service, talks about a past outage, or about another service's
outage, is not. Each complaint gets a problem type from :data:`PROBLEM_TYPES`.

Every filter (these rules, :class:`~earshot.complaints.model.ComplaintClassifier`
and its numpy twin :class:`~earshot.complaints.scorer.ComplaintScorer`) answers in the
same three ways:

- ``predict(texts)``: one label per text, ``"none"`` or a problem type
  (scikit-learn's convention, so ``cross_val_predict`` and ``clone`` work);
- ``verdicts(texts)``: a DataFrame with ``complaint`` (bool), ``probability``
  and ``problem`` (None when not a complaint), one row per text;
- ``classify(text)``: the same for one text, as a dict.

Each answers for one service: texts are read through a
:class:`~earshot.complaints.services.ServiceView` (``verdicts(texts, view)``; default:
ChatGPT's), which writes the service's names as ``svcname`` and other
services' as ``othersvc``, so the rules and the model judge what is said
about *that* service.

The rules need no training (nor scikit-learn):

>>> RuleComplaintFilter().classify("anyone else getting 'network error' on chatgpt?")
{'complaint': True, 'probability': 1.0, 'problem': 'errors'}
>>> RuleComplaintFilter().classify("ChatGPT wrote my error handler")
{'complaint': False, 'probability': 0.0, 'problem': None}
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .patterns import PatternSet
from .services import ServiceView

PROBLEM_TYPES = ("down", "errors", "capacity", "api", "login", "slow")
NOT_A_COMPLAINT = "none"
LABELS = (NOT_A_COMPLAINT, *PROBLEM_TYPES)
VERDICT_COLUMNS = ["complaint", "probability", "problem"]
# Posts are judged as reports about this service unless a view says otherwise.
DEFAULT_VIEW = ServiceView.for_service("chatgpt")

# Checked in order; the first problem type whose pattern matches wins, so the
# more specific types come before the catch-all "down". A few phrases in
# Spanish, German, French, Portuguese and Japanese keep the fallback useful
# beyond English.
PROBLEM_PATTERNS: dict[str, str] = {
    "login": r"\b(can'?t|cannot|unable to|won'?t let me|not able to) (log ?in|sign ?in)\b"
    r"|\blog ?in (is )?(broken|failing|fails|error|loop)\b|\bkeeps? logging me out\b|\blogged out (again|randomly)\b"
    r"|no puedo iniciar sesi[oó]n|kann mich nicht .{0,20}einloggen|impossible de me connecter"
    r"|n[aã]o consigo (fazer )?login|ログインできない",
    "capacity": r"\bat capacity\b|\btoo many requests\b|\brate ?limit(ed)? (again|for no reason)\b|\boverloaded\b"
    r"|capacidad m[aá]xima|ausgelastet|pleine capacit[eé]|混雑",
    "api": r"\b(api|endpoint|requests?|completions?|calls?)\b.{0,40}(\b50[0234]s?\b|\b429s?\b|timing out|time-?outs?\b|timed out)"
    r"|\b(returning|throwing|getting|got) (http )?50[0234]s?\b|\b(bad gateway|service unavailable|gateway time-?out)\b",
    "errors": r"\bnetwork error\b|\bsomething went wrong\b|\berror in (the )?(message|body) stream\b"
    r"|\ban error occurred\b|\berror generating\b|\bconversation not found\b|\bkeeps? (erroring|giving errors?)\b"
    r"|\bgetting (an? |this )?errors?\b|\bhmm\.\.\.something seems to have gone wrong\b"
    r"|error de red|algo sali[oó] mal|netzwerkfehler|schiefgelaufen|erreur r[eé]seau|erro de rede|algo deu errado"
    r"|ネットワークエラー|問題が発生",
    "slow": r"\b(so|super|very|extremely|painfully|really) slow\b|\btaking forever\b|\bslow as\b|\bhuge latency\b"
    r"|muy lento|lent[ií]simo|extrem langsam|super lent|muito lento|遅い|重い",
    "down": r"\bis (svcname|the api|it) down\b|\b(svcname|api|it'?s|site)( is| seems)? down\b"
    r"|\bdown for (anyone|everyone|me)\b|\b(outage|not loading|won'?t load|doesn'?t load|unavailable)\b"
    r"|\b(not|stopped) (working|responding)\b|\bdead (again|for me)\b|\bblank (page|screen)\b"
    r"|se cay[oó]|ca[ií]do|no carga|no funciona|fora do ar|\bcaiu\b|n[aã]o carrega|en panne|ne marche plus"
    r"|funktioniert (gerade )?nicht|ausgefallen|st[oö]rung|落ちて|繋がらない|障害",
}

# Talk about an outage that is over, or that is elsewhere, is not a report.
PAST_PATTERN = r"\b(last (week|month|year|night)'?s?|yesterday'?s?|post-?mortem|remember when|back when|was down (yesterday|last))\b"

# Cues that a post is *not* a report, used only as features: the classifier
# learns how much each one counts against the problem words beside it.
CUE_PATTERNS: dict[str, str] = {
    # Edges of ASCII letters, not \b: a name may touch Japanese ("slackが落ちてる").
    "other_service": r"(?<![a-z0-9_])(othersvc|slack|discord|github|aws|azure|cloudflare|fastly|heroku|netflix"
    r"|whatsapp|instagram|twitter|reddit|bluesky|mastodon|my instance|teams|microsoft 365|telekom|orange|isp|wi-?fi"
    r"|wlan|router|line)(?![a-z0-9_])",
    "recovered": r"\b(back up|back to normal|working again|works again|it'?s back|came back|is back|fixed|resolved"
    r"|recover(ed|ing)|all good|crisis averted|nevermind|never mind)\b|funciona otra vez|volvi[oó]|wieder|remarche"
    r"|revenu|voltou|復旧|直った",
    "howto": r"\b(how (do|can|to|should)|tutorial|guide|best practices?|explained|explain|write (me )?an?|tips?"
    r"|question about|what does|feature request|show hn|ask hn|tell hn|announc\w*)\b|c[oó]mo |wie |comment |como |方法",
    "fine_here": r"\b(works (fine )?for me|fine (for me|here)|no (problems|issues) (here|on my end)|not down for me"
    r"|working (fine|normal)|works on my machine)\b|me funciona bien|funktioniert alles|marche très bien"
    r"|funcionando normal|普通に使え",
}

# Patterns are lower case and matched against lowered text: several times
# faster than re.IGNORECASE, which matters at ten thousand posts a second.
# All are searched together, each only where one of its literal words occurs.
_RULES = PatternSet({**PROBLEM_PATTERNS, "past": PAST_PATTERN, **CUE_PATTERNS})
_PAST = _RULES.names.index("past")
RULE_NAMES = _RULES.names


def _verdict_frame(complaint, probability, problem) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "complaint": np.asarray(complaint, dtype=bool),
            "probability": np.asarray(probability, dtype=float),
            "problem": pd.Series(problem, dtype=object),
        },
        columns=VERDICT_COLUMNS,
    )


def verdict_records(verdicts: pd.DataFrame) -> list[dict]:
    """The rows of a ``verdicts`` frame as plain dicts, probabilities to 4 places.

    >>> verdict_records(RuleComplaintFilter().verdicts(["is chatgpt down?"]))
    [{'complaint': True, 'probability': 1.0, 'problem': 'down'}]
    """
    return [
        {"complaint": bool(complaint), "probability": round(float(probability), 4), "problem": problem}
        for complaint, probability, problem in verdicts[VERDICT_COLUMNS].itertuples(index=False)
    ]


class ComplaintFilter:
    """What every filter shares: ``classify`` one text through ``verdicts``."""

    def classify(self, text: str, view: ServiceView | None = None) -> dict:
        """Classify one post: ``{'complaint', 'probability', 'problem'}``."""
        return verdict_records(self.verdicts([text], view))[0]


class RuleComplaintFilter(ComplaintFilter):
    """Regular-expression complaint filter; probabilities are 0 or 1."""

    def label(self, text: str) -> str:
        """``"none"`` or the first problem type whose pattern matches a text
        already read through a :class:`~earshot.complaints.services.ServiceView`."""
        hits = _RULES.hits(text)
        if not hits[_PAST]:
            for problem, hit in zip(PROBLEM_PATTERNS, hits, strict=False):
                if hit:
                    return problem
        return NOT_A_COMPLAINT

    def predict(self, texts: Iterable[str], view: ServiceView | None = None) -> np.ndarray:
        """One label per text, read as a report about ``view``'s service
        (default: ChatGPT): ``"none"`` or a problem type."""
        return np.array([self.label(t) for t in (view or DEFAULT_VIEW).mask(texts)], dtype=object)

    def verdicts(self, texts: Iterable[str], view: ServiceView | None = None) -> pd.DataFrame:
        """One row per text: ``complaint``, ``probability``, ``problem``."""
        labels = self.predict(texts, view)
        complaint = labels != NOT_A_COMPLAINT
        return _verdict_frame(complaint, complaint.astype(float), np.where(complaint, labels, None))


def rule_hits(texts: list[str]) -> np.ndarray:
    """Which rules of :data:`RULE_NAMES` match each text (read through a view),
    one row of booleans per text."""
    return np.array([_RULES.hits(text) for text in texts], dtype=bool).reshape(len(texts), len(_RULES.names))
