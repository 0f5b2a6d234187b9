"""Detector v0: a rolling robust baseline, a score, and alert episodes with hysteresis.

For each bucket the baseline is the larger of the median and the clipped mean
of the trailing ``window`` (the bucket itself excluded, so a spike never
raises its own bar; spikes in the history clipped, so a past outage does not
inflate it), and the spread is the larger of the trailing inter-quartile range
(as a standard deviation), the Poisson spread ``sqrt(baseline)``, and
``min_spread``. The score is how
many spreads the count stands above the baseline.

An episode opens on the first bucket whose score reaches ``threshold`` and
stays open until the score has stayed under ``close_threshold`` for
``close_after`` buckets in a row.

>>> import pandas as pd
>>> index = pd.date_range("2023-11-01", periods=2016 + 24, freq="5min", tz="UTC")
>>> counts = pd.Series(1, index=index)
>>> counts.iloc[2020:2026] = 15                     # a burst of complaints
>>> result = RollingBaselineDetector().fit_predict(counts)
>>> int(result["onset"].sum()), result.index[result["onset"]][0] == index[2020]
(1, True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

IQR_TO_SIGMA = 1.349  # the inter-quartile range of a normal distribution, in sigmas


class RollingBaselineDetector(BaseEstimator):
    """Flag buckets whose count stands far above a trailing robust baseline.

    Parameters
    ----------
    window : str, default "7D"
        Trailing window the baseline and spread are computed over (a pandas offset).
    min_periods : int, default 12
        Buckets of history needed before any bucket is scored.
    threshold : float, default 4.0
        Score at which an episode opens.
    close_threshold : float, default 1.5
        Score under which the episode counts as quiet.
    close_after : int, default 3
        Quiet buckets in a row that close an episode.
    min_spread : float, default 1.0
        Floor of the spread: with a baseline of zero, ``threshold`` complaints
        in one bucket are needed to alert.

    Attributes
    ----------
    baseline_ : pandas.Series
        The baseline learned by the last :meth:`fit`.
    result_ : pandas.DataFrame
        What the last :meth:`fit` computed (see :meth:`fit_predict`).
    """

    def __init__(
        self,
        window: str = "7D",
        min_periods: int = 12,
        threshold: float = 4.0,
        close_threshold: float = 1.5,
        close_after: int = 3,
        min_spread: float = 1.0,
    ):
        self.window = window
        self.min_periods = min_periods
        self.threshold = threshold
        self.close_threshold = close_threshold
        self.close_after = close_after
        self.min_spread = min_spread

    def fit(self, counts: pd.Series, y=None) -> "RollingBaselineDetector":
        """Compute baseline, score and episodes for ``counts`` (a regular DatetimeIndex)."""
        counts = _check_counts(counts)
        past = counts.shift(1)
        history = past.rolling(self.window, min_periods=self.min_periods)
        median = history.median()
        robust_sigma = ((history.quantile(0.75) - history.quantile(0.25)) / IQR_TO_SIGMA).fillna(0.0)
        floor = pd.Series(float(self.min_spread), index=counts.index)
        # With sparse counts the median is 0 even when a few posts per hour are
        # normal; the mean of the history, with past spikes clipped so an old
        # outage cannot inflate it, is the better level then.
        median_spread = pd.concat([robust_sigma, np.sqrt(median.fillna(0.0)), floor], axis=1).max(axis=1)
        ceiling = median.fillna(0.0) + 3 * median_spread
        clipped_mean = past.clip(upper=ceiling).rolling(self.window, min_periods=self.min_periods).mean()
        baseline = pd.concat([median, clipped_mean], axis=1).max(axis=1, skipna=False)
        spread = pd.concat([robust_sigma, np.sqrt(baseline.fillna(0.0)), floor], axis=1).max(axis=1)
        score = ((counts - baseline) / spread).fillna(0.0)
        alert, onset = self._episodes(score.to_numpy())
        self.baseline_ = baseline
        self.result_ = pd.DataFrame(
            {
                "count": counts,
                "baseline": baseline,
                "spread": spread,
                "score": score,
                "alert": alert,
                "onset": onset,
            },
            index=counts.index,
        )
        return self

    def fit_predict(self, counts: pd.Series, y=None) -> pd.DataFrame:
        """Return, on ``counts``' index: ``count``, ``baseline``, ``spread``,
        ``score``, ``alert`` (bool) and ``onset`` (bool, first bucket of each episode)."""
        return self.fit(counts).result_

    def _episodes(self, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        alert = np.zeros(len(score), dtype=bool)
        onset = np.zeros(len(score), dtype=bool)
        open_, quiet = False, 0
        for i, value in enumerate(score):
            if not open_:
                if value >= self.threshold:
                    open_, quiet = True, 0
                    alert[i] = onset[i] = True
                continue
            quiet = quiet + 1 if value < self.close_threshold else 0
            if quiet >= self.close_after:
                open_ = False
            else:
                alert[i] = True
        return alert, onset


def episodes(result: pd.DataFrame) -> pd.DataFrame:
    """One row per alert episode in a :meth:`RollingBaselineDetector.fit_predict` result.

    ``start`` is when the alert could first be raised (the end of the onset
    bucket); ``end`` is when the episode was known to be over (the end of the
    first bucket after it), or NaT while it is still open at the series' end.
    ``first_bucket`` / ``last_bucket`` delimit the alerting buckets.
    """
    columns = ["start", "end", "first_bucket", "last_bucket", "peak_score", "peak_count"]
    if result.empty or not result["alert"].any():
        return pd.DataFrame(columns=columns)
    step = _step(result.index)
    run_id = result["onset"].cumsum().where(result["alert"])
    rows = []
    for _, run in result[result["alert"]].groupby(run_id[result["alert"]]):
        last = run.index[-1]
        still_open = last == result.index[-1]
        rows.append(
            {
                "start": run.index[0] + step,
                "end": pd.NaT if still_open else last + 2 * step,
                "first_bucket": run.index[0],
                "last_bucket": last,
                "peak_score": float(run["score"].max()),
                "peak_count": int(run["count"].max()),
            }
        )
    frame = pd.DataFrame(rows, columns=columns)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    return frame


def _step(index: pd.DatetimeIndex) -> pd.Timedelta:
    if index.freq is not None:
        return pd.Timedelta(index.freq)
    return pd.Timedelta(index[1] - index[0]) if len(index) > 1 else pd.Timedelta("5min")


def _check_counts(counts: pd.Series) -> pd.Series:
    if not isinstance(counts, pd.Series) or not isinstance(counts.index, pd.DatetimeIndex):
        raise TypeError("counts must be a pandas Series on a DatetimeIndex")
    steps = np.diff(counts.index.asi8)
    if len(steps) and (steps.min() != steps.max() or steps[0] <= 0):
        raise ValueError("counts must be on a regular DatetimeIndex (use detector.complaint_counts)")
    return counts.astype(float)
