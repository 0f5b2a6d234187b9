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
(15.0, 1.0, 7.9, 'possible')
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .episodes import LEVELS, EpisodeRules, EpisodeState, run_episodes
from .seasonal import clustering_hourly, dispersion_hourly, expected_hourly, hourly_rate, hourly_sums, lookback_hours
from .surprise import EVIDENCE, alert_count, combined_surprise, surprise
from .tail import LN10, TAIL_FROM, calibrated, evidence_for, tail_hourly, tail_sums

HOUR = pd.Timedelta("1h")
CHUNK = 1 << 14  # rows scored at a time
STATES = pd.CategoricalDtype(list(LEVELS))
# Beyond the calibration's window: a day of its trailing sums, and the week
# the spike ceiling of its oldest hours reads.
TAIL_LOOKBACK = 24 + 2 + 168 + 2


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
        never taken to mean that a handful of posts is impossible. The
        problem types share the sources' floors out between them.
    dispersion : "auto" or float, default "auto"
        Extra-Poisson variation (``var = mean + dispersion * mean**2``):
        learned from the trailing window, or fixed.
    clustering : "auto" or float, default "auto"
        How many posts a complaint brings along ("same here" threads, news
        bursts): counts are read as clusters of this size, learned from the
        trailing window (never under 1), or fixed (1.0: no clustering).
    scales : tuple of int, default (3, 6, 12)
        Scan windows, in buckets: the score is the strongest evidence over
        the last 3, 6 and 12 buckets, so a slow, small outage adds up, and a
        lone busy bucket is weighed with its neighbours.
    single_source_penalty : float, default 1.0
        Evidence taken off when only one of several sources is surprising.
    tail_window : str or None, default "28D"
        The score is the evidence calibrated on the series itself
        (:mod:`detector.tail`): how often the evidence of the trailing
        ``tail_window`` reached this bucket's, its tail extrapolated, so that
        a score ``t`` is reached about ``10**-t`` of the time on this
        series' ordinary buckets, whatever its tails. None: the count
        model's own promise (``score`` equals ``evidence``).
    threshold : float, default 5.0
        Score (``-log10`` of how often ordinary buckets reach it) at which a
        ``possible`` episode opens: about ``2016 * 10**-threshold`` buckets a
        week of 5-minute buckets cross it on ordinary days.
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
        clustering="auto",
        scales: tuple = (3, 6, 12),
        single_source_penalty: float = 1.0,
        tail_window: str | None = "28D",
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
        self.clustering = clustering
        self.scales = scales
        self.single_source_penalty = single_source_penalty
        self.tail_window = tail_window
        self.threshold = threshold
        self.confirm_threshold = confirm_threshold
        self.confirm_after = confirm_after
        self.close_threshold = close_threshold
        self.close_after = close_after
        self.cooldown = cooldown

    # -- the estimator API ---------------------------------------------------------

    def fit(self, counts, y=None, until=None) -> RollingBaselineDetector:
        """Read ``counts`` from the start; keep the state to :meth:`update` from.

        ``until``: the moment the counts were read. When it falls inside the
        last bucket, that bucket is still filling: it is scored against the
        expectation for its elapsed part (so an alert need not wait for the
        bucket to close) and left out of the state, to be read again whole.
        """
        frame, index = _on_grid(_as_frame(counts))
        self._start(frame)
        self.result_ = _on_index(self._advance_until(frame, until), index, counts.index)
        self.baseline_ = self.result_["baseline"]
        return self

    def fit_predict(self, counts, y=None, until=None) -> pd.DataFrame:
        """Return, on ``counts``' index: ``count`` (all sources), ``baseline``
        (expected count), ``dispersion``, ``score``, ``sources`` (how many
        sources are surprising), ``problem`` (the problem type whose own
        evidence is strongest, where it shows any; None elsewhere),
        ``elapsed`` (the share of the bucket heard: 1.0 but for a last bucket
        still filling at ``until``), ``state`` (``none``, ``possible``,
        ``confirmed``), ``alert`` (bool) and ``onset`` (bool, first bucket of
        each episode).

        ``counts`` is a Series (one source), a DataFrame with one column per
        source, or a DataFrame with two column levels, ``(source, problem)``:
        then each problem type is scored against its own baseline too, over
        all sources (the label ``""`` counts for its source but is no type).
        """
        return self.fit(counts, until=until).result_

    def update(self, counts, until=None) -> pd.DataFrame:
        """Read the buckets that follow the last one read, and return their rows.

        Only the trailing history the baseline needs is kept, so updating
        bucket by bucket costs the same on day 1 as on day 400. Buckets
        skipped between two updates, or within one, count as missing. A last
        bucket still filling at ``until`` is scored but not kept (see :meth:`fit`).
        """
        if not hasattr(self, "columns_"):
            return self.fit_predict(counts, until=until)
        frame, index = _on_grid(_as_frame(counts), self.step_)
        return _on_index(self._advance_until(frame, until), index, counts.index)

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
        window = scale * expected
        extra = result["clustering"].fillna(1.0) - 1.0 if "clustering" in result else 0.0
        phi = result["dispersion"].fillna(0.0) + (extra / window.where(window > 0)).fillna(0.0)
        evidence = float(self.threshold)
        if "tail_level" in result:  # the evidence this series needs for that score
            tail = [result[c].to_numpy(dtype=float) for c in ("tail_level", "tail_scale", "tail_shape")]
            evidence = np.nan_to_num(evidence_for(evidence, *tail), nan=evidence)
        needed = alert_count(window, phi, evidence)
        return pd.Series(needed - (scale - 1) * expected.to_numpy(), index=result.index, name="alert_level")

    def history_needed(self, step) -> pd.Timedelta:
        """How far back the state after a bucket (of ``step``) depends on the
        counts: a fit over this much history before a moment continues from it
        exactly as a fit over everything before it would (episodes aside).

        >>> RollingBaselineDetector().history_needed(pd.Timedelta("5min"))
        Timedelta('78 days 09:00:00')
        """
        per_hour = int(HOUR / pd.Timedelta(step))
        # The evidence of the first hours of a fit is read against a
        # baseline still learning; the calibration reads it only after that.
        tail = self._tail_hours() + TAIL_LOOKBACK if self._tail_hours() else 0
        return (self._counts_hours(per_hour) + tail) * HOUR

    def _kept_hours(self, per_hour: int) -> int:
        """Hours of history the next bucket depends on: the counts its
        expectation reads, and the evidence its calibration reads."""
        return max(self._counts_hours(per_hour), self._tail_hours() + TAIL_LOOKBACK)

    def _counts_hours(self, per_hour: int) -> int:
        return lookback_hours(_hours(self.window, "window")) + 2 + max(self.scales) // per_hour

    def _tail_hours(self) -> int:
        """Hours of evidence the calibration reads (0: not calibrated)."""
        if self.tail_window in (None, "none"):
            return 0
        return _hours(self.tail_window, "tail_window")

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
        self._tail_hours()
        if self.season not in ("week", "day", "none"):
            raise ValueError(f"season must be 'week', 'day' or 'none', got {self.season!r}")
        if not self.scales or min(int(s) for s in self.scales) < 1:
            raise ValueError(f"scales must be whole numbers of buckets, at least 1, got {self.scales!r}")
        if self.dispersion != "auto" and float(self.dispersion) < 0:
            raise ValueError(f"dispersion must be 'auto' or at least 0, got {self.dispersion!r}")
        if self.clustering != "auto" and float(self.clustering) < 1:
            raise ValueError(f"clustering must be 'auto' or at least 1, got {self.clustering!r}")

    def __getstate__(self):
        # The buffer's spare room is not state: the kept history is pickled on its own.
        state = super().__getstate__()
        state.pop("room_", None)
        return state

    # -- the work --------------------------------------------------------------

    def _start(self, frame: pd.DataFrame) -> None:
        self.check_params()
        self.columns_ = list(frame.columns)
        self.sources_, self.problems_ = _layout(frame.columns)
        self.step_ = _step_of(frame.index)
        self.per_hour_ = int(HOUR / self.step_)
        if HOUR % self.step_ != pd.Timedelta(0) or self.per_hour_ < 1:
            raise ValueError(f"buckets must divide an hour; got {self.step_}")
        # Hours run from the first bucket's hour, on the series' own grid.
        first = frame.index[0] if len(frame) else pd.Timestamp(0, tz="UTC")
        lead = int((first - first.floor("h")) / self.step_)
        self.history_ = np.empty((0, self._width()))
        self.room_ = self.parts_ = None
        self.history_start_ = first - lead * self.step_
        self.history_end_ = self.history_start_
        self.state_ = EpisodeState()
        self.expected_hours_ = self.dispersion_hours_ = self.clustering_hours_ = np.empty((0, self._width()))
        self.spiky_hours_ = np.empty(0, dtype=bool)
        self.evidence_ = np.empty(0)
        self.tail_hours_ = np.empty((0, 3))

    def _width(self) -> int:
        """Series scored: each source, each problem type, then all together
        (when there is more than one series to pool)."""
        parts = len(self.sources_) + len(self.problems_)
        return parts + (parts > 1)

    def _rules(self) -> EpisodeRules:
        return EpisodeRules(
            float(self.threshold),
            float(self.confirm_threshold),
            int(self.confirm_after),
            float(self.close_threshold),
            int(self.close_after),
            int(self.cooldown),
        )

    def _advance_until(self, frame: pd.DataFrame, until) -> pd.DataFrame:
        """:meth:`_advance`, the last bucket scored for its elapsed share when
        ``until`` falls inside it, on a copy, so the state holds whole buckets only."""
        elapsed = _elapsed(frame.index, self.step_, until)
        if elapsed >= 1.0:
            return self._advance(frame)
        done = self._advance(frame.iloc[:-1])
        ahead = copy.copy(self)
        ahead.__dict__.pop("result_", None)
        ahead.__dict__.pop("baseline_", None)
        return (
            pd.concat([done, ahead._advance(frame.iloc[-1:], elapsed)])
            if len(done)
            else ahead._advance(frame.iloc[-1:], elapsed)
        )

    def _series(self, frame: pd.DataFrame) -> np.ndarray:
        """The counts of every scored series (see :meth:`_width`), one row per bucket."""
        if list(frame.columns) != self.columns_:
            raise ValueError(f"expected the columns {self.columns_}, got {list(frame.columns)}")
        values = frame.to_numpy(dtype=float)
        if self.problems_:
            values = np.column_stack([_total(values[:, at]) for at in self._parts()])
        if values.shape[1] > 1:  # all sources pooled, as one more column
            pooled = _total(values[:, : len(self.sources_)])
            values = np.column_stack([values, pooled])
        return values

    def _parts(self) -> list[np.ndarray]:
        """The columns each source, then each problem type, adds up (worked out once)."""
        if getattr(self, "parts_", None) is None:
            columns = pd.MultiIndex.from_tuples(self.columns_)
            sources, problems = columns.get_level_values(0), columns.get_level_values(1)
            self.parts_ = [np.flatnonzero(sources == s) for s in self.sources_]
            self.parts_ += [np.flatnonzero(problems == p) for p in self.problems_]
        return self.parts_

    def _advance(self, frame: pd.DataFrame, elapsed: float = 1.0) -> pd.DataFrame:
        values = self._series(frame)
        if not len(frame):
            empty = np.zeros(0)
            return _result(
                frame.index,
                empty,
                empty,
                empty,
                empty,
                empty,
                empty,
                empty,
                [],
                empty,
                np.zeros(0, np.int8),
                empty > 0,
                np.zeros((0, 3)),
            )
        gap = (frame.index[0] - self.history_end_) / self.step_
        if gap < 0 or gap != int(gap):
            raise ValueError(f"counts must continue from {self.history_end_} (got {frame.index[0]})")

        history = self._extended(int(gap), values)
        first_new = len(history) - len(values)

        # An hour's expectation depends only on the hours before it: it is
        # worked out once, when the hour's first bucket arrives, and kept.
        if len(self.expected_hours_) * self.per_hour_ < len(history):
            baseline = self._baseline(history)
            self.expected_hours_, self.dispersion_hours_, self.clustering_hours_, self.spiky_hours_ = baseline
        expected, dispersion, clustering = self.expected_hours_, self.dispersion_hours_, self.clustering_hours_
        rows = np.arange(first_new, len(history)) // self.per_hour_
        evidence, sources = np.zeros(len(rows)), np.zeros(len(rows), dtype=int)
        problem = np.full(len(rows), -1)
        # In slices of the series, so the working arrays stay small and hot in the cache.
        for lo in range(first_new, len(history), CHUNK):
            hi = min(lo + CHUNK, len(history))
            part = slice(lo - first_new, hi - first_new)
            evidence[part], sources[part], problem[part] = self._score(
                history, expected, dispersion, clustering, lo, hi, elapsed if hi == len(history) else 1.0
            )
        score, tail = self._calibrated(history, first_new, rows, evidence, expected)
        levels, onset, self.state_ = run_episodes(score, self._rules(), self.state_)

        self.history_end_ = frame.index[-1] + self.step_
        self._keep_history(history)
        names = np.array([*self.problems_, None], dtype=object)
        share = np.ones(len(rows))
        share[-1] = elapsed
        return _result(
            frame.index,
            history[first_new:, -1].copy(),  # the buffer is written again by the next update
            expected[rows, -1] * share,
            dispersion[rows, -1],
            clustering[rows, -1],
            evidence,
            score,
            sources,
            names[problem],
            share,
            levels,
            onset,
            tail,
        )

    def _calibrated(self, history, first_new, rows, evidence, expected) -> tuple[np.ndarray, np.ndarray]:
        """The new rows' evidence judged against the series' own trailing
        evidence (:mod:`detector.tail`), and each row's tail (level, scale, shape).

        The new rows' evidence joins the kept evidence first: an hour's tail
        is read from the hours before it, which are then all known.
        """
        # A bucket not heard, or with no baseline yet, is no sample of the ordinary.
        known = ~np.isnan(history[first_new:, -1]) & ~np.isnan(expected[rows, -1])
        gap = len(history) - len(evidence) - len(self.evidence_)
        self.evidence_ = np.concatenate([self.evidence_, np.full(gap, np.nan), np.where(known, evidence, np.nan)])
        window = self._tail_hours()
        if not window:
            tail = np.column_stack([np.full(len(rows), TAIL_FROM), np.full(len(rows), 1 / LN10), np.zeros(len(rows))])
            return evidence, tail
        if len(self.tail_hours_) * self.per_hour_ < len(history):
            # The spikes the baseline clipped out (an outage, a launch) are not
            # the ordinary either: left in, one outage would hide the next for weeks.
            spiky = np.repeat(self.spiky_hours_, self.per_hour_)[: len(self.evidence_)]
            for shift in range(1, max(int(k) for k in self.scales)):  # and the scan windows reaching back into them
                spiky[shift:] |= spiky[:-shift]
            sums = tail_sums(np.where(spiky, np.nan, self.evidence_)[:, None], self.per_hour_)
            self.tail_hours_ = np.column_stack(tail_hourly(sums, window, self.per_hour_))
        tail = self.tail_hours_[rows]
        return calibrated(evidence, tail[:, 0], tail[:, 1], tail[:, 2]), tail

    def _baseline(self, history: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Expected count per bucket, dispersion and clustering, per hour and
        column, and which hours (all sources together) were spikes, clipped
        out of the baseline."""
        rows = len(history)
        if rows % self.per_hour_:
            history = np.vstack([history, np.full((-rows % self.per_hour_, history.shape[1]), np.nan)])
        total, squares, seen = hourly_sums(history, self.per_hour_)
        window = _hours(self.window, "window")
        # The floor is per source: all sources pooled have one for each
        # source, and the problem types share that pooled floor out between
        # them, as they share out the complaints (a type's floor at a whole
        # source's would make three complaints of a kind look ordinary).
        n_sources, n_problems = len(self.sources_), len(self.problems_)
        floor = np.full(history.shape[1], float(self.min_rate))
        if history.shape[1] > 1:
            floor[-1] *= n_sources
        floor[n_sources : n_sources + n_problems] *= n_sources / max(n_problems, 1)
        rate = hourly_rate(total, seen, self.per_hour_)
        expected, clipped = expected_hourly(
            rate,
            window,
            season=self.season,
            min_history=_hours(self.min_history, "min_history"),
            min_rate=floor,
        )
        if self.dispersion == "auto":
            dispersion = dispersion_hourly(total, squares, seen, expected, clipped, self.per_hour_, window)
        else:
            dispersion = np.full_like(expected, float(self.dispersion))
        if self.clustering == "auto":
            # Learned from all the complaints together, where there are posts
            # enough to tell, and taken for every series: a thread stays in
            # one source and on one problem, so each clusters as the whole
            # does (a sparse series' own estimate would be mostly its prior).
            pooled = clustering_hourly(
                rate[:, -1:], expected[:, -1:], dispersion[:, -1:], clipped[:, -1:], self.per_hour_, window
            )
            clustering = np.repeat(pooled, expected.shape[1], axis=1)
        else:
            clustering = np.full_like(expected, float(self.clustering))
        return expected / self.per_hour_, dispersion, clustering, clipped[:, -1].copy()

    def _score(self, history, expected, dispersion, clustering, lo, hi, elapsed=1.0):
        """The strongest fused surprise over the scan windows, how many
        sources were surprising, and which problem type was strongest (-1:
        none showed evidence), for rows ``lo`` to ``hi`` of ``history``; the
        last row heard for its ``elapsed`` share only."""
        scales = sorted({int(s) for s in self.scales})
        begin = max(0, lo - (scales[-1] - 1))
        hours = np.arange(begin, hi) // self.per_hour_
        new = slice(lo - begin, None)
        counts, means = history[begin:hi], expected[hours]
        if elapsed < 1.0:
            means[-1] *= elapsed
        # A bucket missing, or with no expectation yet, adds nothing to a scan window.
        unknown = np.isnan(counts) | np.isnan(means)
        counts = np.where(unknown, 0.0, counts)
        means = np.where(unknown, 0.0, means)
        unknown = unknown[new] if unknown[new].any() else None
        hours = hours[new]
        n_sources, n_problems = len(self.sources_), len(self.problems_)
        types = slice(n_sources, n_sources + n_problems)
        # Looking at several problem types, the strongest of them is held to
        # a stricter standard: Bonferroni's correction for looking K times.
        correction = math.log10(n_problems) if n_problems else 0.0
        heard, due = _window_sums(counts, scales), _window_sums(means, scales)
        windows = [(heard[scale][new], due[scale][new]) for scale in scales]
        # Only a row where some series heard more than it was due, at some
        # scale, can show any evidence (see surprise): most rows hear nothing
        # unusual, and are left at 0 without reading a tail.
        # Nothing heard at all in the widest window (all series pooled, or
        # the only one, is the last column): nothing to read there.
        rows = np.flatnonzero(windows[-1][0][:, -1] > 0.5)
        live = np.zeros(len(rows), dtype=bool)
        for window_heard, window_due in windows:
            live |= (window_heard[rows] > np.maximum(window_due[rows], 0.5)).any(axis=1)
        rows = rows[live]
        best = np.zeros(hi - lo)
        breadth = np.zeros(hi - lo, dtype=int)
        which = np.full(hi - lo, -1)
        if not len(rows):
            return best, breadth, which
        phi = np.nan_to_num(dispersion[hours[rows]])
        # Clustered counts (threads, bursts) vary ``clustering`` times more
        # than Poisson counts even at low rates, where a quadratic dispersion
        # vanishes: as a negative binomial whose size shrinks with the mean
        # (var = clustering * mean + dispersion * mean**2), one thread can
        # bring several posts, and the tail says so.
        extra = np.nan_to_num(clustering[hours[rows]], nan=1.0) - 1.0
        unknown = unknown[rows] if unknown is not None and unknown[rows].any() else None
        top_score, top_breadth = np.zeros(len(rows)), np.zeros(len(rows), dtype=int)
        strongest, top_which = np.zeros(len(rows)), np.full(len(rows), -1)
        for window_heard, window_due in windows:
            window_heard, window_due = window_heard[rows], window_due[rows]
            with np.errstate(divide="ignore", invalid="ignore"):
                spread = np.where(window_due > 0, extra / window_due, 0.0)
            each = surprise(window_heard, window_due, phi + spread)
            if unknown is not None:
                each[unknown] = 0.0
            fused = each[:, -1]
            if n_sources > 1:
                showing = (each[:, :n_sources] >= EVIDENCE).sum(axis=1)
                fused = np.maximum(fused, combined_surprise(each[:, :n_sources], 0.0))
                top_breadth = np.maximum(top_breadth, showing)
            if n_problems:
                by_type = each[:, types]
                top = by_type.argmax(axis=1)
                evidence = by_type[np.arange(len(top)), top] - correction
                stronger = evidence > strongest
                strongest = np.where(stronger, evidence, strongest)
                top_which = np.where(stronger, top, top_which)
                fused = np.maximum(fused, evidence)
            if n_sources > 1:
                # One source alone, however loud, may be one thread or one
                # account: whichever way its evidence is read, it needs more.
                fused = np.where(showing <= 1, np.maximum(fused - float(self.single_source_penalty), 0.0), fused)
            top_score = np.maximum(top_score, fused)
        best[rows], breadth[rows] = top_score, top_breadth
        which[rows] = np.where(strongest >= EVIDENCE, top_which, -1)
        if n_sources == 1:
            breadth = (best >= EVIDENCE).astype(int)
        return best, breadth, which

    def _extended(self, gap: int, values: np.ndarray) -> np.ndarray:
        """The kept history, ``gap`` missing rows, then ``values``.

        The history lives at the front of a larger buffer, so a live update
        writes its few rows into the room after it instead of copying weeks
        of rows (a shallow copy writing there, as a bucket still filling
        does, leaves this detector's rows as they were).
        """
        if not len(self.history_) and not gap:
            return values
        room = getattr(self, "room_", None)
        used = len(self.history_)
        if room is None or self.history_.base is not room or used + gap + len(values) > len(room):
            room = np.empty((2 * (used + gap + len(values)), values.shape[1]))
            room[:used] = self.history_
            self.room_ = room
        room[used : used + gap] = np.nan
        room[used + gap : used + gap + len(values)] = values
        return room[: used + gap + len(values)]

    def _keep_history(self, history: np.ndarray) -> None:
        """Drop whole hours older than anything the next bucket can depend on."""
        keep_hours = self._kept_hours(self.per_hour_)
        hours = max(0, len(history) // self.per_hour_ - keep_hours)
        drop = hours * self.per_hour_
        room = getattr(self, "room_", None)
        if drop or room is None or history.base is not room:
            # Moved, once an hour, to the front of a buffer with room for a day of updates.
            kept = len(history) - drop
            room = np.empty((kept + 24 * self.per_hour_, history.shape[1]))
            room[:kept] = history[drop:]
            self.room_, history = room, room[:kept]
        self.history_ = history
        self.evidence_ = self.evidence_[drop:]
        self.tail_hours_ = self.tail_hours_[hours:]
        self.history_start_ = self.history_start_ + drop * self.step_
        self.expected_hours_ = self.expected_hours_[hours:]
        self.dispersion_hours_ = self.dispersion_hours_[hours:]
        self.clustering_hours_ = self.clustering_hours_[hours:]
        self.spiky_hours_ = self.spiky_hours_[hours:]


def _window_sums(values: np.ndarray, scales) -> dict[int, np.ndarray]:
    """Each row's sum over the last ``scale`` rows (rows before the first
    counting 0), for each of ``scales``: a window is two halves already
    summed, so 3, 6 and 12 cost four additions, not eleven. Every row's sum
    is the same expression of its own rows, wherever the array starts.

    >>> _window_sums(np.arange(5.0)[:, None], [1, 3])[3][:, 0].tolist()
    [0.0, 1.0, 3.0, 6.0, 9.0]
    >>> _window_sums(np.ones((2, 1)), [12])[12][:, 0].tolist()
    [1.0, 2.0]
    """
    # The widths needed, halves before wholes (no recursion: a recursive
    # closure is a reference cycle, and would keep every chunk's sums alive).
    needed, todo = set(), [int(scale) for scale in scales]
    while todo:
        width = todo.pop()
        if width > 1 and width not in needed:
            needed.add(width)
            todo += [width // 2, width - width // 2]
    sums = {1: values}
    for width in sorted(needed):
        half = width // 2
        total = sums[half].copy()
        if half < len(values):  # a series shorter than the window has only its first rows
            total[half:] += sums[width - half][: len(values) - half]
        sums[width] = total
    return {int(scale): sums[int(scale)] for scale in scales}


def _layout(columns: pd.Index) -> tuple[list, list]:
    """The sources, and the problem types (none for one-level columns), in order of first appearance."""
    if columns.nlevels == 1:
        return list(columns), []
    if columns.nlevels != 2:
        raise ValueError("counts' columns must be sources, or (source, problem) pairs")
    sources = list(dict.fromkeys(columns.get_level_values(0)))
    problems = [p for p in dict.fromkeys(columns.get_level_values(1)) if p != ""]
    return sources, problems


def _total(values: np.ndarray) -> np.ndarray:
    """Row sums, a row where every column is missing being missing."""
    if values.shape[1] == 1:
        return values[:, 0]
    missing = np.isnan(values)
    if not missing.any():
        return values.sum(axis=1)
    return np.where(missing.all(axis=1), np.nan, np.where(missing, 0.0, values).sum(axis=1))


def _elapsed(index: pd.DatetimeIndex, step: pd.Timedelta, until) -> float:
    """The share of the last bucket of ``index`` heard by ``until`` (1.0: all of it)."""
    if until is None or not len(index):
        return 1.0
    share = (pd.Timestamp(until).tz_convert("UTC") - index[-1].tz_convert("UTC")) / step
    return float(min(max(share, 0.0), 1.0))


def _result(
    index, count, expected, dispersion, clustering, evidence, score, sources, problem, elapsed, levels, onset, tail
) -> pd.DataFrame:
    """The result frame; ``count``, ``expected`` and ``dispersion`` are of all
    sources together (the pooled column, or the only one); ``evidence`` is the
    count model's score, ``score`` that evidence calibrated by the row's ``tail``."""
    return pd.DataFrame(
        {
            "count": count,
            "baseline": expected,
            "dispersion": dispersion,
            "clustering": clustering,
            "evidence": evidence,
            "score": score,
            "sources": np.asarray(sources, dtype=int),
            "problem": np.asarray(problem, dtype=object),
            "elapsed": elapsed,
            "state": pd.Categorical.from_codes(levels, dtype=STATES),
            "alert": levels > 0,
            "onset": onset,
            "tail_level": tail[:, 0],
            "tail_scale": tail[:, 1],
            "tail_shape": tail[:, 2],
        },
        index=index,
        copy=False,  # every column is a fresh array of this call: no copy needed
    )


def _on_index(result: pd.DataFrame, index: pd.DatetimeIndex, original: pd.Index) -> pd.DataFrame:
    """``result`` (on the full grid) back on the rows of ``index``, labelled as ``original``."""
    if len(result.index) != len(index) or not result.index.equals(index):
        result = result.reindex(index)
    return result if result.index.equals(original) else result.set_axis(original)


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
