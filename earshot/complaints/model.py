"""Which posts report a problem, learned: a classifier over n-grams and the rules.

:class:`ComplaintClassifier` answers as every filter of :mod:`earshot.complaints.rules`
does (``predict``, ``verdicts``, ``classify``), for one service at a time. It
learns from labelled posts (earshot trains it from ``earshot/data/labels``; see
:mod:`earshot.complaints.trained`), and :meth:`ComplaintClassifier.scorer` hands its
learned weights to a :class:`~earshot.complaints.scorer.ComplaintScorer`, which judges
the same way with numpy alone:

>>> texts = ["is chatgpt down?", "chatgpt down for anyone else?", "API returning 502s",
...          "getting 500s from the API", "ChatGPT wrote my poem", "I love ChatGPT"]
>>> labels = ["down", "down", "api", "api", "none", "none"]
>>> model = ComplaintClassifier().fit(texts, labels)
>>> model.predict(["is chatgpt down right now?"]).tolist()
['down']
>>> model.classes_.tolist()
['api', 'down', 'none']
>>> model.scorer().predict(["is chatgpt down right now?"]).tolist()
['down']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.pipeline import FeatureUnion, make_pipeline

from .ngrams import CharNgramCounts, WordNgramCounts
from .rules import (  # noqa: F401  (the rules' names, as this module has always offered them)
    CUE_PATTERNS,
    DEFAULT_VIEW,
    LABELS,
    NOT_A_COMPLAINT,
    PAST_PATTERN,
    PROBLEM_PATTERNS,
    PROBLEM_TYPES,
    RULE_NAMES,
    ComplaintFilter,
    RuleComplaintFilter,
    _verdict_frame,
    rule_hits,
    verdict_records,
)
from .scorer import ComplaintScorer
from .services import ServiceView


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
        return sp.csr_matrix(rule_hits(list(texts)) * float(self.weight))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array([f"rule_{name}" for name in RULE_NAMES], dtype=object)


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
        another service's view (see :mod:`earshot.complaints.trained`) are left as they are."""
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

    def scorer(self) -> ComplaintScorer:
        """The fitted weights as a :class:`~earshot.complaints.scorer.ComplaintScorer`:
        the same verdicts, judged with numpy alone."""
        union, regression = self.pipeline_.steps[0][1], self.pipeline_.steps[-1][1]
        parts = dict(union.transformer_list)

        def vocabulary(kind: str, part: str) -> dict:
            counts, tfidf = (step for _, step in parts[part].steps)
            return {f"{kind}_range": counts.ngram_range, f"{kind}_keys": counts.vocabulary_, f"{kind}_idf": tfidf.idf_}

        return ComplaintScorer(
            **vocabulary("word", "words"),
            **vocabulary("char", "chars"),
            rule_weight=self.rule_weight,
            coef=regression.coef_,
            intercept=regression.intercept_,
            classes=self.classes_,
            threshold=self.threshold,
            max_chars=self.max_chars,
        )


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
