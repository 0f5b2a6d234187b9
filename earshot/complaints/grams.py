"""The numpy core of earshot's n-gram features: keys in, counts out, no scikit-learn.

Character n-grams are hashed (64 bits) from the text's code points, words
once each and paired into bigrams by their hashes; a vocabulary of keys is
looked up through an array hash table, and (text, column) pairs are counted
by one sort. :mod:`earshot.complaints.ngrams` wraps these as scikit-learn transformers
for training; :mod:`earshot.complaints.scorer` uses them directly, so classifying needs
numpy alone.

>>> keys = lambda texts: texts_and_keys(char_grams(texts, (2, 3)))[1]
>>> table = KeyTable(np.unique(keys(["go down"])))
>>> rows, found = texts_and_keys(char_grams(["down", "up"], (2, 3)))
>>> counts, columns, indptr = count_pairs(2, rows, table.columns(found), table.width)
>>> int(counts.sum()), indptr.tolist()  # "down"'s 9 n-grams are all known, "up"'s none
(9, [0, 9, 9])
"""

from __future__ import annotations

import numpy as np

_SPACE = 32
# What str.split() splits on: runs of these end a word.
_WHITESPACE = np.array(
    [*range(9, 14), *range(28, 33), 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000],
    dtype=np.uint32,
)
_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1's prime: spreads code points over 64 bits
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: a key's top bits pick its slot
_SHARED = -2

Grams = list[tuple[np.ndarray, np.ndarray, np.ndarray]]


def char_grams(texts: list[str], ngram_range: tuple[int, int]) -> Grams:
    """Per n of ``ngram_range``: where each character n-gram of the
    space-padded words starts in ``_code_points(texts)``, its text, its key."""
    codes, spaces, text_of = _code_points(texts)
    spaces_before = np.concatenate([[0], np.cumsum(spaces)])  # [i]: how many of codes[:i] are spaces
    low, high = ngram_range
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


def char_names(texts: list[str], grams: Grams, low: int, vocabulary: np.ndarray) -> np.ndarray:
    """The character n-gram behind each key of ``vocabulary``, read from
    ``char_grams(texts, (low, ...))``."""
    codes, _, _ = _code_points(texts)
    names = {}
    for n, (starts, _, keys) in enumerate(grams, start=low):
        unique, first = np.unique(keys, return_index=True)
        for key, start in zip(unique.tolist(), starts[first].tolist(), strict=True):
            names[key] = codes[start : start + n]
    return np.array([names[key].tobytes().decode("utf-32-le") for key in vocabulary.tolist()], dtype=object)


def word_grams(texts: list[str], ngram_range: tuple[int, int]) -> Grams:
    """Per n of ``ngram_range`` (within (1, 2)): the index of each word
    n-gram's first word, its text, its key."""
    low, high = ngram_range
    if not 1 <= low <= high <= 2:
        raise ValueError(f"words and word pairs are counted (ngram_range within (1, 2)), not {ngram_range}")
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


def word_names(texts: list[str], grams: Grams, low: int, vocabulary: np.ndarray) -> np.ndarray:
    """The word or word pair behind each key of ``vocabulary``."""
    codes, _, _ = _code_points(texts)
    starts, ends = _words(codes)
    names = {}
    for n, (firsts, _, keys) in enumerate(grams, start=low):
        unique, first = np.unique(keys, return_index=True)
        for key, word in zip(unique.tolist(), firsts[first].tolist(), strict=True):
            names[key] = " ".join(
                codes[starts[w] : ends[w]].tobytes().decode("utf-32-le") for w in range(word, word + n)
            )
    return np.array([names[key] for key in vocabulary.tolist()], dtype=object)


class KeyTable:
    """Each key's column in a sorted ``vocabulary`` of keys, through a hash
    table in an array: binary search took 40 ns a key, this about 10."""

    def __init__(self, vocabulary: np.ndarray):
        self.vocabulary = vocabulary
        self.width = len(vocabulary)
        bits = max(self.width.bit_length() + 4, 10)  # 16 to 32 slots per key
        self.shift = np.uint64(64 - bits)
        slots = ((vocabulary * _FIBONACCI) >> self.shift).astype(np.intp)
        self.table = np.full(1 << bits, -1, dtype=np.int32)
        self.table[slots] = np.arange(len(slots))
        taken, times = np.unique(slots, return_counts=True)
        self.table[taken[times > 1]] = _SHARED

    def columns(self, keys: np.ndarray) -> np.ndarray:
        """Each key's column in the vocabulary, -1 where it is not in it."""
        cols = self.table[((keys * _FIBONACCI) >> self.shift).astype(np.intp)]
        # Keys whose slot two vocabulary keys share are looked up by bisection.
        shared = cols == _SHARED
        if shared.any():
            cols[shared] = np.minimum(np.searchsorted(self.vocabulary, keys[shared]), self.width - 1)
        found = cols >= 0
        found[found] = self.vocabulary[cols[found]] == keys[found]
        return np.where(found, cols, -1)


def count_pairs(n_texts: int, rows: np.ndarray, cols: np.ndarray, width: int):
    """The counts of ``n_texts`` texts' known n-grams (``cols`` >= 0) in CSR
    form: ``(counts, columns, indptr)``, row by row, columns ascending."""
    known = cols >= 0
    # Sorting (text, column) pairs counts them and leaves them in CSR order.
    pair_type = np.int32 if n_texts * width < 2**31 else np.int64
    pairs = np.sort(rows[known].astype(pair_type) * pair_type(width) + cols[known].astype(pair_type))
    first = np.flatnonzero(np.concatenate([np.ones(min(len(pairs), 1), dtype=bool), pairs[1:] != pairs[:-1]]))
    counts = np.diff(np.append(first, len(pairs))).astype(np.float64)
    rows, cols = np.divmod(pairs[first], width)
    return counts, cols, np.searchsorted(rows, np.arange(n_texts + 1))


def texts_and_keys(grams) -> tuple[np.ndarray, np.ndarray]:
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
