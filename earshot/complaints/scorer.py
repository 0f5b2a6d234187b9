"""A fitted complaint classifier's weights, judging posts with numpy alone.

:class:`~earshot.complaints.model.ComplaintClassifier` is a scikit-learn pipeline,
and importing scikit-learn (with SciPy) costs a process about 90 MB and a
second before a single post is read. Judging a post needs none of it: count
its n-grams, weight them by TF-IDF, add the rules, and take a softmax of the
logistic regression's scores. :class:`ComplaintScorer` does exactly that from
the classifier's learned arrays, and gives the same verdicts (see
``tests/test_classifier.py``), so ``earshot collect`` runs without loading
scikit-learn once a scorer is cached (:func:`earshot.complaints.trained.default_classifier`).

>>> from earshot.complaints.model import ComplaintClassifier
>>> model = ComplaintClassifier().fit(["chatgpt is down", "is it down?", "I love chatgpt", "it wrote a poem"],
...                                   ["down", "down", "none", "none"])
>>> texts = ["chatgpt down?", "a poem by chatgpt"]
>>> model.scorer().predict(texts).tolist()
['down', 'none']
>>> bool(np.allclose(model.scorer().predict_proba(texts), model.predict_proba(texts), rtol=0, atol=1e-12))
True
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from .grams import KeyTable, char_grams, count_pairs, texts_and_keys, word_grams
from .rules import DEFAULT_VIEW, NOT_A_COMPLAINT, RULE_NAMES, ComplaintFilter, _verdict_frame, rule_hits
from .services import ServiceView

_CHUNK = 256  # texts scored together: their (n-gram, class) weights stay a few MB
_ARRAYS = ("word_keys", "word_idf", "char_keys", "char_idf", "coef", "intercept", "classes")
_NUMBERS = ("word_range", "char_range", "rule_weight", "threshold", "max_chars")


class ComplaintScorer(ComplaintFilter):
    """A linear model over TF-IDF word and character n-grams and the rules.

    Parameters
    ----------
    word_range, char_range : n-gram ranges, as the classifier counted them.
    word_keys, char_keys : the sorted n-gram keys of each vocabulary (:mod:`earshot.complaints.grams`).
    word_idf, char_idf : each vocabulary column's inverse document frequency.
    rule_weight : value of a matching rule's feature.
    coef, intercept : the logistic regression's weights, one row per class
        (one row in all for two classes), columns words, then characters, then rules.
    classes : the labels, ``"none"`` among them.
    threshold : complaint probability from which a post counts as a complaint.
    max_chars : only the first this many characters of a post are read.
    """

    def __init__(
        self,
        word_range,
        word_keys,
        word_idf,
        char_range,
        char_keys,
        char_idf,
        rule_weight,
        coef,
        intercept,
        classes,
        threshold,
        max_chars,
    ):
        self.word_range = tuple(int(n) for n in word_range)
        self.char_range = tuple(int(n) for n in char_range)
        self.word_keys, self.word_idf = np.asarray(word_keys, dtype=np.uint64), np.asarray(word_idf, dtype=float)
        self.char_keys, self.char_idf = np.asarray(char_keys, dtype=np.uint64), np.asarray(char_idf, dtype=float)
        self.rule_weight = float(rule_weight)
        self.coef, self.intercept = np.asarray(coef, dtype=float), np.asarray(intercept, dtype=float)
        self.classes = np.asarray(classes, dtype=object)
        self.threshold = float(threshold)
        self.max_chars = int(max_chars)
        width = len(self.word_keys) + len(self.char_keys) + len(RULE_NAMES)
        if self.coef.shape[1] != width:
            raise ValueError(
                f"the weights have {self.coef.shape[1]} columns, the features {width}: made with other rules?"
            )
        self._words, self._chars = KeyTable(self.word_keys), KeyTable(self.char_keys)
        self._weights_by_feature = np.ascontiguousarray(self.coef.T)  # a feature's weights side by side

    def save(self, path: Path) -> None:
        """Write the scorer to ``path`` as a NumPy ``.npz`` file (no pickles)."""
        arrays = {name: getattr(self, name) for name in _ARRAYS if name != "classes"}
        numbers = {name: np.asarray(getattr(self, name)) for name in _NUMBERS}
        np.savez(path, classes=self.classes.astype(str), **arrays, **numbers)

    @classmethod
    def load(cls, path: Path) -> ComplaintScorer:
        """The scorer :meth:`save` wrote to ``path``."""
        with np.load(path, allow_pickle=False) as saved:
            return cls(**{name: saved[name] for name in _ARRAYS + _NUMBERS})

    def predict_proba(self, texts: Iterable[str], view: ServiceView | None = None) -> np.ndarray:
        """Probability of each of ``classes``, one row per text."""
        read = (view or DEFAULT_VIEW).mask((t or "")[: self.max_chars] for t in texts)
        chunks = [self._proba(read[i : i + _CHUNK]) for i in range(0, len(read), _CHUNK)]
        return np.vstack(chunks) if chunks else np.zeros((0, len(self.classes)))

    def verdicts(self, texts: Iterable[str], view: ServiceView | None = None) -> pd.DataFrame:
        """One row per text, read as a report about ``view``'s service
        (default: ChatGPT): ``complaint``, ``probability``, ``problem``."""
        proba = self.predict_proba(texts, view)
        is_problem = self.classes != NOT_A_COMPLAINT
        probability = proba[:, is_problem].sum(axis=1)
        complaint = probability >= self.threshold
        likeliest = self.classes[is_problem][proba[:, is_problem].argmax(axis=1)] if len(proba) else []
        return _verdict_frame(complaint, probability, np.where(complaint, likeliest, None))

    def predict(self, texts: Iterable[str], view: ServiceView | None = None) -> np.ndarray:
        """One label per text: ``"none"`` or a problem type."""
        verdicts = self.verdicts(texts, view)
        return verdicts["problem"].where(verdicts["complaint"], NOT_A_COMPLAINT).to_numpy(dtype=object)

    def _proba(self, texts: list[str]) -> np.ndarray:
        scores = np.tile(self.intercept, (len(texts), 1))
        offset = 0
        for grams, table, idf in (
            (word_grams(texts, self.word_range), self._words, self.word_idf),
            (char_grams(texts, self.char_range), self._chars, self.char_idf),
        ):
            rows, keys = texts_and_keys(grams)
            counts, cols, indptr = count_pairs(len(texts), rows, table.columns(keys), table.width)
            counted = np.flatnonzero(np.diff(indptr))  # texts with a known n-gram
            if len(counted):
                starts = indptr[counted]
                # TfidfTransformer(sublinear_tf=True): (1 + log tf) * idf, each text's row scaled to unit length.
                weights = (np.log(counts) + 1.0) * idf[cols]
                norms = np.sqrt(np.add.reduceat(weights * weights, starts))
                weights /= np.repeat(norms, np.diff(np.append(starts, len(weights))))
                scores[counted] += np.add.reduceat(self._weights_by_feature[offset + cols] * weights[:, None], starts)
            offset += table.width
        scores += (rule_hits(texts) * self.rule_weight) @ self.coef[:, offset:].T
        if scores.shape[1] == 1:  # two classes: the regression scores the second
            second = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - second, second])
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        return scores / scores.sum(axis=1, keepdims=True)
