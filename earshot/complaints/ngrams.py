"""Word and character n-gram counts of many texts at once.

scikit-learn's ``CountVectorizer`` builds every n-gram of every text as a
Python string and looks each up in a dict: about 300 µs for a 250-character
post's character n-grams, most of what classifying it cost. These counters
give the same kind of features with the per-character work done by numpy on
all texts together (:mod:`earshot.complaints.grams`). Feed the counts to
``TfidfTransformer`` for TF-IDF weights.

>>> chars = CharNgramCounts(ngram_range=(2, 3)).fit(["go down", "down"])
>>> sorted(chars.get_feature_names_out())
[' d', ' do', ' g', ' go', 'do', 'dow', 'go', 'go ', 'n ', 'o ', 'ow', 'own', 'wn', 'wn ']
>>> counted = chars.transform(["down down"]).toarray()[0]
>>> sorted((str(name), int(n)) for name, n in zip(chars.get_feature_names_out(), counted) if n)
[(' d', 2), (' do', 2), ('do', 2), ('dow', 2), ('n ', 2), ('ow', 2), ('own', 2), ('wn', 2), ('wn ', 2)]
>>> words = WordNgramCounts().fit(["is it down", "it is down"])
>>> sorted(words.get_feature_names_out())
['down', 'is', 'is down', 'is it', 'it', 'it down', 'it is']
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from . import grams as _g

_CHUNK = 1024


class _NgramCounts(TransformerMixin, BaseEstimator):
    """What both counters share: n-gram keys per text in, a vocabulary of the
    keys seen in at least ``min_df`` texts, and a sparse count matrix out."""

    # What each counter counts and names: a pair of functions of earshot.complaints.grams.
    _count = _name = None

    def _grams(self, texts: list[str]) -> _g.Grams:
        """Per n: where each counted n-gram starts, its text, its key."""
        return self._count(texts, self.ngram_range)

    def _names(self, texts: list[str], grams: _g.Grams) -> np.ndarray:
        """The n-gram behind each vocabulary key, read from ``_grams(texts)``."""
        return self._name(texts, grams, self.ngram_range[0], self.vocabulary_)

    def fit(self, texts, y=None):
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts, y=None):
        texts = list(texts)
        grams = self._grams(texts)  # once: for the vocabulary, the names and the counts
        rows, keys = _g.texts_and_keys(grams)
        # Document frequency: each (text, key) pair once.
        pairs = np.unique(np.stack([keys, rows.astype(np.uint64)]), axis=1)
        vocabulary, in_texts = np.unique(pairs[0], return_counts=True)
        self.vocabulary_ = vocabulary[in_texts >= self.min_df]
        self._lookup = None
        self.feature_names_ = self._names(texts, grams)
        return self._counted(len(texts), rows, keys)

    def transform(self, texts) -> sp.csr_matrix:
        texts = list(texts)
        # A thousand texts at a time: their arrays stay in the CPU's caches.
        chunks = [self._counts(texts[i : i + _CHUNK]) for i in range(0, len(texts), _CHUNK)]
        if len(chunks) == 1:
            return chunks[0]
        return sp.vstack(chunks, format="csr") if chunks else sp.csr_matrix((0, len(self.vocabulary_)))

    def _counts(self, texts: list[str]) -> sp.csr_matrix:
        return self._counted(len(texts), *_g.texts_and_keys(self._grams(texts)))

    def _counted(self, n_texts: int, rows: np.ndarray, keys: np.ndarray) -> sp.csr_matrix:
        """The count matrix of ``n_texts`` texts from each n-gram's text and key."""
        table = self.key_table()
        counts, cols, indptr = _g.count_pairs(n_texts, rows, table.columns(keys), table.width)
        return sp.csr_matrix((counts, cols, indptr), shape=(n_texts, table.width))

    def key_table(self) -> _g.KeyTable:
        """The fitted vocabulary's lookup table, built on first use, not saved with the model."""
        if getattr(self, "_lookup", None) is None:
            self._lookup = _g.KeyTable(self.vocabulary_)
        return self._lookup

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_lookup", None)
        return state

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.feature_names_


class CharNgramCounts(_NgramCounts):
    """Counts of the character n-grams of each word, the word padded with a
    space each side (scikit-learn's ``analyzer="char_wb"``): "down" gives
    " d", "do", ..., "wn ", " do", ..., "own ". Words are what ``str.split``
    splits; texts are taken as they are (lower them first if case should not count).

    Parameters
    ----------
    ngram_range : the shortest and longest n-grams counted.
    min_df : n-grams seen in fewer fitted texts than this are not counted.
    """

    _count, _name = staticmethod(_g.char_grams), staticmethod(_g.char_names)

    def __init__(self, ngram_range: tuple[int, int] = (2, 4), min_df: int = 1):
        self.ngram_range = ngram_range
        self.min_df = min_df


class WordNgramCounts(_NgramCounts):
    """Counts of words (runs of ``\\w``) and of word pairs, as
    ``CountVectorizer(token_pattern=r"(?u)\\b\\w+\\b")`` counts them.

    Parameters
    ----------
    ngram_range : the fewest and most words per n-gram (1 or 2).
    min_df : n-grams seen in fewer fitted texts than this are not counted.
    """

    _count, _name = staticmethod(_g.word_grams), staticmethod(_g.word_names)

    def __init__(self, ngram_range: tuple[int, int] = (1, 2), min_df: int = 1):
        self.ngram_range = ngram_range
        self.min_df = min_df
