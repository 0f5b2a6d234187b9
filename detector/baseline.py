"""The detector: counts against a seasonal baseline, scored as counts, fused over sources.

For each bucket, each source's expected count comes from its own trailing
history (:mod:`detector.seasonal`: level x hour-of-week rhythm, past spikes
clipped). The score is the *surprise* of what was heard (:mod:`detector.surprise`:
``-log10`` of the negative-binomial tail probability) over the last 3, 6
and 12 buckets, the strongest of those scan windows, with the sources fused
(pooled, or Fisher-combined; one source alone needs stronger evidence).
Episodes follow from the score (:mod:`detector.episodes`: ``possible``, then
``confirmed``; hysteresis; cool-down).

Everything is causal: a bucket's result depends on counts up to and including
that bucket only. :meth:`RollingBaselineDetector.update` takes new buckets and
carries the state forward, giving exactly what a fit on the whole series gives.

>>> import pandas as pd
>>> index = pd.date_range("2023-11-01", periods=2016 + 24, freq="5min", tz="UTC")
>>> counts = pd.Series(1, index=index)
>>> counts.iloc[2020:2026] = 15                     # a burst of complaints
>>> result = RollingBaselineDetector().fit_predict(counts)
>>> int(result["onset"].sum()), result.index[result["onset"]][0] == index[2020]
(1, True)
>>> row = result.loc[index[2020]]
>>> float(row["count"]), float(row["baseline"]), round(float(row["score"]), 1), row["state"]
(15.0, 1.0, 7.7, 'possible')
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .episodes import LEVELS, EpisodeRules, EpisodeState, run_episodes
from .seasonal import dispersion_hourly, expected_hourly, hourly_rate, hourly_sums, lookback_hours
from .surprise import EVIDENCE, alert_count, combined_surprise, surprise

HOUR = pd.Timedelta("1h")
CHUNK = 1 << 14  # rows scored at a time


class RollingBaselineDetector(BaseEstimator):
    """Flag buckets whose counts are too surprising for their trailing, seasonal baseline.

    ``fit_predict(counts)`` takes complaint counts on a regular DatetimeIndex
    (buckets of at most an hour that divide an hour; buckets missing from the
    grid count as missing data): a Series for one source, or a DataFrame with
    one column per source.

    Parameters
    ----------
    window : str, default "7D"
        Trailing window the level (and the dispersion) is learned from.
    season : {"week", "day", "none"}, default "week"
        The rhythm: hour of the week (shrunk towards hour of the day while
        history is short), hour of the day, or none.
    min_history : str, default "1D"
        History needed before a bucket is scored; earlier buckets score 0.
    min_rate : float, default 0.05
        Floor of the expected count, in posts per hour and source: silence is
        never taken to mean that a handful of posts is impossible.
    dispersion : "auto" or float, default "auto"
        Extra-Poisson variation (``var = mean + dispersion * mean**2``):
        learned from the trailing window, or fixed.
    scales : tuple of int, default (3, 6, 12)
        Scan windows, in buckets: the score is the strongest evidence over
        the last 3, 6 and 12 buckets, so a slow, small outage adds up, and a
        lone busy bucket is weighed with its neighbours.
    single_source_penalty : float, default 1.0
        Evidence taken off when only one of several sources is surprising.
    threshold : float, default 5.0
        Score (``-log10`` probability) at which a ``possible`` episode opens.
    confirm_threshold : float, default 8.0
        Score at which an episode is ``confirmed`` at once.
    confirm_after : int, default 3
        Buckets in a row at ``threshold`` that confirm an episode.
    close_threshold : float, default 2.0
        Score under which a bucket counts as quiet.
    close_after : int, default 3
        Quiet buckets in a row that close an episode.
    cooldown : int, default 12
        Buckets after an episode closes before another may open.

    Attributes
    ----------
    columns_ : list
        The sources seen by :meth:`fit`.
    baseline_ : pandas.Series
        Expected count per bucket (all sources) from the last :meth:`fit`.
    result_ : pandas.DataFrame
        What the last :meth:`fit` computed (see :meth:`fit_predict`).
    """

    def __init__(
        self,
        window: str = "7D",
        season: str = "week",
        min_history: str = "1D",
        min_rate: float = 0.05,
        dispersion="auto",
        scales: tuple = (3, 6, 12),
        single_source_penalty: float = 1.0,
        threshold: float = 5.0,
        confirm_threshold: float = 8.0,
        confirm_after: int = 3,
        close_threshold: float = 2.0,
        close_after: int = 3,
        cooldown: int = 12,
    ):
        self.window = window
        self.season = season
        self.min_history = min_history
        self.min_rate = min_rate
        self.dispersion = dispersion
        self.scales = scales
        self.single_source_penalty = single_source_penalty
        self.threshold = threshold
        self.confirm_threshold = confirm_threshold
        self.confirm_after = confirm_after
        self.close_threshold = close_threshold
        self.close_after = close_after
        self.cooldown = cooldown

    # -- the estimator API ---------------------------------------------------------

    def fit(self, counts, y=None) -> RollingBaselineDetector:
        """Read ``counts`` from the start; keep the state to :meth:`update` from."""
        frame, index = _on_grid(_as_frame(counts))
        self._start(frame)
        self.result_ = self._advance(frame).reindex(index).set_axis(counts.index)
        self.baseline_ = self.result_["baseline"]
        return self

    def fit_predict(self, counts, y=None) -> pd.DataFrame:
        """Return, on ``counts``' index: ``count`` (all sources), ``baseline``
        (expected count), ``dispersion``, ``score``, ``sources`` (how many
        sources are surprising), ``state`` (``none``, ``possible``,
        ``confirmed``), ``alert`` (bool) and ``onset`` (bool, first bucket of
        each episode)."""
        return self.fit(counts).result_

    def update(self, counts) -> pd.DataFrame:
        """Read the buckets that follow the last one read, and return their rows.

        Only the trailing history the baseline needs is kept, so updating
        bucket by bucket costs the same on day 1 as on day 400. Buckets
        skipped between two updates, or within one, count as missing.
        """
        if not hasattr(self, "columns_"):
            return self.fit_predict(counts)
        frame, index = _on_grid(_as_frame(counts), self.step_)
        return self._advance(frame).reindex(index).set_axis(counts.index)

    def alert_level(self, result: pd.DataFrame) -> pd.Series:
        """The count a bucket of ``result`` would need to open an episode on
        its own, the buckets before it being as expected (all sources
        pooled): the line to draw above the baseline.

        >>> index = pd.date_range("2023-11-01", periods=600, freq="5min", tz="UTC")
        >>> detector = RollingBaselineDetector()
        >>> result = detector.fit_predict(pd.Series(1, index=index))
        >>> float(detector.alert_level(result).iloc[-1])
        12.0
        """
        scale = min(int(s) for s in self.scales)
        expected = result["baseline"]
        needed = alert_count(scale * expected, result["dispersion"].fillna(0.0), float(self.threshold))
        return pd.Series(needed - (scale - 1) * expected.to_numpy(), index=result.index, name="alert_level")

    def check_params(self) -> None:
        """Raise ``ValueError`` when a parameter cannot work (fitting checks too).

        >>> RollingBaselineDetector(threshold=9.0).check_params()
        Traceback (most recent call last):
        ...
        ValueError: need close_threshold <= threshold <= confirm_threshold
        """
        self._rules().check()
        _hours(self.window, "window")
        _hours(self.min_history, "min_history")
        if self.season not in ("week", "day", "none"):
            raise ValueError(f"season must be 'week', 'day' or 'none', got {self.season!r}")
        if not self.scales or min(int(s) for s in self.scales) < 1:
            raise ValueError(f"scales must be whole numbers of buckets, at least 1, got {self.scales!r}")
        if self.dispersion != "auto" and float(self.dispersion) < 0:
            raise ValueError(f"dispersion must be 'auto' or at least 0, got {self.dispersion!r}")

    # -- the work --------------------------------------------------------------

    def _start(self, frame: pd.DataFrame) -> None:
        self.check_params()
        self.columns_ = list(frame.columns)
        self.step_ = _step_of(frame.index)
        self.per_hour_ = int(HOUR / self.step_)
        if HOUR % self.step_ != pd.Timedelta(0) or self.per_hour_ < 1:
            raise ValueError(f"buckets must divide an hour; got {self.step_}")
        # Hours run from the first bucket's hour, on the series' own grid.
        first = frame.index[0] if len(frame) else pd.Timestamp(0, tz="UTC")
        lead = int((first - first.floor("h")) / self.step_)
        self.history_ = np.empty((0, len(self.columns_) + (len(self.columns_) > 1)))
        self.history_start_ = first - lead * self.step_
        self.history_end_ = self.history_start_
        self.state_ = EpisodeState()
        self.expected_hours_ = self.dispersion_hours_ = np.empty((0, self.history_.shape[1]))

    def _rules(self) -> EpisodeRules:
        return EpisodeRules(
            float(self.threshold),
            float(self.confirm_threshold),
            int(self.confirm_after),
            float(self.close_threshold),
            int(self.close_after),
            int(self.cooldown),
        )

    def _advance(self, frame: pd.DataFrame) -> pd.DataFrame:
        if list(frame.columns) != self.columns_:
            raise ValueError(f"expected the columns {self.columns_}, got {list(frame.columns)}")
        if not len(frame):
            empty = np.zeros(0)
            return _result(frame.index, empty, empty, empty, empty, empty, np.zeros(0, np.int8), np.zeros(0, bool))
        gap = (frame.index[0] - self.history_end_) / self.step_
        if gap < 0 or gap != int(gap):
            raise ValueError(f"counts must continue from {self.history_end_} (got {frame.index[0]})")

        values = frame.to_numpy(dtype=float)
        if values.shape[1] > 1:  # all sources pooled, as one more column
            missing = np.isnan(values)
            pooled = np.where(missing.all(axis=1), np.nan, np.where(missing, 0.0, values).sum(axis=1))
            values = np.column_stack([values, pooled])
        missing = np.full((int(gap), values.shape[1]), np.nan)
        history = np.vstack([self.history_, missing, values]) if len(self.history_) or gap else values
        first_new = len(history) - len(values)

        # An hour's expectation depends only on the hours before it: it is
        # worked out once, when the hour's first bucket arrives, and kept.
        if len(self.expected_hours_) * self.per_hour_ < len(history):
            self.expected_hours_, self.dispersion_hours_ = self._baseline(history)
        expected, dispersion = self.expected_hours_, self.dispersion_hours_
        rows = np.arange(first_new, len(history)) // self.per_hour_
        score, sources = np.zeros(len(rows)), np.zeros(len(rows), dtype=int)
        # In slices of the series, so the working arrays stay small and hot in the cache.
        for lo in range(first_new, len(history), CHUNK):
            hi = min(lo + CHUNK, len(history))
            score[lo - first_new : hi - first_new], sources[lo - first_new : hi - first_new] = self._score(
                history, expected, dispersion, lo, hi
            )
        levels, onset, self.state_ = run_episodes(score, self._rules(), self.state_)

        self.history_end_ = frame.index[-1] + self.step_
        self._keep_history(history)
        return _result(
            frame.index,
            history[first_new:, -1],
            expected[rows, -1],
            dispersion[rows, -1],
            score,
            sources,
            levels,
            onset,
        )

    def _baseline(self, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected count per bucket and dispersion, per hour and column."""
        rows = len(history)
        padded = np.vstack([history, np.full((-rows % self.per_hour_, history.shape[1]), np.nan)])
        total, squares, seen = hourly_sums(padded, self.per_hour_)
        window = _hours(self.window, "window")
        # The floor is per source: all sources pooled have one for each.
        floor = np.full(history.shape[1], float(self.min_rate))
        if history.shape[1] > 1:
            floor[-1] *= history.shape[1] - 1
        expected, clipped = expected_hourly(
            hourly_rate(total, seen, self.per_hour_),
            window,
            season=self.season,
            min_history=_hours(self.min_history, "min_history"),
            min_rate=floor,
        )
        if self.dispersion == "auto":
            dispersion = dispersion_hourly(total, squares, seen, expected, clipped, self.per_hour_, window)
        else:
            dispersion = np.full_like(expected, float(self.dispersion))
        return expected / self.per_hour_, dispersion

    def _score(self, history, expected, dispersion, lo, hi) -> tuple[np.ndarray, np.ndarray]:
        """The strongest fused surprise over the scan windows, and how many
        sources were surprising, for rows ``lo`` to ``hi`` of ``history``."""
        scales = sorted({int(s) for s in self.scales})
        begin = max(0, lo - (scales[-1] - 1))
        hours = np.arange(begin, hi) // self.per_hour_
        new = slice(lo - begin, None)
        counts, means = history[begin:hi], expected[hours]
        # A bucket missing, or with no expectation yet, adds nothing to a scan window.
        unknown = np.isnan(counts) | np.isnan(means)
        counts = np.where(unknown, 0.0, counts)
        means = np.where(unknown, 0.0, means)
        unknown = unknown[new] if unknown[new].any() else None
        phi = np.nan_to_num(dispersion[hours[new]])
        several = len(self.columns_) > 1
        best = np.zeros(hi - lo)
        breadth = np.zeros(hi - lo, dtype=int)
        heard, due = np.zeros_like(counts), np.zeros_like(means)
        for shift in range(scales[-1]):
            # Running sums over the last 1, 2, ... buckets, read off at each scale.
            if shift < len(counts):
                heard[shift:] += counts[: len(counts) - shift]
                due[shift:] += means[: len(means) - shift]
            if shift + 1 not in scales:
                continue
            each = surprise(heard[new], due[new], phi)
            if unknown is not None:
                each[unknown] = 0.0
            if several:
                fused = np.maximum(each[:, -1], combined_surprise(each[:, :-1], float(self.single_source_penalty)))
                breadth = np.maximum(breadth, (each[:, :-1] >= EVIDENCE).sum(axis=1))
            else:
                fused = each[:, 0]
            best = np.maximum(best, fused)
        if not several:
            breadth = (best >= EVIDENCE).astype(int)
        return best, breadth

    def _keep_history(self, history: np.ndarray) -> None:
        """Drop whole hours older than anything the next bucket can depend on."""
        keep_hours = lookback_hours(_hours(self.window, "window")) + 2 + max(self.scales) // self.per_hour_
        hours = max(0, len(history) // self.per_hour_ - keep_hours)
        drop = hours * self.per_hour_
        self.history_ = history[drop:]
        self.history_start_ = self.history_start_ + drop * self.step_
        self.expected_hours_, self.dispersion_hours_ = self.expected_hours_[hours:], self.dispersion_hours_[hours:]


def _result(index, count, expected, dispersion, score, sources, levels, onset) -> pd.DataFrame:
    """The result frame; ``count``, ``expected`` and ``dispersion`` are of all
    sources together (the pooled column, or the only one)."""
    return pd.DataFrame(
        {
            "count": count,
            "baseline": expected,
            "dispersion": dispersion,
            "score": score,
            "sources": np.asarray(sources, dtype=int),
            "state": pd.Categorical.from_codes(levels, categories=list(LEVELS)),
            "alert": levels > 0,
            "onset": onset,
        },
        index=index,
    )


def _as_frame(counts) -> pd.DataFrame:
    if isinstance(counts, pd.Series):
        counts = counts.to_frame(name=counts.name if counts.name is not None else "count")
    if not isinstance(counts, pd.DataFrame) or not isinstance(counts.index, pd.DatetimeIndex):
        raise TypeError("counts must be a pandas Series or DataFrame on a DatetimeIndex")
    if counts.index.tz is None:  # read as UTC; the result keeps the caller's own index
        counts = counts.tz_localize("UTC")
    return counts


def _on_grid(frame: pd.DataFrame, step: pd.Timedelta | None = None) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """``frame`` with the buckets missing from its grid put back as NaN
    (missing data), and its own index, to give the result back on.

    A series read from a file often lacks a few rows; a row that is not on
    the grid at all (a bucket 7 minutes after a 5-minute one) is an error.
    """
    index = frame.index
    steps = np.diff(index.asi8)
    if not len(steps):
        return frame, index
    unit = pd.Timedelta(1, unit=index.unit)
    base = int(step / unit) if step is not None else int(steps.min())
    if base <= 0 or (steps <= 0).any() or (steps % base).any():
        raise ValueError("counts must be on a regular DatetimeIndex (use detector.complaint_counts)")
    if (steps == base).all():
        return frame, index
    full = pd.date_range(index[0], index[-1], freq=base * unit, unit=index.unit)
    return frame.reindex(full), index


def _step_of(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The bucket width of an index already on its grid (see :func:`_on_grid`)."""
    if len(index) > 1:  # in the index's own unit: pandas 3 often keeps microseconds
        return pd.Timedelta(int(index.asi8[1] - index.asi8[0]), unit=index.unit)
    if index.freq is not None:
        return pd.Timedelta(index.freq)
    raise ValueError("cannot tell the bucket width of a single bucket without a freq")


def _hours(span: str, name: str) -> int:
    hours = pd.Timedelta(span) / HOUR
    if hours < 1 or hours != int(hours):
        raise ValueError(f"{name} must be a whole number of hours, got {span!r}")
    return int(hours)
