"""Episodes and evaluations in words and records: one formatter for the CLI and the dashboard.

>>> summary = {"precision": 1.0, "recall": None, "median_lead_minutes": 9.0, "false_alarms_per_week": 0.0}
>>> summary_text(summary)
{'precision': '100%', 'recall': 'n/a', 'median_lead_minutes': '+9 min', 'false_alarms_per_week': '0.00'}
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from .words import ago, counted


def iso(value) -> str | None:
    """A time as ISO 8601, or None when there is none.

    >>> iso(pd.Timestamp("2023-11-08T13:45Z")), iso(pd.NaT)
    ('2023-11-08T13:45:00+00:00', None)
    """
    return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()


def safe_link(url) -> str | None:
    """Only http(s) URLs become links; anything else (``javascript:``, ``data:``) is dropped.

    >>> safe_link("https://status.openai.com/incidents/x"), safe_link("javascript:alert(1)")
    ('https://status.openai.com/incidents/x', None)
    """
    if isinstance(url, str) and url.strip().lower().startswith(("http://", "https://")):
        return url.strip()
    return None


def episode_record(service: str, episode) -> dict:
    """One row of :func:`earshot.analysis.detect`'s episodes as ``earshot detect --json`` prints it."""
    return {
        "service": service,
        "level": episode.level,
        "start": iso(episode.start),
        "confirmed_at": iso(episode.confirmed_at),
        "end": iso(episode.end),
        "peak_score": round(float(episode.peak_score), 2),
        "peak_count": int(episode.peak_count),
        "sources": list(episode.sources),
        "problems": list(getattr(episode, "problems", [])),
    }


def watch_episode_record(episode: dict) -> dict:
    """An episode ``earshot watch`` recorded, in :func:`episode_record`'s shape
    (what ``earshot detect --json`` prints) with its id and the official word.

    >>> record = watch_episode_record({"id": "chatgpt-20231108T1340Z", "service": "chatgpt", "level": "confirmed",
    ...     "start": "2023-11-08T13:43:51+00:00", "confirmed_at": None, "end": None, "peak_score": 253.41,
    ...     "peak_count": 70, "sources": ["reddit"], "problems": ["down"], "acknowledged_at": None,
    ...     "lead_minutes": None})
    >>> record["service"], record["end"], record["peak_score"], record["id"]
    ('chatgpt', None, 253.41, 'chatgpt-20231108T1340Z')
    """
    record = episode_record(episode["service"], SimpleNamespace(**episode))
    return {**record, **{key: episode[key] for key in ("id", "acknowledged_at", "lead_minutes")}}


def episode_line(record: dict) -> str:
    """An :func:`episode_record` as one line for people.

    >>> episode_line({"service": "chatgpt", "level": "confirmed", "start": "2023-11-08T13:45:00+00:00",
    ...               "end": None, "peak_score": 300.0, "peak_count": 77, "sources": ["hackernews", "forum"]})
    'chatgpt  confirmed  2023-11-08T13:45:00+00:00 -> (open)  peak score 300.0 (77 complaints/bucket)  sources: hackernews, forum'
    """
    return (
        f"{record['service']}  {record['level']:<9}  {record['start']} -> {record['end'] or '(open)'}  "
        f"peak score {record['peak_score']:.1f} ({record['peak_count']} complaints/bucket)  "
        f"sources: {', '.join(record['sources'])}"
    )


def match_record(match) -> dict:
    """One row of :func:`detector.match_incidents` as ``earshot evaluate --json`` prints it."""
    return {
        "incident_id": match.incident_id,
        "title": match.title,
        "first_official": iso(match.first_post),
        "alert_start": iso(match.alert_start),
        "detected": bool(match.detected),
        "lead_minutes": round(float(match.lead_minutes), 1) if match.detected else None,
    }


def evaluation_lines(service: str, matches: pd.DataFrame, summary: dict) -> list[str]:
    """What ``earshot evaluate`` prints: a line per incident, then the summary."""
    lines = [f"{'first official post (UTC)':<26} {'alert (UTC)':<20} {'lead':>7}  incident"]
    for row in matches.itertuples():
        alert = row.alert_start.strftime("%Y-%m-%d %H:%M") if row.detected else "missed"
        lead = f"{row.lead_minutes:+.0f} min" if row.detected else ""
        lines.append(f"{row.first_post.strftime('%Y-%m-%d %H:%M'):<26} {alert:<20} {lead:>7}  {row.title}")
    return [*lines, "", *summary_lines(service, summary)]


def summary_lines(service: str, summary: dict) -> list[str]:
    """The two closing lines of ``earshot evaluate`` for :func:`detector.summarize`'s figures."""
    per_week = _or_na(summary["false_alarms_per_week"], "{:.2f}")
    per_week = (
        f"{per_week} a week" if summary["false_alarms_per_week"] is not None else "no week of posts to count over"
    )
    mean_delay = summary["mean_ack_delay_minutes"]
    delay = (
        "no alert to grade against"
        if mean_delay is None
        else f"official post on average {abs(mean_delay)} min {'after' if mean_delay >= 0 else 'before'} the alert"
    )
    return [
        f"{service}: {summary['detected']}/{summary['incidents']} incidents detected "
        f"(recall {_or_na(summary['recall'], '{:.0%}')}), {summary['episodes']} episodes "
        f"(precision {_or_na(summary['precision'], '{:.0%}')}), "
        f"median lead {_or_na(summary['median_lead_minutes'], '{:+.1f} min')}, "
        f"90th percentile {_or_na(summary['p90_lead_minutes'], '{:+.1f} min')}",
        f"false alarms: {summary['false_alarms']} ({per_week}); provider grade {summary['grade'] or 'n/a'} ({delay})",
    ]


def summary_text(summary: dict) -> dict[str, str]:
    """The headline figures of :func:`detector.summarize` as the dashboard's metrics show them."""
    formats = {
        "precision": "{:.0%}",
        "recall": "{:.0%}",
        "median_lead_minutes": "{:+.0f} min",
        "false_alarms_per_week": "{:.2f}",
    }
    return {key: _or_na(summary.get(key), form) for key, form in formats.items()}


def _or_na(value, form: str) -> str:
    return "n/a" if value is None else form.format(value)


def watch_state(heartbeat: dict | None, now: pd.Timestamp, stale_after: float) -> tuple[str, str]:
    """Whether ``earshot watch`` is running on a database, from its heartbeat:
    ``(state, line)``, state one of ``running``, ``stale``, ``stopped``, ``never``.

    >>> beat = {"pid": 7, "host": "box", "last_pass_at": "2024-01-01T10:00:00+00:00", "stopped_at": None,
    ...         "passes": 42, "started_at": "2024-01-01T09:00:00+00:00"}
    >>> watch_state(beat, pd.Timestamp("2024-01-01T10:00:20Z"), stale_after=300)
    ('running', 'watch: running (pid 7 on box), last pass 20 s ago, 42 passes since 2024-01-01 09:00 UTC')
    >>> watch_state(beat, pd.Timestamp("2024-01-01T11:00:00Z"), stale_after=300)[1]
    'watch: stale: last pass 60 min ago (2024-01-01 10:00 UTC), more than 300 s; is it still running?'
    """
    if heartbeat is None:
        return "never", "watch: has never run on this database (`earshot watch` starts it)"
    last = pd.Timestamp(heartbeat["last_pass_at"])
    age = (now - last).total_seconds()
    if heartbeat.get("stopped_at"):
        return "stopped", f"watch: stopped at {pd.Timestamp(heartbeat['stopped_at']):%Y-%m-%d %H:%M} UTC"
    if age > stale_after:
        return "stale", (
            f"watch: stale: last pass {ago(age)} ago ({last:%Y-%m-%d %H:%M} UTC), "
            f"more than {stale_after:g} s; is it still running?"
        )
    return "running", (
        f"watch: running (pid {heartbeat['pid']} on {heartbeat['host']}), last pass {ago(age)} ago, "
        f"{heartbeat['passes']} passes since {pd.Timestamp(heartbeat['started_at']):%Y-%m-%d %H:%M} UTC"
    )


# With no post stored for this long, earshot does not know how a service is
# doing: it says "no data", never "normal" (the dashboard's Now page reads the
# same 24 hours).
NO_DATA_AFTER = pd.Timedelta(hours=24)


def heard_nothing_since(newest_post, now: pd.Timestamp) -> bool:
    """True when no post is stored (``newest_post`` None) or none in the
    last :data:`NO_DATA_AFTER` before ``now``."""
    return newest_post is None or now - pd.Timestamp(newest_post) > NO_DATA_AFTER


def service_state(service: str, newest_post, open_episodes: list[dict], now: pd.Timestamp) -> tuple[str, str]:
    """What can be said of ``service`` at ``now``: ``(state, line)``, state one
    of ``alert`` (an episode is open), ``normal`` or ``no data``.

    >>> now = pd.Timestamp("2024-01-03T12:00Z")
    >>> service_state("chatgpt", pd.Timestamp("2024-01-03T11:58Z"), [], now)
    ('normal', 'chatgpt: normal: no open episode, newest post 2 min ago')
    >>> service_state("chatgpt", pd.Timestamp("2024-01-01T09:00Z"), [], now)[1]
    'chatgpt: no data: no post stored in the last 24 hours (newest 2.1 days ago, 2024-01-01 09:00 UTC)'
    >>> service_state("claude", None, [], now)
    ('no data', 'claude: no data: no post of it is stored')
    >>> episode = {"id": "chatgpt-20240103T1140Z", "level": "confirmed", "start": "2024-01-03T11:41:00+00:00",
    ...            "peak_score": 31.5}
    >>> service_state("chatgpt", now, [episode], now)[1]
    'chatgpt: alert: chatgpt-20240103T1140Z (confirmed since 11:41 UTC, peak score 31.5)'
    """
    if open_episodes:
        return "alert", f"{service}: alert: " + "; ".join(
            f"{e['id']} ({e['level']} since {pd.Timestamp(e['start']):%H:%M} UTC, peak score {e['peak_score']:.1f})"
            for e in open_episodes
        )
    if newest_post is None:
        return "no data", f"{service}: no data: no post of it is stored"
    newest = pd.Timestamp(newest_post)
    age = (now - newest).total_seconds()
    if heard_nothing_since(newest, now):
        return "no data", (
            f"{service}: no data: no post stored in the last 24 hours "
            f"(newest {ago(age)} ago, {newest:%Y-%m-%d %H:%M} UTC)"
        )
    return "normal", f"{service}: normal: no open episode, newest post {ago(age)} ago"


def detect_summary(service: str, episodes: int, newest_post, now: pd.Timestamp) -> str:
    """``earshot detect``'s line for one service: how many episodes, and
    whether anything was heard lately enough to say more.

    >>> now = pd.Timestamp("2024-01-03T12:00Z")
    >>> detect_summary("chatgpt", 1, pd.Timestamp("2024-01-03T11:00Z"), now)
    'chatgpt: 1 alert episode'
    >>> detect_summary("chatgpt", 0, pd.Timestamp("2023-11-09T00:00Z"), now)
    'chatgpt: 0 alert episodes up to its newest post, 2023-11-09 00:00 UTC; no data since (55.5 days)'
    >>> detect_summary("claude", 0, None, now)
    'claude: no data: no post of it is stored'
    """
    if newest_post is None:
        return f"{service}: no data: no post of it is stored"
    newest = pd.Timestamp(newest_post)
    found = f"{service}: {counted(episodes, 'alert episode')}"
    if heard_nothing_since(newest, now):
        return f"{found} up to its newest post, {newest:%Y-%m-%d %H:%M} UTC; no data since ({ago((now - newest).total_seconds())})"
    return found
