"""Which posts report a problem: a learned classifier, with rules as fallback and features.

A post is a complaint when it describes the service failing *now* ("is
chatgpt down?", "API returning 502s", "at capacity again"); a post that merely
mentions the service, talks about a past outage, or about another service's
outage, is not. Each complaint gets a problem type from :data:`PROBLEM_TYPES`.

Both filters here answer in the same three ways:

- ``predict(texts)``: one label per text, ``"none"`` or a problem type
  (scikit-learn's convention, so ``cross_val_predict`` and ``clone`` work);
- ``verdicts(texts)``: a DataFrame with ``complaint`` (bool), ``probability``
  and ``problem`` (None when not a complaint), one row per text;
- ``classify(text)``: the same for one text, as a dict.

Each answers for one service: texts are read through a
:class:`~detector.services.ServiceView` (``verdicts(texts, view)``; default:
ChatGPT's), which writes the service's names as ``svcname`` and other
services' as ``othersvc``, so the rules and the model judge what is said
about *that* service.

The rules need no training:

>>> RuleComplaintFilter().classify("anyone else getting 'network error' on chatgpt?")
{'complaint': True, 'probability': 1.0, 'problem': 'errors'}
>>> RuleComplaintFilter().classify("ChatGPT wrote my error handler")
{'complaint': False, 'probability': 0.0, 'problem': None}

The classifier learns from labelled posts (earshot trains it from
``data/labels``; see :mod:`earshot.classifier`):

>>> texts = ["is chatgpt down?", "chatgpt down for anyone else?", "API returning 502s",
...          "getting 500s from the API", "ChatGPT wrote my poem", "I love ChatGPT"]
>>> labels = ["down", "down", "api", "api", "none", "none"]
>>> model = ComplaintClassifier().fit(texts, labels)
>>> model.predict(["is chatgpt down right now?"]).tolist()
['down']
>>> model.classes_.tolist()
['api', 'down', 'none']
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.pipeline import FeatureUnion, make_pipeline

from .ngrams import CharNgramCounts, WordNgramCounts
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
        already read through a :class:`~detector.services.ServiceView`."""
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


class RuleFeatures(TransformerMixin, BaseEstimator):
    """The rules as features: one column per problem pattern, one for talk
    about a past outage and one per cue of :data:`CUE_PATTERNS`, each
    ``weight`` where it matches and 0 elsewhere.

    >>> features = RuleFeatures()
    >>> matrix = features.fit_transform(DEFAULT_VIEW.mask(["chatgpt is down", "claude is not loading"])).toarray()
    >>> [name for name, on in zip(features.get_feature_names_out(), matrix[1]) if on]
    ['rule_down', 'rule_other_service']
    """

    def __init__(self, weight: float = 1.0):
        self.weight = weight

    def fit(self, texts, y=None):
        return self

    def transform(self, texts) -> sp.csr_matrix:
        hits = np.array([_RULES.hits(text) for text in texts], dtype=bool).reshape(len(texts), len(_RULES.names))
        return sp.csr_matrix(hits * float(self.weight))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array([f"rule_{name}" for name in _RULES.names], dtype=object)


class ComplaintClassifier(ComplaintFilter, ClassifierMixin, BaseEstimator):
    """TF-IDF word and character n-grams, plus the rules, into one logistic
    regression over ``"none"`` and the six problem types.

    A post is a complaint when the probability of every problem type together
    (one minus that of ``"none"``) reaches ``threshold``; its problem is the
    likeliest type.

    Parameters
    ----------
    C : inverse regularisation strength of the logistic regression.
    word_ngrams, char_ngrams : n-gram ranges of the word and character (within
        word boundaries) TF-IDF features.
    min_df : ignore n-grams seen in fewer labelled posts than this.
    rule_weight : value of a matching rule's feature (0 turns the rules off).
    threshold : complaint probability from which a post counts as a complaint.
    max_chars : only the first this many characters of a post are read; a
        complaint says what is wrong early, and long posts would cost time.
    class_weight : passed to the logistic regression.
    """

    def __init__(
        self,
        C: float = 160.0,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (1, 4),
        min_df: int = 1,
        rule_weight: float = 1.0,
        threshold: float = 0.5,
        max_chars: int = 600,
        class_weight: str | None = "balanced",
    ):
        self.C = C
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.rule_weight = rule_weight
        self.threshold = threshold
        self.max_chars = max_chars
        self.class_weight = class_weight

    def _read(self, texts, view: ServiceView | None = None) -> list[str]:
        return (view or DEFAULT_VIEW).mask((t or "")[: self.max_chars] for t in texts)

    def fit(self, texts, labels):
        """Learn from ``texts`` and their ``labels`` (``"none"`` or a problem
        type), read as reports about ChatGPT; texts already read through
        another service's view (see :mod:`earshot.classifier`) are left as they are."""
        labels = np.asarray(labels, dtype=object)
        unknown = set(labels) - set(LABELS)
        if unknown:
            raise ValueError(f"unknown labels {sorted(unknown)}; expected some of {list(LABELS)}")
        features = FeatureUnion(
            [
                (
                    "words",
                    make_pipeline(
                        WordNgramCounts(tuple(self.word_ngrams), self.min_df), TfidfTransformer(sublinear_tf=True)
                    ),
                ),
                (
                    "chars",
                    make_pipeline(
                        CharNgramCounts(tuple(self.char_ngrams), self.min_df), TfidfTransformer(sublinear_tf=True)
                    ),
                ),
                ("rules", RuleFeatures(weight=self.rule_weight)),
            ]
        )
        self.pipeline_ = make_pipeline(
            features, LogisticRegression(C=self.C, max_iter=2000, class_weight=self.class_weight)
        )
        self.pipeline_.fit(self._read(texts), labels)
        self.classes_ = self.pipeline_.classes_
        return self

    def predict_proba(self, texts, view: ServiceView | None = None) -> np.ndarray:
        """Probability of each of ``classes_``, one row per text."""
        return self.pipeline_.predict_proba(self._read(texts, view))

    def verdicts(self, texts, view: ServiceView | None = None) -> pd.DataFrame:
        """One row per text, read as a report about ``view``'s service
        (default: ChatGPT): ``complaint``, ``probability``, ``problem``."""
        texts = list(texts)
        if not texts:
            return _verdict_frame([], [], [])
        proba = self.predict_proba(texts, view)
        classes = self.classes_
        is_problem = classes != NOT_A_COMPLAINT
        probability = proba[:, is_problem].sum(axis=1)
        complaint = probability >= self.threshold
        likeliest = classes[is_problem][proba[:, is_problem].argmax(axis=1)]
        return _verdict_frame(complaint, probability, np.where(complaint, likeliest, None))

    def predict(self, texts, view: ServiceView | None = None) -> np.ndarray:
        """One label per text: ``"none"`` or a problem type."""
        verdicts = self.verdicts(texts, view)
        return verdicts["problem"].where(verdicts["complaint"], NOT_A_COMPLAINT).to_numpy(dtype=object)


def complaint_scores(labels, predicted) -> dict:
    """How well ``predicted`` labels match the true ``labels``: precision,
    recall and F1 of complaint vs not, and the accuracy of the problem type
    on the complaints both agree are complaints.

    >>> complaint_scores(["down", "api", "none", "none"], ["down", "errors", "down", "none"])
    {'precision': 0.6667, 'recall': 1.0, 'f1': 0.8, 'problem_accuracy': 0.5, 'posts': 4}
    """
    labels = np.asarray(labels, dtype=object)
    predicted = np.asarray(predicted, dtype=object)
    actual, said = labels != NOT_A_COMPLAINT, predicted != NOT_A_COMPLAINT
    precision, recall, f1, _ = precision_recall_fscore_support(actual, said, average="binary", zero_division=0.0)
    both = actual & said
    accuracy = accuracy_score(labels[both], predicted[both]) if both.any() else 0.0
    return {
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "f1": round(float(f1), 4),
        "problem_accuracy": round(float(accuracy), 4),
        "posts": len(labels),
    }
