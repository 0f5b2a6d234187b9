"""Alert episodes from a score per bucket: two tiers, hysteresis, a cool-down.

- An episode **opens** (``possible``, its one ``onset``) on the first bucket
  whose score reaches ``threshold``.
- It is **confirmed** once the score has stayed at or above ``threshold`` for
  ``confirm_after`` buckets in a row, or at once when it reaches
  ``confirm_threshold``.
- It **closes** on the ``close_after``-th bucket in a row under
  ``close_threshold`` (lower than ``threshold``, so a flickering score does
  not open and close episodes over and over).
- After it closes, ``cooldown`` buckets must pass before another can open:
  the aftershocks of one outage are not a second outage.

The machine reads the scores once, front to back, and carries its state from
one call to the next, so feeding it a series in pieces gives exactly what
feeding it the whole series gives.

>>> import numpy as np
>>> rules = EpisodeRules(threshold=5, confirm_threshold=8, confirm_after=2,
...                      close_threshold=2, close_after=2, cooldown=0)
>>> levels, onset, state = run_episodes(np.array([0, 6, 6, 1, 1, 0, 9, 0, 0.]), rules, EpisodeState())
>>> levels.tolist(), np.flatnonzero(onset).tolist()
([0, 1, 2, 2, 0, 0, 2, 2, 0], [1, 6])
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

LEVELS = ("none", "possible", "confirmed")


@dataclass(frozen=True)
class EpisodeRules:
    threshold: float
    confirm_threshold: float
    confirm_after: int
    close_threshold: float
    close_after: int
    cooldown: int

    def check(self) -> None:
        if not self.close_threshold <= self.threshold <= self.confirm_threshold:
            raise ValueError("need close_threshold <= threshold <= confirm_threshold")
        if self.confirm_after < 1 or self.close_after < 1 or self.cooldown < 0:
            raise ValueError("confirm_after and close_after must be at least 1, cooldown at least 0")


@dataclass(frozen=True)
class EpisodeState:
    """Where the machine stands after the last bucket it read."""

    open: bool = False
    confirmed: bool = False
    loud: int = 0  # buckets in a row at or above the threshold
    quiet: int = 0  # buckets in a row under the close threshold
    cooldown: int = 0  # buckets still to pass before an episode may open


def run_lengths(flags: np.ndarray, carried: int) -> np.ndarray:
    """Length of the run of True ending at each position, a run of ``carried``
    Trues standing just before the array.

    >>> run_lengths(np.array([True, False, True, True]), carried=2).tolist()
    [3, 0, 1, 2]
    """
    positions = np.arange(len(flags))
    last_false = np.maximum.accumulate(np.where(flags, -1 - carried, positions))
    return np.where(flags, positions - last_false, 0)


def run_episodes(score: np.ndarray, rules: EpisodeRules, state: EpisodeState):
    """Levels (0 none, 1 possible, 2 confirmed), onsets and the state after the
    last bucket, for ``score`` read after ``state``."""
    n = len(score)
    loud = score >= rules.threshold
    loud_run = run_lengths(loud, state.loud)
    quiet_run = run_lengths(score < rules.close_threshold, state.quiet)
    loud_at = np.flatnonzero(loud)
    close_at = np.flatnonzero(quiet_run >= rules.close_after)
    confirm_at = np.flatnonzero((loud_run >= rules.confirm_after) | (score >= rules.confirm_threshold))

    levels = np.zeros(n, dtype=np.int8)
    onset = np.zeros(n, dtype=bool)
    is_open, confirmed, free_from = state.open, state.confirmed, state.cooldown
    position = 0
    # Jump from event to event (an onset, a confirmation, a close) instead of
    # stepping through every bucket: most buckets are quiet.
    while position < n:
        if not is_open:
            k = np.searchsorted(loud_at, max(position, free_from))
            if k == len(loud_at):
                break
            position = int(loud_at[k])
            is_open, confirmed = True, False
            onset[position] = True
        k = np.searchsorted(close_at, position)
        closes = int(close_at[k]) if k < len(close_at) else None
        end = n if closes is None else closes
        if not confirmed:
            k = np.searchsorted(confirm_at, position)
            confirmed_from = int(confirm_at[k]) if k < len(confirm_at) and confirm_at[k] < end else end
            levels[position:confirmed_from] = 1
            levels[confirmed_from:end] = 2
            confirmed = confirmed_from < end
        else:
            levels[position:end] = 2
        if closes is None:
            break
        is_open = False
        free_from = closes + 1 + rules.cooldown
        position = closes + 1

    after = replace(
        state,
        open=is_open,
        confirmed=confirmed and is_open,
        loud=int(loud_run[-1]) if n else state.loud,
        quiet=int(quiet_run[-1]) if n else state.quiet,
        cooldown=max(0, free_from - n),
    )
    return levels, onset, after


EPISODE_COLUMNS = [
    "start",
    "end",
    "level",
    "confirmed_at",
    "first_bucket",
    "last_bucket",
    "peak_score",
    "peak_count",
    "peak_sources",
    "problems",
]


def episodes(result: pd.DataFrame) -> pd.DataFrame:
    """One row per alert episode in a :meth:`RollingBaselineDetector.fit_predict` result.

    ``start`` is when the alert could first be raised: the end of the onset
    bucket or, for a bucket still filling, the moment it was heard to
    (``elapsed``), so never later than the counts were read. ``confirmed_at``
    likewise for the confirmation (NaT if it never was); ``end`` is when the
    episode was known to be over (the end of the bucket that closed it), or
    NaT while it is still open at the series' end. ``level`` is the highest
    tier it reached; ``first_bucket`` / ``last_bucket`` delimit its alerting
    buckets; ``problems`` lists the problem types whose own evidence was the
    strongest in its buckets, the most frequent first (empty when the counts
    had no problem types, or none stood out).
    """
    if result.empty or not result["alert"].any():
        kinds = {"level": object, "peak_score": float, "peak_count": int, "peak_sources": int, "problems": object}
        return pd.DataFrame({c: pd.Series(dtype=kinds.get(c, "datetime64[ns, UTC]")) for c in EPISODE_COLUMNS})
    step = bucket_step(result.index)
    alert = result["alert"].to_numpy()
    # Alerting buckets before the first onset belong to an episode that was
    # already open when the frame began: they form run 0.
    run_id = np.cumsum(result["onset"].to_numpy())
    elapsed = result["elapsed"] if "elapsed" in result else pd.Series(1.0, index=result.index)
    heard_until = result.index[-1] + float(elapsed.iloc[-1]) * step
    rows = []
    for _, run in result[alert].groupby(run_id[alert]):
        last = run.index[-1]
        confirmed = run.index[run["state"] == "confirmed"]
        problems = run["problem"].dropna().value_counts() if "problem" in run else pd.Series(dtype=int)
        rows.append(
            {
                "start": run.index[0] + float(elapsed.loc[run.index[0]]) * step,
                "end": pd.NaT if last == result.index[-1] else min(last + 2 * step, heard_until),
                "level": "confirmed" if len(confirmed) else "possible",
                "confirmed_at": confirmed[0] + float(elapsed.loc[confirmed[0]]) * step if len(confirmed) else pd.NaT,
                "first_bucket": run.index[0],
                "last_bucket": last,
                "peak_score": float(run["score"].max()),
                "peak_count": int(run["count"].max()),
                "peak_sources": int(run["sources"].max()) if "sources" in run else 1,
                "problems": list(problems.index),
            }
        )
    frame = pd.DataFrame(rows, columns=EPISODE_COLUMNS)
    for column in ("end", "confirmed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def bucket_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The width of one bucket of a regular index."""
    if index.freq is not None:
        return pd.Timedelta(index.freq)
    return pd.Timedelta(index[1] - index[0]) if len(index) > 1 else pd.Timedelta("5min")
