"""How surprising a count is under its expectation, and how sources add up.

A count's *surprise* is ``-log10 P(X >= count)`` for ``X`` negative-binomial
with the expected mean and dispersion (Poisson when the dispersion is 0): 3
means a one-in-a-thousand count, 6 one in a million. It suits counts where a
z-score does not: at night 4 posts against an expectation of 0.2 is a strong
signal, in a busy hour 40 against 30 is not.

>>> round(float(surprise(4, 0.2)), 1), round(float(surprise(40, 30.0)), 1)
(4.2, 1.3)

Sources are fused two ways, and the stronger wins:

- **pooled**: the surprise of all sources' counts together against their
  expectations together, which adds up many small excesses;
- **combined**: Fisher's combination of the sources that are themselves
  surprising (surprise >= 1), which adds up strong excesses in quiet sources
  that a busy source would drown in the pooled count. With only one source
  surprising, its evidence is reduced by ``single_source_penalty``: one
  source alone needs stronger evidence.

>>> round(float(combined_surprise(np.array([[3.0, 3.0, 0.0]]), 2.0)[0]), 1)
4.8
"""

from __future__ import annotations

import numpy as np
from scipy import special

CAP = 300.0  # surprise of a count whose probability underflows
EVIDENCE = 1.0  # a source counts as showing evidence from this surprise on (p <= 0.1)


def surprise(count, expected, dispersion=0.0) -> np.ndarray:
    """``-log10 P(X >= count)`` for ``X`` with mean ``expected`` and variance
    ``expected + dispersion * expected**2``; 0 wherever ``count`` is under 1 or
    does not exceed ``expected``, or ``expected`` is unknown (NaN)."""
    count, expected, dispersion = (np.asarray(a, dtype=float) for a in (count, expected, dispersion))
    shape = np.broadcast_shapes(count.shape, expected.shape, dispersion.shape)
    out = np.zeros(shape)
    # Most buckets hear nothing unusual: find the few worth a tail probability
    # first (NaN compares False), and work on those alone.
    at = np.flatnonzero(np.broadcast_to(count > np.maximum(expected, 0.5), shape))
    if not len(at):
        return out
    k, mean, phi = (np.broadcast_to(a, shape).ravel()[at] for a in (count, expected, dispersion))
    tail = np.empty(len(at))
    poisson = phi <= 1e-9
    tail[poisson] = special.gammainc(k[poisson], mean[poisson])
    size = 1.0 / phi[~poisson]
    tail[~poisson] = special.betainc(k[~poisson], size, mean[~poisson] / (size + mean[~poisson]))
    out.ravel()[at] = np.minimum(-np.log10(np.maximum(tail, 10.0**-CAP)), CAP)
    return out


def combined_surprise(per_source: np.ndarray, single_source_penalty: float) -> np.ndarray:
    """Fisher's combination, row by row, of the sources showing evidence.

    ``per_source`` is ``(rows, sources)`` of surprises. With ``m`` sources at
    or above :data:`EVIDENCE`, the combined p-value is ``P(chi2(2m) >= 2 ln10 *
    sum)``; a lone source keeps its own surprise less ``single_source_penalty``
    (when there is more than one source to hear from).
    """
    out = np.zeros(len(per_source))
    rows = np.flatnonzero((per_source >= EVIDENCE).any(axis=1))
    if not len(rows):
        return out
    some = per_source[rows]
    showing = some >= EVIDENCE
    sources = showing.sum(axis=1)
    tail = special.gammaincc(sources, np.log(10.0) * np.where(showing, some, 0.0).sum(axis=1))
    fused = np.minimum(-np.log10(np.maximum(tail, 10.0**-CAP)), CAP)
    if per_source.shape[1] > 1:
        fused = np.where(sources == 1, np.maximum(fused - single_source_penalty, 0.0), fused)
    out[rows] = fused
    return out


def alert_count(expected, dispersion, threshold: float) -> np.ndarray:
    """The smallest count whose surprise reaches ``threshold`` (for drawing the
    alert line under a chart).

    >>> alert_count([0.2, 30.0], [0.0, 0.0], 4.0).tolist()
    [4.0, 53.0]
    """
    expected = np.asarray(expected, dtype=float)
    dispersion = np.broadcast_to(np.asarray(dispersion, dtype=float), expected.shape)
    low = np.floor(np.nan_to_num(expected)) + 1
    high = np.maximum(low * 2, low + 10)
    # Surprise grows with the count: widen, then bisect, all rows at once.
    for _ in range(60):
        short = surprise(high, expected, dispersion) < threshold
        if not short.any():
            break
        high = np.where(short, high * 2, high)
    for _ in range(64):
        if (high - low < 1).all():
            break
        middle = np.floor((low + high) / 2)
        reached = surprise(middle, expected, dispersion) >= threshold
        high = np.where(reached, middle, high)
        low = np.where(reached, low, middle + 1)
    return np.where(np.isnan(expected), np.nan, np.where(surprise(low, expected, dispersion) >= threshold, low, high))
