"""Score alert episodes against the provider's official acknowledgments.

``lead_minutes`` is how long before the first official post we alerted:
positive when we were first, negative when we were late.

>>> import pandas as pd
>>> lead_minutes(pd.Timestamp("2023-11-08T13:45Z"), pd.Timestamp("2023-11-08T13:54Z"))
9.0
"""

from __future__ import annotations

import pandas as pd

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
        return pd.DataFrame(columns=columns)
    rows = []
    for (provider, incident_id), group in updates.groupby(["provider", "incident_id"], sort=False):
        acks = group.loc[group["stage"].isin(ACK_STAGES), "posted_at"]
        resolved = group.loc[group["stage"] == "resolved", "posted_at"]
        rows.append(
            {
                "provider": provider,
                "incident_id": incident_id,
                "title": group["title"].iloc[0],
                "first_post": group["posted_at"].min(),
                "acknowledged": acks.min() if len(acks) else pd.NaT,
                "resolved": resolved.max() if len(resolved) else pd.NaT,
                "components": group["components"].iloc[0] if "components" in group else None,
            }
        )
    return pd.DataFrame(rows, columns=columns).sort_values("first_post", ignore_index=True)


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


def summarize(matches: pd.DataFrame, episodes: pd.DataFrame, before: str = "2h", after: str = "1h") -> dict:
    """Precision (share of episodes inside some incident's window), recall (share
    of incidents with an episode) and the median lead time of detected incidents."""
    lo, hi = _windows(matches, before, after)
    true_episodes = sum(bool(((lo <= start) & (start <= hi)).any()) for start in episodes["start"])
    detected = matches[matches["detected"]]
    return {
        "incidents": int(len(matches)),
        "detected": int(len(detected)),
        "episodes": int(len(episodes)),
        "precision": true_episodes / len(episodes) if len(episodes) else None,
        "recall": len(detected) / len(matches) if len(matches) else None,
        "median_lead_minutes": float(detected["lead_minutes"].median()) if len(detected) else None,
    }


def _windows(incidents: pd.DataFrame, before: str, after: str) -> tuple[pd.Series, pd.Series]:
    first = pd.to_datetime(incidents["first_post"], utc=True)
    resolved = pd.to_datetime(incidents["resolved"], utc=True)
    earliest_end = first + pd.Timedelta(after)
    hi = resolved.where(resolved > earliest_end, earliest_end)
    return first - pd.Timedelta(before), hi
