"""From the detector's rows to what people are told: an episode's events.

``earshot watch`` reads the detector's result one pass at a time. Each
episode it sees goes through at most these events, each recorded once:

- ``opened``: the score reached ``threshold`` (the episode is ``possible``);
- ``confirmed``: it held, or reached ``confirm_threshold``;
- ``acknowledged``: the provider posted its first official update for it
  (with earshot's lead in minutes: positive when earshot was first);
- ``reminder``: every ``remind_every`` minutes while it stays open;
- ``resolved``: the detector closed it.

Rows of the newest buckets are *provisional* (a post may still arrive for
them): they may open or confirm an episode, which is the point of watching,
but only a settled quiet bucket resolves one.

>>> import pandas as pd
>>> index = pd.date_range("2023-11-08T13:40Z", periods=6, freq="5min")
>>> rows = pd.DataFrame({"count": [9, 20, 4, 0, 0, 0], "baseline": 0.2, "score": [6, 9, 3, 0, 0, 0],
...                      "alert": [True, True, True, False, False, False],
...                      "state": ["possible", "confirmed", "confirmed", "none", "none", "none"]}, index=index)
>>> [(e["id"], names) for e, names in track("chatgpt", None, rows, {}, index[-1] + pd.Timedelta("5min"))]
[('chatgpt-20231108T1340Z', ['opened', 'confirmed', 'resolved'])]
"""

from __future__ import annotations

import pandas as pd

from detector.episodes import bucket_step

from .report import iso

# An official incident counts as this episode's acknowledgment when its first
# post comes no earlier than this before the episode's first bucket (the
# window `earshot evaluate` matches with).
ACK_BEFORE = pd.Timedelta("2h")
TEXT_LIMIT = 280


def new_episode(service: str, bucket: pd.Timestamp, seen_at: pd.Timestamp) -> dict:
    """A freshly opened episode, named by its service and first bucket (a stable id)."""
    return {
        "id": f"{service}-{bucket.tz_convert('UTC'):%Y%m%dT%H%MZ}",
        "service": service,
        "first_bucket": iso(bucket),
        "start": iso(seen_at),
        "level": "possible",
        "confirmed_at": None,
        "end": None,
        "acknowledged_at": None,
        "official": None,
        "lead_minutes": None,
        "reminders": 0,
        "last_reminder_at": None,
        "peak_score": 0.0,
        "peak_count": 0,
        "reports": 0,
        "expected": 0.0,
        "sources": [],
        "problems": [],
    }


def track(
    service: str,
    episode: dict | None,
    rows: pd.DataFrame,
    heard: dict[pd.Timestamp, list[str]],
    settled_until: pd.Timestamp,
    now: pd.Timestamp | None = None,
    step: pd.Timedelta | None = None,
) -> list[tuple[dict, list[str]]]:
    """Walk ``rows`` (the detector's result for buckets not yet settled when
    last seen, oldest first) from ``episode`` (the open one, or None).

    ``heard`` gives, per bucket, the sources with a complaint in it.
    Returns each episode that changed with the events it went through, in
    order. A bucket counts as heard when it ends (or ``now``, if sooner);
    ``reports`` and ``expected`` add up settled buckets only, so walking the
    same provisional rows again next pass counts nothing twice.
    """
    step = step or bucket_step(rows.index)
    changes: list[tuple[dict, list[str]]] = []
    names: list[str] = []
    current = dict(episode) if episode else None
    for bucket, row in rows.iterrows():
        end = bucket + step
        seen_at = min(end, now) if now is not None else end
        settled = end <= settled_until
        if current is None:
            if not row["alert"]:
                continue
            current, names = new_episode(service, bucket, seen_at), ["opened"]
        if row["alert"]:
            count = 0 if pd.isna(row["count"]) else int(row["count"])
            current["peak_score"] = max(float(current["peak_score"]), float(row["score"]))
            current["peak_count"] = max(int(current["peak_count"]), count)
            current["sources"] = sorted(set(current["sources"]) | set(heard.get(bucket, [])))
            problem = row.get("problem")
            if isinstance(problem, str) and problem not in current.setdefault("problems", []):
                current["problems"] = [*current["problems"], problem]
            if settled:
                current["reports"] += count
                current["expected"] += float(row["baseline"])
            if row["state"] == "confirmed" and current["level"] != "confirmed":
                current["level"], current["confirmed_at"] = "confirmed", iso(seen_at)
                names.append("confirmed")
        elif settled:
            current["end"] = iso(end)
            names.append("resolved")
            changes.append((current, names))
            current, names = None, []
    if current is not None and (names or current != episode):
        changes.append((current, names))
    return changes


def provisional_reports(
    episode: dict, rows: pd.DataFrame, settled_until: pd.Timestamp, step: pd.Timedelta
) -> tuple[int, float]:
    """Reports and expected reports of ``episode``: its settled buckets' sums
    plus its alerting buckets not yet settled."""
    first = pd.Timestamp(episode["first_bucket"])
    tail = rows[(rows.index >= first) & (rows.index + step > settled_until) & rows["alert"]]
    return int(episode["reports"] + tail["count"].fillna(0).sum()), float(episode["expected"] + tail["baseline"].sum())


def acknowledgment(episode: dict, incidents: pd.DataFrame, updates: pd.DataFrame) -> dict | None:
    """The provider's word on ``episode``: the first official incident posted
    from :data:`ACK_BEFORE` before its first bucket, with its current stage.

    ``incidents`` as :func:`detector.official_incidents` gives them,
    ``updates`` the stored official updates (for the current stage).
    """
    if not len(incidents):
        return None
    first = pd.Timestamp(episode["first_bucket"])
    candidates = incidents[incidents["first_post"] >= first - ACK_BEFORE].sort_values("first_post")
    if not len(candidates):
        return None
    incident = candidates.iloc[0]
    own = updates[updates["incident_id"] == incident["incident_id"]].sort_values("posted_at")
    latest = own.iloc[-1] if len(own) else None
    return {
        "incident_id": incident["incident_id"],
        "title": incident["title"],
        "status": None if latest is None else latest["stage"],
        "first_post": iso(incident["first_post"]),
        "latest_post": None if latest is None else iso(latest["posted_at"]),
    }


def lead_minutes(episode: dict, official: dict) -> float:
    """Minutes from earshot's alert to the provider's first post (positive: earshot first).

    >>> lead_minutes({"start": "2023-11-08T13:45:00+00:00"}, {"first_post": "2023-11-08T13:54:00+00:00"})
    9.0
    """
    return round((pd.Timestamp(official["first_post"]) - pd.Timestamp(episode["start"])).total_seconds() / 60, 1)


def reminder_due(episode: dict, now: pd.Timestamp, remind_every: float) -> bool:
    """Whether an open episode is owed a reminder at ``now`` (every ``remind_every`` minutes; 0: never).

    >>> reminder_due({"end": None, "start": "2023-11-08T13:45Z", "last_reminder_at": None},
    ...              pd.Timestamp("2023-11-08T14:46Z"), remind_every=60)
    True
    """
    if not remind_every or episode["end"] is not None:
        return False
    since = pd.Timestamp(episode["last_reminder_at"] or episode["start"])
    return now - since >= pd.Timedelta(minutes=remind_every)


def event_payload(
    event: str,
    episode: dict,
    *,
    label: str,
    reports: int,
    expected: float,
    samples: list[dict],
    dashboard_url: str,
    created_at: pd.Timestamp,
    recent: int | None = None,
    recent_minutes: float | None = None,
) -> dict:
    """The JSON a webhook receives for one event (see README, "What people receive").

    ``recent`` is how many complaints the last ``recent_minutes`` brought (reminders say it)."""
    start = pd.Timestamp(episode["start"])
    minutes = max(
        1,
        round(
            (
                min(created_at, pd.Timestamp(episode["end"] or created_at)) - pd.Timestamp(episode["first_bucket"])
            ).total_seconds()
            / 60
        ),
    )
    payload = {
        "id": event_key(episode["id"], event, episode["reminders"]),
        "event": event,
        "episode": episode["id"],
        "service": episode["service"],
        "label": label,
        "level": episode["level"],
        "start": episode["start"],
        "confirmed_at": episode["confirmed_at"],
        "end": episode["end"],
        "peak_score": round(float(episode["peak_score"]), 2),
        "sources": list(episode["sources"]),
        "problems": list(episode.get("problems", [])),
        "reports": int(reports),
        "expected": round(float(expected), 2),
        "minutes": int(minutes),
        "recent_reports": recent,
        "recent_minutes": recent_minutes,
        "sample_posts": [
            {"source": s["source"], "created_at": s["created_at"], "text": clip(s["text"])} for s in samples[:3]
        ],
        "official": episode["official"],
        "lead_minutes": episode["lead_minutes"],
        "dashboard_url": replay_url(dashboard_url, episode["service"], start),
        "created_at": iso(created_at),
    }
    return payload


def event_key(episode_id: str, event: str, reminders: int = 0) -> str:
    """The unique name of one event of one episode (reminders are numbered).

    >>> event_key("chatgpt-20231108T1340Z", "reminder", 2)
    'chatgpt-20231108T1340Z/reminder-2'
    """
    return f"{episode_id}/{event}-{reminders}" if event == "reminder" else f"{episode_id}/{event}"


def replay_url(base: str, service: str, moment: pd.Timestamp) -> str:
    """The dashboard's Now page replaying ``moment``.

    >>> replay_url("http://localhost:8501/", "chatgpt", pd.Timestamp("2023-11-08T13:45Z"))
    'http://localhost:8501/?page=now&service=chatgpt&at=2023-11-08T13:45:00Z'
    """
    return f"{base.rstrip('/')}/?page=now&service={service}&at={moment.tz_convert('UTC'):%Y-%m-%dT%H:%M:%SZ}"


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    """Post text as one plain line of at most ``limit`` characters.

    >>> clip("is chatgpt\\n down?   " + "x" * 300, 20)
    'is chatgpt down? xx…'
    """
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
