"""Expected counts per hour from the trailing history, with an hour-of-week rhythm.

Everything here works on whole UTC hours, on arrays shaped ``(hours, columns)``
(one column per source), and looks only backwards: the expectation for hour
``j`` is learned from hours before ``j``. Missing hours are NaN and simply
left out.

Three steps:

1. **Clip past spikes.** Each hour is clipped at a generous ceiling above a
   robust reference (the larger of the median of the same hour on the last
   seven days and the median of the last 168 hours), so an old outage or a
   launch-day surge cannot inflate the expectation that follows it.
2. **Level and rhythm.** The level is the mean clipped hourly count over the
   trailing ``window``; the rhythm is the ratio of the hour-of-week mean (last
   four weeks; the hour and its neighbours), shrunk towards the hour-of-day
   mean (likewise), shrunk towards the flat mean, to that flat mean. Expected = level x rhythm, never
   below ``min_rate``.
3. **Dispersion.** How much more the counts vary than a Poisson count would
   (``var = mean + dispersion * mean**2``), from the same trailing window.
4. **Clustering.** Complaints come in threads ("same here"), and news brings
   bursts: at low rates the counts vary ``clustering`` times more than a
   Poisson count, which a quadratic dispersion cannot say (it vanishes as the
   mean does). Read off the hourly counts of the same window: the variance
   the dispersion leaves unexplained, per expected post.

Sums are taken as fixed sequences of shifted additions rather than cumulative
sums, so an hour's result is bitwise the same whether it is computed in a
year-long batch or in a short incremental update.

>>> import numpy as np
>>> hours = np.full((24 * 8, 1), 2.0)                 # 2 posts an hour for 8 days
>>> expected, clipped = expected_hourly(hours, window=168)
>>> float(expected[-1, 0]), bool(clipped.any())
(2.0, False)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = 24
WEEK = 168
SEASON_WEEKS = 4
CLIP_RATIO, CLIP_SLACK = 3.0, 3.0  # ceiling = 3 x reference + 3 sqrt(reference) + 3 posts/hour
# The rhythm of an hour is read from it and its two neighbours, on past days
# and weeks, and shrunk towards the coarser rhythm as if that had been seen
# for as long as it takes to hear this many posts: a sparse source needs
# days of evidence to claim a quiet hour, a busy one only minutes.
NEIGHBOURS = (-1, 0, 1)
PRIOR_POSTS = 5.0
DISPERSION_PRIOR = 10.0  # sum of squared expectations a dispersion estimate must outweigh
MAX_DISPERSION = 2.0
# Until a series has said how clustered it is, it is taken to be as clustered
# as mild threads make it, worth this many expected posts.
# On Poisson counts with a daily rhythm the estimate reads 1.04 to 1.37 (the
# expectation's own error looks like variance). Taking 0.2 off as that error
# was tried: small simulated outages were heard a few minutes sooner, but
# ordinary days broke calibration (ten buckets at score 3 where 2.3 are
# promised) and growing chatter raised four times the false alarms.
CLUSTERING_PRIOR, PRIOR_CLUSTERING = 20.0, 1.5
MAX_CLUSTERING = 10.0


def lookback_hours(window: int) -> int:
    """Hours of history the expectation for one hour depends on (at most)."""
    clip = WEEK
    season = SEASON_WEEKS * WEEK + max(NEIGHBOURS)
    return max(window, season) + clip + window + 1


def hourly_sums(counts: np.ndarray, per_hour: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per hour: the sum of the bucket counts, the sum of their squares, and
    how many buckets were seen, from counts shaped ``(buckets, columns)``
    starting on an hour (NaN: missing)."""
    blocks = counts.reshape(-1, per_hour, counts.shape[1])
    shape = (len(blocks), counts.shape[1])
    total, squares, seen = np.empty(shape), np.empty(shape), np.empty(shape, dtype=int)
    for lo in range(0, len(blocks), 256):  # a few hundred hours at a time stay in the cache
        part = blocks[lo : lo + 256]
        missing = np.isnan(part)
        known = np.where(missing, 0.0, part)
        total[lo : lo + 256] = known.sum(axis=1)
        squares[lo : lo + 256] = (known * known).sum(axis=1)
        seen[lo : lo + 256] = per_hour - np.count_nonzero(missing, axis=1)
    return total, squares, seen


def hourly_rate(total: np.ndarray, seen: np.ndarray, per_hour: int) -> np.ndarray:
    """Posts per hour: an hour partly missing is scaled up from the buckets
    seen; wholly missing, NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, total * per_hour / np.maximum(seen, 1), np.nan)


def shifted_sum(values: np.ndarray, shifts) -> np.ndarray:
    """``out[j] = sum(values[j - s] for s in shifts)``, NaN and rows before the start counting 0."""
    values = np.nan_to_num(values, nan=0.0)
    out = np.zeros_like(values)
    for shift in shifts:
        if shift == 0:
            out += values
        elif shift < len(values):
            out[shift:] += values[:-shift]
    return out


def trailing_sum(values: np.ndarray, width: int, lag: int = 1) -> np.ndarray:
    """Sum of the ``width`` rows ending ``lag`` rows before each row (NaN counts 0).

    Long windows add whole days first, so a four-week window costs about
    fifty array additions, not 672.
    """
    days = width // DAY
    if days < 2:
        return shifted_sum(values, range(lag, lag + width))
    day_sums = shifted_sum(values, range(DAY))  # row j: rows j-23 .. j
    total = shifted_sum(day_sums, [lag + DAY * d for d in range(days)])
    return total + shifted_sum(values, range(lag + days * DAY, lag + width))


def _clip_ceiling(hours: np.ndarray) -> np.ndarray:
    by_hour = _nanmedian_first(np.stack([_shift(hours, DAY * d) for d in range(1, 8)]))
    week = pd.DataFrame(_shift(hours, 1)).rolling(WEEK, min_periods=DAY).median().to_numpy()
    reference = np.fmax(by_hour, week)
    return CLIP_RATIO * reference + CLIP_SLACK * np.sqrt(reference) + CLIP_SLACK


def _nanmedian_first(stack: np.ndarray) -> np.ndarray:
    """``np.nanmedian(stack, axis=0)`` (NaN where all are NaN), without
    numpy's slow path for arrays holding NaN: sorted, NaN last, the middle
    of what is known taken.

    >>> _nanmedian_first(np.array([[1.0, np.nan, np.nan], [3.0, 2.0, np.nan], [9.0, np.nan, np.nan]])).tolist()
    [3.0, 2.0, nan]
    """
    ordered = np.sort(stack, axis=0)
    known = (~np.isnan(stack)).sum(axis=0)
    low = np.take_along_axis(ordered, np.maximum((known - 1) // 2, 0)[None], axis=0)[0]
    high = np.take_along_axis(ordered, np.maximum(known // 2, 0)[None], axis=0)[0]
    return np.where(known > 0, (low + high) / 2, np.nan)


def _shift(values: np.ndarray, rows: int) -> np.ndarray:
    out = np.full_like(values, np.nan)
    if rows < len(values):
        out[rows:] = values[: len(values) - rows]
    return out


def _mean(values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    seen = trailing_sum((~np.isnan(values)).astype(float), width)
    with np.errstate(invalid="ignore", divide="ignore"):
        return trailing_sum(values, width) / seen, seen


def expected_hourly(
    hours: np.ndarray,
    window: int,
    season: str = "week",
    min_history: int = 24,
    min_rate=0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected posts per hour for each hour, and whether each hour was clipped.

    ``hours`` is ``(hours, columns)``, row 0 being any hour: the rhythm comes
    from the same hour a day and a week earlier, so it lines up with the real
    hour of the week by itself. Rows with less than ``min_history`` hours of
    history are NaN. ``min_rate`` (per hour) is one floor for all columns, or
    one per column.
    """
    ceiling = _clip_ceiling(hours)
    clipped = np.isfinite(ceiling) & (hours > ceiling)
    clean = np.where(clipped, ceiling, hours)

    level, seen = _mean(clean, window)
    rhythm = np.ones_like(level)
    if season in ("day", "week"):
        present = (~np.isnan(clean)).astype(float)
        season_mean, _ = _mean(clean, SEASON_WEEKS * WEEK)
        day_shifts = [DAY * d + o for d in range(1, SEASON_WEEKS * 7 + 1) for o in NEIGHBOURS]
        day_sum = shifted_sum(clean, day_shifts)
        day_seen = shifted_sum(present, day_shifts)
        typical = _shrunk(day_sum, day_seen, season_mean)
        if season == "week":
            week_shifts = [WEEK * w + o for w in range(1, SEASON_WEEKS + 1) for o in NEIGHBOURS]
            week_sum = shifted_sum(clean, week_shifts)
            week_seen = shifted_sum(present, week_shifts)
            typical = _shrunk(week_sum, week_seen, typical)
        with np.errstate(invalid="ignore", divide="ignore"):
            rhythm = np.where(season_mean > 0, typical / season_mean, 1.0)
    elif season not in (None, "none"):
        raise ValueError(f"season must be 'week', 'day' or 'none', not {season!r}")
    expected = np.fmax(level * rhythm, min_rate)
    expected[~(seen >= min_history)] = np.nan
    return expected, clipped


def _shrunk(total: np.ndarray, hours: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Posts per hour from ``total`` posts in ``hours``, with a gamma prior at
    rate ``prior`` worth :data:`PRIOR_POSTS` posts."""
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = (total + PRIOR_POSTS) / (hours + PRIOR_POSTS / prior)
    return np.where(prior > 0, estimate, np.where(hours > 0, total / np.maximum(hours, 1), prior))


def dispersion_hourly(
    total: np.ndarray,
    squares: np.ndarray,
    seen: np.ndarray,
    expected: np.ndarray,
    clipped: np.ndarray,
    per_hour: int,
    window: int,
) -> np.ndarray:
    """Extra-Poisson dispersion per hour, learned from the ``window`` hours before it.

    Takes the hourly sums of :func:`hourly_sums` and the expected posts per
    hour. The moment estimate is ``sum((x - m)**2 - x) / sum(m**2)`` over the
    buckets (``m`` the expected count per bucket, the same all hour long);
    clipped hours are left out (an outage is not ordinary variation), and a
    sparse history, having little to say, is shrunk towards 0 (Poisson).
    """
    mean = expected / per_hour
    usable = ~np.isnan(mean) & ~clipped & (seen > 0)
    residual = np.where(usable, squares - (1 + 2 * mean) * total + seen * mean**2, 0.0)
    square = np.where(usable, seen * mean**2, 0.0)
    estimate = trailing_sum(residual, window) / (trailing_sum(square, window) + DISPERSION_PRIOR)
    return np.clip(estimate, 0.0, MAX_DISPERSION)


def clustering_hourly(
    total: np.ndarray,
    expected: np.ndarray,
    dispersion: np.ndarray,
    clipped: np.ndarray,
    per_hour: int,
    window: int,
) -> np.ndarray:
    """How many times a Poisson count's variance the hourly counts show
    beyond the dispersion's share, per hour, from the ``window`` hours before it (at least 1).

    With ``E`` an hour's expected posts and ``T`` what it heard, the estimate
    is ``sum((T - E)**2 - dispersion * E**2 / per_hour) / sum(E)``, clipped
    hours left out, shrunk towards :data:`PRIOR_CLUSTERING` by
    :data:`CLUSTERING_PRIOR` expected posts. Hourly, not per bucket: a thread
    spreads over several buckets, and the scan windows add buckets up. (The
    difference of neighbouring hours, which would not see the expectation's
    own uncertainty, was tried and measured: bursts and threads spanning an
    hour's end hide from it, and it said 1.5 where this says 5.)

    >>> rng = np.random.default_rng(0)
    >>> threads = rng.poisson(1.0, (2000, 1)) * 3.0     # every complaint brings two more
    >>> expected = np.full((2000, 1), 3.0)
    >>> c = clustering_hourly(threads, expected, np.zeros_like(expected), np.zeros((2000, 1), bool), 12, 168)
    >>> 2.0 < float(c[-1, 0]) < 4.0
    True
    """
    usable = ~np.isnan(expected) & ~clipped & ~np.isnan(total)
    excess = np.where(usable, (total - expected) ** 2 - np.nan_to_num(dispersion) * expected**2 / per_hour, 0.0)
    weight = np.where(usable, expected, 0.0)
    prior = CLUSTERING_PRIOR * PRIOR_CLUSTERING
    estimate = (trailing_sum(excess, window) + prior) / (trailing_sum(weight, window) + CLUSTERING_PRIOR)
    return np.clip(estimate, 1.0, MAX_CLUSTERING)
