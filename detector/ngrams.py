"""Word and character n-gram counts of many texts at once.

scikit-learn's ``CountVectorizer`` builds every n-gram of every text as a
Python string and looks each up in a dict: about 300 µs for a 250-character
post's character n-grams, most of what classifying it cost. These counters
give the same kind of features with the per-character work done by numpy on
all texts together: character n-grams are hashed (64 bits) from the text's
code points, words are looked up once each and paired into bigrams by their
ids. Feed the counts to ``TfidfTransformer`` for TF-IDF weights.

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

_SPACE = 32
# What str.split() splits on: runs of these end a word.
_WHITESPACE = np.array(
    [*range(9, 14), *range(28, 33), 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000],
    dtype=np.uint32,
)
_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1's prime: spreads code points over 64 bits
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: a key's top bits pick its slot
_SHARED = -2
_CHUNK = 1024


class _NgramCounts(TransformerMixin, BaseEstimator):
    """What both counters share: n-gram keys per text in, a vocabulary of the
    keys seen in at least ``min_df`` texts, and a sparse count matrix out."""

    def _grams(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per n: where each counted n-gram starts, its text, its key."""
        raise NotImplementedError

    def _names(self, texts: list[str], grams) -> np.ndarray:
        """The n-gram behind each vocabulary key, read from ``_grams(texts)``."""
        raise NotImplementedError

    def _keys(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return _texts_and_keys(self._grams(texts))

    def fit(self, texts, y=None):
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts, y=None):
        texts = list(texts)
        grams = self._grams(texts)  # once: for the vocabulary, the names and the counts
        rows, keys = _texts_and_keys(grams)
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
        return self._counted(len(texts), *self._keys(texts))

    def _counted(self, n_texts: int, rows: np.ndarray, keys: np.ndarray) -> sp.csr_matrix:
        """The count matrix of ``n_texts`` texts from each n-gram's text and key."""
        cols = self._columns(keys)
        known = cols >= 0
        width = len(self.vocabulary_)
        # Sorting (text, column) pairs counts them and leaves them in CSR order.
        pair_type = np.int32 if n_texts * width < 2**31 else np.int64
        pairs = np.sort(rows[known].astype(pair_type) * pair_type(width) + cols[known].astype(pair_type))
        first = np.flatnonzero(np.concatenate([np.ones(min(len(pairs), 1), dtype=bool), pairs[1:] != pairs[:-1]]))
        counts = np.diff(np.append(first, len(pairs))).astype(np.float64)
        rows, cols = np.divmod(pairs[first], width)
        indptr = np.searchsorted(rows, np.arange(n_texts + 1))
        return sp.csr_matrix((counts, cols, indptr), shape=(n_texts, width))

    def _columns(self, keys: np.ndarray) -> np.ndarray:
        """Each key's column in the vocabulary, -1 where it is not in it."""
        table, shift = self._table()
        cols = table[((keys * _FIBONACCI) >> shift).astype(np.intp)]
        # Keys whose slot two vocabulary keys share are looked up by bisection.
        shared = cols == _SHARED
        if shared.any():
            cols[shared] = np.minimum(np.searchsorted(self.vocabulary_, keys[shared]), len(self.vocabulary_) - 1)
        found = cols >= 0
        found[found] = self.vocabulary_[cols[found]] == keys[found]
        return np.where(found, cols, -1)

    def _table(self) -> tuple[np.ndarray, np.uint64]:
        # A hash table in an array: a key's slot holds its column. Binary
        # search over the vocabulary took 40 ns a key, this about 10. Built on
        # first use, not saved with the model.
        if getattr(self, "_lookup", None) is None:
            bits = max(len(self.vocabulary_).bit_length() + 4, 10)  # 16 to 32 slots per key
            shift = np.uint64(64 - bits)
            slots = ((self.vocabulary_ * _FIBONACCI) >> shift).astype(np.intp)
            table = np.full(1 << bits, -1, dtype=np.int32)
            table[slots] = np.arange(len(slots))
            taken, times = np.unique(slots, return_counts=True)
            table[taken[times > 1]] = _SHARED
            self._lookup = table, shift
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

    def __init__(self, ngram_range: tuple[int, int] = (2, 4), min_df: int = 1):
        self.ngram_range = ngram_range
        self.min_df = min_df

    def _grams(self, texts) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per n: where each counted n-gram starts in ``_code_points(texts)``, its text, its key."""
        codes, spaces, text_of = _code_points(texts)
        spaces_before = np.concatenate([[0], np.cumsum(spaces)])  # [i]: how many of codes[:i] are spaces
        low, high = self.ngram_range
        wide = codes.astype(np.uint64) + np.uint64(1)  # no character hashes to 0, NUL included
        running = wide  # [i]: the hash of the n-gram at i, one character longer each turn
        grams = []
        for n in range(1, high + 1):
            if n > 1:
                running = running[:-1] * _MULTIPLIER + wide[n - 1 :]
            if n >= low:
                starts = _word_ngram_starts(spaces, spaces_before, n)
                # The length goes into the key too, so a short n-gram never passes for a long one.
                grams.append((starts, text_of[starts], _mix(running[starts] ^ _salt(n))))
        return grams

    def _names(self, texts, grams):
        codes, _, _ = _code_points(texts)
        names = {}
        for n, (starts, _, keys) in enumerate(grams, start=self.ngram_range[0]):
            unique, first = np.unique(keys, return_index=True)
            for key, start in zip(unique.tolist(), starts[first].tolist(), strict=True):
                names[key] = codes[start : start + n]
        return np.array([names[key].tobytes().decode("utf-32-le") for key in self.vocabulary_.tolist()], dtype=object)


def _texts_and_keys(grams) -> tuple[np.ndarray, np.ndarray]:
    """Every n-gram's text and key, all lengths together."""
    return np.concatenate([rows for _, rows, _ in grams]), np.concatenate([keys for _, _, keys in grams])


def _code_points(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every text with a space each side, end to end, as code points with all
    whitespace made a space; which are spaces; which text each belongs to.
    Two spaces part two texts, and no n-gram counted holds two spaces."""
    codes = np.frombuffer("".join(f" {t} " for t in texts).encode("utf-32-le"), dtype=np.uint32).copy()
    spaces = np.isin(codes, _WHITESPACE)
    codes[spaces] = _SPACE
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 2
    return codes, spaces, np.repeat(np.arange(len(texts)), lengths)


def _word_ngram_starts(spaces: np.ndarray, spaces_before: np.ndarray, n: int) -> np.ndarray:
    """Where the n-grams of the space-padded words start."""
    count = len(spaces) - n + 1
    if n == 1:  # each letter, and each word's two padding spaces
        letters = np.flatnonzero(~spaces)
        before = np.flatnonzero(spaces[:-1] & ~spaces[1:])
        after = np.flatnonzero(~spaces[:-1] & spaces[1:]) + 1
        return np.concatenate([letters, before, after])
    if n == 2:
        return np.flatnonzero(~(spaces[:-1] & spaces[1:]))
    return np.flatnonzero(spaces_before[n - 1 : n - 1 + count] == spaces_before[1 : 1 + count])  # no space inside


class WordNgramCounts(_NgramCounts):
    """Counts of words (runs of ``\\w``) and of word pairs, as
    ``CountVectorizer(token_pattern=r"(?u)\\b\\w+\\b")`` counts them.

    Parameters
    ----------
    ngram_range : the fewest and most words per n-gram (1 or 2).
    min_df : n-grams seen in fewer fitted texts than this are not counted.
    """

    def __init__(self, ngram_range: tuple[int, int] = (1, 2), min_df: int = 1):
        self.ngram_range = ngram_range
        self.min_df = min_df

    def _grams(self, texts) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per n: the index of each counted n-gram's first word, its text, its key."""
        low, high = self.ngram_range
        if not 1 <= low <= high <= 2:
            raise ValueError(f"words and word pairs are counted (ngram_range within (1, 2)), not {self.ngram_range}")
        codes, _, text_of = _code_points(texts)
        starts, ends = _words(codes)
        lengths = ends - starts
        letters = np.flatnonzero(_word_characters(codes))
        # A word's hash: the sum of its characters times successive powers.
        place = letters - np.repeat(starts, lengths)
        powers = np.cumprod(np.full(int(lengths.max(initial=0)) + 1, _MULTIPLIER, dtype=np.uint64))
        terms = (codes[letters].astype(np.uint64) + np.uint64(1)) * powers[place]
        hashes = _mix(np.add.reduceat(terms, np.cumsum(lengths) - lengths) if len(terms) else terms)
        rows = text_of[starts]
        grams = []
        if low == 1:
            grams.append((np.arange(len(starts)), rows, hashes ^ _salt(1)))
        if high == 2:
            pairs = np.flatnonzero(rows[:-1] == rows[1:])
            grams.append((pairs, rows[pairs], _mix((hashes[pairs] * _MULTIPLIER + hashes[pairs + 1]) ^ _salt(2))))
        return grams

    def _names(self, texts, grams):
        codes, _, _ = _code_points(texts)
        starts, ends = _words(codes)
        names = {}
        for n, (firsts, _, keys) in enumerate(grams, start=self.ngram_range[0]):
            unique, first = np.unique(keys, return_index=True)
            for key, word in zip(unique.tolist(), firsts[first].tolist(), strict=True):
                names[key] = " ".join(
                    codes[starts[w] : ends[w]].tobytes().decode("utf-32-le") for w in range(word, word + n)
                )
        return np.array([names[key] for key in self.vocabulary_.tolist()], dtype=object)


def _mix(keys: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: polynomial hashes are linear in the characters,
    so without it two word pairs, or two long n-grams, can share a key."""
    keys = keys ^ (keys >> np.uint64(30))
    keys = keys * np.uint64(0xBF58476D1CE4E5B9)
    keys = keys ^ (keys >> np.uint64(27))
    keys = keys * np.uint64(0x94D049BB133111EB)
    return keys ^ (keys >> np.uint64(31))


def _salt(n: int) -> np.uint64:
    return np.uint64(n * int(_FIBONACCI) % 2**64)


# Which characters of the Basic Multilingual Plane are word characters (re's \w).
_WORD_BMP = np.array([c.isalnum() or c == "_" for c in map(chr, range(0x10000))], dtype=bool)


def _word_characters(codes: np.ndarray) -> np.ndarray:
    """Which code points re's ``\\w`` matches."""
    found = _WORD_BMP[np.minimum(codes, 0xFFFF)]
    beyond = codes > 0xFFFF
    if beyond.any():
        found[beyond] = [chr(c).isalnum() for c in codes[beyond].tolist()]
    return found


def _words(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of word characters starts and ends (one past its last)."""
    edges = np.diff(np.concatenate([[0], _word_characters(codes).astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
