"""Score alert episodes against the provider's official acknowledgments,
and detections against labelled anomaly windows (:func:`nab_score`).

``lead_minutes`` is how long before the first official post we alerted:
positive when we were first, negative when we were late.

>>> import pandas as pd
>>> lead_minutes(pd.Timestamp("2023-11-08T13:45Z"), pd.Timestamp("2023-11-08T13:54Z"))
9.0
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# The stages a status-page incident goes through, in order.
STAGES = ("investigating", "identified", "monitoring", "resolved", "postmortem")
ACK_STAGES = ("investigating", "identified", "monitoring")


def lead_minutes(alert_start: pd.Timestamp, first_official: pd.Timestamp) -> float:
    """Minutes from our alert to the provider's first post (negative when we were late)."""
    return (first_official - alert_start).total_seconds() / 60.0


def official_incidents(updates: pd.DataFrame) -> pd.DataFrame:
    """One row per incident: its first post, first acknowledgment and resolution.

    ``first_post`` is the earliest update of any stage (an incident reported
    only after the fact has just a ``resolved`` or ``postmortem`` post).
    """
    columns = ["provider", "incident_id", "title", "first_post", "acknowledged", "resolved", "components"]
    if updates.empty:
        moments = ("first_post", "acknowledged", "resolved")
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns, UTC]" if c in moments else object) for c in columns})
    keys = ["provider", "incident_id"]
    posted = updates["posted_at"]
    incidents = (
        updates.assign(
            acknowledged=posted.where(updates["stage"].isin(ACK_STAGES)),
            resolved=posted.where(updates["stage"] == "resolved"),
            components=updates.get("components"),
        )
        .groupby(keys, sort=False)
        .agg(
            title=("title", "first"),
            first_post=("posted_at", "min"),
            acknowledged=("acknowledged", "min"),
            resolved=("resolved", "max"),
            components=("components", "first"),
        )
    )
    return incidents.reset_index()[columns].sort_values("first_post", ignore_index=True)


def match_incidents(
    episodes: pd.DataFrame,
    incidents: pd.DataFrame,
    before: str = "2h",
    after: str = "1h",
) -> pd.DataFrame:
    """For each incident, the earliest episode that starts inside its window
    and was not already matched to an earlier incident.

    An incident's window runs from ``before`` its first post to its resolution,
    and at least to ``after`` its first post. Adds ``detected``,
    ``alert_start`` and ``lead_minutes`` to ``incidents``.
    """
    lo, hi = _windows(incidents, before, after)
    starts, used = [], set()
    # Incidents in time order each take the earliest episode not yet taken, so
    # one alert never counts as the detection of two incidents.
    for low, high in zip(lo, hi, strict=True):
        inside = episodes["start"][(episodes["start"] >= low) & (episodes["start"] <= high)]
        inside = inside[~inside.index.isin(used)]
        if len(inside):
            used.add(inside.idxmin())
            starts.append(inside.min())
        else:
            starts.append(pd.NaT)
    matched = incidents.copy()
    matched["alert_start"] = pd.to_datetime(pd.Series(starts, index=matched.index, dtype="object"), utc=True)
    matched["lead_minutes"] = (matched["first_post"] - matched["alert_start"]).dt.total_seconds() / 60.0
    matched["detected"] = matched["alert_start"].notna()
    return matched


def summarize(
    matches: pd.DataFrame, episodes: pd.DataFrame, before: str = "2h", after: str = "1h", weeks: float | None = None
) -> dict:
    """How the episodes did against the incidents of :func:`match_incidents`.

    - ``precision``: share of episodes starting inside some incident's window;
    - ``recall``: share of incidents with an episode;
    - ``false_alarms`` (and ``false_alarms_per_week`` when ``weeks`` is given):
      episodes inside no incident's window;
    - ``median_lead_minutes`` / ``p90_lead_minutes``: lead time of detected incidents;
    - ``mean_ack_delay_minutes`` and ``grade``: see :func:`acknowledgment_grade`.
    """
    lo, hi = _windows(matches, before, after)
    inside = [bool(((lo <= start) & (start <= hi)).any()) for start in episodes["start"]]
    detected = matches[matches["detected"]]
    leads = detected["lead_minutes"]
    false_alarms = len(inside) - sum(inside)
    delay, grade = acknowledgment_grade(matches, episodes)
    return {
        "incidents": len(matches),
        "detected": len(detected),
        "episodes": len(episodes),
        "false_alarms": int(false_alarms),
        "precision": sum(inside) / len(inside) if len(inside) else None,
        "recall": len(detected) / len(matches) if len(matches) else None,
        "false_alarms_per_week": false_alarms / weeks if weeks else None,
        "median_lead_minutes": float(leads.median()) if len(leads) else None,
        "p90_lead_minutes": float(leads.quantile(0.9)) if len(leads) else None,
        "mean_ack_delay_minutes": delay,
        "grade": grade,
    }


GRADES = ((15, "A"), (30, "B"), (120, "C"), (240, "D"))
NEVER_ACKNOWLEDGED = 240.0


def acknowledgment_grade(matches: pd.DataFrame, episodes: pd.DataFrame) -> tuple[float | None, str | None]:
    """The provider's grade: how long, on average, its first official post
    came after earshot's alert.

    Each episode matched to an incident counts the minutes from the alert to
    that incident's first post (negative when the provider posted first, so a
    late alert is to the provider's credit; at most 240); an episode no
    incident matched was never acknowledged and counts 240.
    A under 15 minutes, B under 30, C under 2 hours, D under 4 hours, else F.

    >>> matches = pd.DataFrame({"alert_start": pd.to_datetime(["2023-11-08T13:45Z"], utc=True),
    ...                         "first_post": pd.to_datetime(["2023-11-08T13:54Z"], utc=True)})
    >>> episodes = pd.DataFrame({"start": pd.to_datetime(["2023-11-08T13:45Z", "2023-11-09T02:00Z"], utc=True)})
    >>> acknowledgment_grade(matches, episodes)
    (124.5, 'D')
    """
    if not len(episodes):
        return None, None
    matched = matches.dropna(subset=["alert_start"])
    delays = ((matched["first_post"] - matched["alert_start"]).dt.total_seconds() / 60).clip(upper=NEVER_ACKNOWLEDGED)
    unmatched = len(episodes) - len(delays)
    mean = (float(delays.sum()) + NEVER_ACKNOWLEDGED * unmatched) / len(episodes)
    return round(mean, 1), next((grade for limit, grade in GRADES if mean < limit), "F")


def _windows(incidents: pd.DataFrame, before: str, after: str) -> tuple[pd.Series, pd.Series]:
    first = pd.to_datetime(incidents["first_post"], utc=True)
    resolved = pd.to_datetime(incidents["resolved"], utc=True)
    earliest_end = first + pd.Timedelta(after)
    hi = resolved.where(resolved > earliest_end, earliest_end)
    return first - pd.Timedelta(before), hi


# -- labelled series, scored in the style of the Numenta Anomaly Benchmark ----------

TRUE_POSITIVE, FALSE_POSITIVE, FALSE_NEGATIVE = 1.0, 0.11, 1.0  # NAB's standard profile


def scaled_sigmoid(position):
    """NAB's weight of a detection at ``position`` relative to a window: -1
    at its start (0.987), 0 at its end (0.0), past its end negative (a false
    detection, -0.987 one window's length after it), and -1 from three
    lengths after it on."""
    position = np.asarray(position, dtype=float)
    return np.where(position >= 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0)


def anomaly_windows(index: pd.DatetimeIndex, anomalies, fraction: float = 0.1) -> list[tuple]:
    """NAB-style windows: one per labelled anomaly time, centred on it, all
    together ``fraction`` of the series long; overlapping windows merge.

    >>> index = pd.date_range("2024-01-01", periods=1000, freq="5min", tz="UTC")
    >>> anomaly_windows(index, [index[500]])
    [(Timestamp('2024-01-02 13:30:00+0000', tz='UTC'), Timestamp('2024-01-02 21:45:00+0000', tz='UTC'))]
    """
    anomalies = sorted(pd.to_datetime(list(anomalies), utc=True))
    if not anomalies:
        return []
    width = int(fraction * len(index) / len(anomalies))
    windows = []
    for moment in anomalies:
        centre = min(index.searchsorted(moment), len(index) - 1)
        lo, hi = max(0, centre - width // 2), min(len(index) - 1, centre + width // 2 - 1 + width % 2)
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], hi)
        else:
            windows.append((lo, hi))
    return [(index[lo], index[hi]) for lo, hi in windows]


def nab_raw_score(detections: pd.Series, windows, probation: float = 0.15) -> dict:
    """Score boolean ``detections`` (one per bucket) against anomaly ``windows``
    (inclusive ``(start, end)`` pairs) as NAB's standard profile does.

    - The first ``probation`` share of the series (at most 750 buckets: the
      detector's learning time) counts for nothing.
    - The earliest detection inside a window earns ``scaled_sigmoid`` of its
      place there, over its value at the window's start (1.0 at the start,
      about 0.86 at its centre, 0 at its end); later ones in the same window
      earn nothing; a window without one costs 1.
    - A detection outside every window costs 0.11, less just after a window
      (``scaled_sigmoid`` of its distance from that window's end in window lengths).

    Returns the raw score, what never flagging (``null``) and flagging each
    window's start (``perfect``) score, to normalise with (:func:`nab_score`),
    the windows, those hit, and the false detections.
    """
    index = detections.index
    flagged = detections.to_numpy(dtype=bool).copy()
    learning = int(min(math.floor(probation * len(index)), probation * 5000))
    flagged[:learning] = False
    spans = [(index.searchsorted(start), index.searchsorted(end, side="right") - 1) for start, end in windows]
    inside = np.zeros(len(index), dtype=bool)
    best = float(scaled_sigmoid(-1.0))
    raw, hit = 0.0, 0
    for lo, hi in spans:
        inside[lo : hi + 1] = True
        width = hi - lo + 1
        hits = np.flatnonzero(flagged[lo : hi + 1])
        if len(hits):
            raw += TRUE_POSITIVE * float(scaled_sigmoid(-(width - hits[0]) / width)) / best
            hit += 1
        else:
            raw -= FALSE_NEGATIVE
    false = np.flatnonzero(flagged & ~inside)
    ends = np.array([hi for _, hi in spans])
    widths = np.array([hi - lo + 1 for lo, hi in spans])
    for at in false:
        before = np.searchsorted(ends, at) - 1  # the last window ending before it, if any
        past = (at - ends[before]) / max(widths[before] - 1, 1) if before >= 0 else 3.0
        raw += FALSE_POSITIVE * float(scaled_sigmoid(past))
    return {
        "raw": raw,
        "null": -FALSE_NEGATIVE * len(spans),
        "perfect": TRUE_POSITIVE * len(spans),
        "windows": len(spans),
        "hit": hit,
        "false_positives": len(false),
        "weeks": (len(index) - learning) * _step_weeks(index),
    }


def _step_weeks(index: pd.DatetimeIndex) -> float:
    return (index[1] - index[0]) / pd.Timedelta("7D") if len(index) > 1 else 0.0


def nab_score(scored: list[dict]) -> float:
    """Normalise :func:`nab_raw_score` results of one or more series: never
    flagging scores 0, a detection at the start of every window 100.

    >>> index = pd.date_range("2024-01-01", periods=1000, freq="5min", tz="UTC")
    >>> windows = anomaly_windows(index, [index[500]])
    >>> never = nab_raw_score(pd.Series(False, index=index), windows)
    >>> early = nab_raw_score(pd.Series(index == windows[0][0], index=index), windows)
    >>> late = nab_raw_score(pd.Series(index == index[530], index=index), windows)
    >>> nab_score([never]), nab_score([early]), nab_score([late])
    (0.0, 100.0, 73.42)
    """
    raw = sum(s["raw"] for s in scored)
    null = sum(s["null"] for s in scored)
    perfect = sum(s["perfect"] for s in scored)
    return round(100.0 * (raw - null) / (perfect - null), 2) if perfect > null else 0.0


def calibration(result: pd.DataFrame, thresholds=(1.0, 2.0, 3.0, 4.0, 5.0)) -> pd.DataFrame:
    """What the score promises against what it does, on buckets with no outage.

    A score is ``-log10`` of a tail probability, so on ordinary data a
    bucket should reach ``t`` at most ``10**-t`` of the time. For each
    threshold: the buckets scored (those with a baseline), how many reached
    it, the share that did (``observed``), the share promised (``nominal``),
    and their ``ratio`` (at most 1 when the promise holds; discrete counts
    usually do better). ``per_week`` is the promise in buckets a week.

    >>> index = pd.date_range("2024-03-04", periods=2016, freq="5min", tz="UTC")
    >>> quiet = pd.DataFrame({"score": np.r_[np.zeros(2006), np.full(10, 2.5)], "baseline": 1.0}, index=index)
    >>> calibration(quiet, thresholds=(2.0, 3.0))[["threshold", "reached", "nominal", "ratio"]]
       threshold  reached  nominal     ratio
    0        2.0       10    0.010  0.496032
    1        3.0        0    0.001  0.000000
    """
    scored = result["score"][result["baseline"].notna()].to_numpy()
    week = pd.Timedelta("7D") / pd.Timedelta(result.index[1] - result.index[0]) if len(result) > 1 else np.nan
    rows = []
    for threshold in thresholds:
        reached = int((scored >= threshold).sum())
        observed = reached / len(scored) if len(scored) else np.nan
        nominal = 10.0**-threshold
        rows.append(
            {
                "threshold": float(threshold),
                "buckets": len(scored),
                "reached": reached,
                "observed": observed,
                "nominal": nominal,
                "ratio": observed / nominal,
                "per_week": nominal * week,
            }
        )
    return pd.DataFrame(rows)
