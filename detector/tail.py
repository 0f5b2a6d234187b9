"""The score calibrated on the series itself: each bucket's evidence judged
against the tail of this series' own evidence in the weeks before it.

The count model's evidence (:mod:`detector.surprise`) is ``-log10`` of a tail
probability *if the model is right*. Real chatter has heavier tails than any
count model fitted to a few weeks (news, threads, launches), so a score of 5
can come far more often than once in 100,000 buckets. Here the evidence of
the trailing ``window`` hours is read as a sample of what ordinary looks
like on this series, and a bucket's score is ``-log10`` of how often that
sample reaches its evidence:

- up to ``TAIL_FROM`` (evidence 1, p = 0.1 under the model) the share of
  buckets reaching it is counted;
- above it, the excesses are fitted by a generalized Pareto tail (shape
  ``xi`` >= 0, by moments: 0 is an exponential tail, larger is heavier), so
  a score can go past what the window has seen, as fast as the series' own
  tail says it should;
- a week of buckets that follow the model's promise exactly is added as a
  prior, so a young series, or one with little evidence, is judged as the
  model judges it, and the data takes over as it accumulates.

Excesses are counted up to ``EXCESS_CAP``: an outage in the window widens
the tail (the next one must be louder against the same history) but cannot
silence the detector for weeks.

Everything works on whole hours, as :mod:`detector.seasonal` does, from
hours before the one judged, with the same fixed sequences of shifted sums,
so an hour's parameters are bitwise the same in a batch and in an update.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> nominal = -np.log10(rng.uniform(size=(24 * 60, 12)))   # evidence that keeps its promise
>>> level, scale, shape = tail_hourly(tail_sums(nominal.reshape(-1, 1), 12), 28 * 24, 12)
>>> round(float(level[-1]), 1), round(float(scale[-1] * np.log(10)), 1), round(float(shape[-1]), 2)
(1.0, 1.0, 0.0)
>>> round(float(calibrated(np.array([5.0]), level[-1:], scale[-1:], shape[-1:])[0]), 1)
4.9
"""

from __future__ import annotations

import math

import numpy as np

from .seasonal import trailing_sum

TAIL_FROM = 1.0  # evidence from which the tail is fitted (p = 0.1 under the model)
EXCESS_CAP = 4.0  # an excess counts at most this much in the tail's moments
PRIOR_HOURS = 168  # the model's own promise, worth a week of buckets
MAX_SHAPE = 1.0  # heavier than this, and the tail's mean would not exist
LN10 = math.log(10.0)
# The excess over TAIL_FROM of evidence that keeps its promise is exponential
# with rate ln 10: its mean and second moment.
NOMINAL_MEAN, NOMINAL_SQUARE = 1.0 / LN10, 2.0 / LN10**2


def tail_sums(evidence: np.ndarray, per_hour: int) -> np.ndarray:
    """Per hour, from evidence shaped ``(buckets, 1)`` starting on an hour
    (NaN: not scored): buckets scored, buckets at or over :data:`TAIL_FROM`,
    and the sum and sum of squares of their (capped) excesses; ``(hours, 4)``."""
    rows = len(evidence)
    if rows % per_hour:
        evidence = np.vstack([evidence, np.full((-rows % per_hour, 1), np.nan)])
    blocks = evidence.reshape(-1, per_hour)
    scored = ~np.isnan(blocks)
    over = scored & (np.nan_to_num(blocks) >= TAIL_FROM)
    excess = np.where(over, np.minimum(np.nan_to_num(blocks) - TAIL_FROM, EXCESS_CAP), 0.0)
    return np.column_stack([scored.sum(axis=1), over.sum(axis=1), excess.sum(axis=1), (excess * excess).sum(axis=1)])


def tail_hourly(sums: np.ndarray, window: int, per_hour: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per hour, from the :func:`tail_sums` of the ``window`` hours before it:
    the calibrated score at :data:`TAIL_FROM` (``-log10`` of the share of
    buckets reaching it), and the scale and shape of the excesses' tail."""
    trailing = [trailing_sum(sums[:, k].astype(float), window) for k in range(4)]
    scored, over, first, second = trailing
    prior = PRIOR_HOURS * per_hour
    prior_over = prior * 10.0**-TAIL_FROM
    level = -np.log10((over + prior_over) / (scored + prior))
    mean = (first + prior_over * NOMINAL_MEAN) / (over + prior_over)
    variance = np.maximum((second + prior_over * NOMINAL_SQUARE) / (over + prior_over) - mean**2, 1e-12)
    # Moments of a generalized Pareto excess: mean = scale / (1 - xi), and
    # mean**2 / variance = 1 - 2 xi.
    shape = np.clip(0.5 * (1.0 - mean**2 / variance), 0.0, MAX_SHAPE)
    scale = mean * (1.0 - shape)
    return level, scale, shape


def calibrated(evidence: np.ndarray, level: np.ndarray, scale: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """The score of each bucket's ``evidence`` under its hour's tail (NaN evidence: 0).

    Under :data:`TAIL_FROM` the score rises in proportion to the evidence up
    to ``level``; above it, by the generalized Pareto tail.
    """
    evidence = np.nan_to_num(np.asarray(evidence, dtype=float))
    level, scale, shape = np.broadcast_arrays(level, scale, shape)
    out = evidence * level / TAIL_FROM
    # Most buckets show no evidence at all: only the tail's few are worked out.
    at = np.flatnonzero(evidence > TAIL_FROM)
    over = (evidence[at] - TAIL_FROM) / scale[at]
    heavy = shape[at] > 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.where(heavy, np.log1p(shape[at] * over) / np.where(heavy, shape[at], 1.0), over) / LN10
    out[at] = level[at] + tail
    return out


def evidence_for(score, level, scale, shape) -> np.ndarray:
    """The evidence a bucket needs to reach ``score`` (the inverse of :func:`calibrated`).

    >>> float(evidence_for(5.0, np.array(1.0), np.array(1 / LN10), np.array(0.0)))
    5.0
    """
    score, level, scale, shape = (np.asarray(a, dtype=float) for a in (score, level, scale, shape))
    below = score * TAIL_FROM / np.where(level > 0, level, np.nan)
    rise = (score - level) * LN10
    heavy = shape > 1e-9
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        over = np.where(heavy, np.expm1(shape * rise) / np.where(heavy, shape, 1.0), rise) * scale
    return np.where(score <= level, below, TAIL_FROM + over)
