"""How watch, its sources, services and channels are doing: the record behind
``earshot status --json`` and watch's ``/api/v1/status`` and ``/healthz``.

Exit codes (for cron, systemd and container checks): 0 all well; 1 a source's
last fetch failed or a channel keeps failing; 3 watch is not running.

>>> from earshot.config import load_config
>>> from earshot.store import open_db
>>> record = watch_status(open_db(":memory:"), load_config(), pd.Timestamp("2024-01-03T12:00Z"))
>>> record["watch"], record["exit"], record["services"][0]["state"]
('never', 3, 'no data')
"""

from __future__ import annotations

import pandas as pd
import sqlite_utils

from .config import Config
from .report import iso, service_state, watch_state
from .store import collector_states, load_heartbeat, load_watch_episodes, outbox_backlog, post_span

HEARTBEAT_FIELDS = ("pid", "host", "started_at", "last_pass_at", "stopped_at", "passes")


def watch_status(
    db: sqlite_utils.Database, config: Config, now: pd.Timestamp, episodes: list[dict] | None = None
) -> dict:
    """Everything ``earshot status --json`` prints, read from the database at
    ``now``; ``episodes`` are watch's episodes when the caller has read them already."""
    heartbeat = load_heartbeat(db)
    states = collector_states(db)
    names = list(heartbeat["sources"]) if heartbeat else [s.name for s in config.sources]
    sources = [source_health(name, states.get(name, {})) for name in names]
    episodes = [e for e in (load_watch_episodes(db) if episodes is None else episodes) if e["end"] is None]
    verdicts = []
    for service in config.services:
        span = post_span(db, service.name)
        mine = [e for e in episodes if e["service"] == service.name]
        verdict, says = service_state(service.name, span[1] if span else None, mine, now)
        verdicts.append(
            {"service": service.name, "state": verdict, "line": says, "newest_post_at": iso(span and span[1])}
        )
    record = {
        "watch": None,
        "line": None,
        "heartbeat": heartbeat and {k: heartbeat[k] for k in HEARTBEAT_FIELDS},
        "sources": sources,
        "services": verdicts,
        "open_episodes": episodes,
        "notifications": outbox_backlog(db),
        "exit": None,
    }
    return restamped(record, now, config.watch.stale_after)


def source_health(name: str, state: dict) -> dict:
    """One source's line of the status, from its collector state.

    >>> source_health("hn", {"last_ok_at": "2024-01-03T11:00:00+00:00", "last_error_at": "2024-01-03T11:05:00+00:00",
    ...                      "last_error": "HTTP 503"})["failing"]
    True
    """
    ok_at, error_at = state.get("last_ok_at"), state.get("last_error_at")
    failing = bool(error_at) and (not ok_at or error_at > ok_at)
    return {
        "source": name,
        "ok": not failing and bool(ok_at),
        "failing": failing,
        "last_ok_at": ok_at,
        "last_error": state.get("last_error") if failing else None,
        "last_error_at": error_at,
    }


def restamped(record: dict, now: pd.Timestamp, stale_after: float) -> dict:
    """``record`` with whether watch runs, and the exit code, judged at ``now``:
    a record read a while ago still says "stale" once its heartbeat is old."""
    state, line = watch_state(record["heartbeat"], now, stale_after)
    troubled = any(b["last_error"] for b in record["notifications"])
    failing = any(s["failing"] for s in record["sources"])
    code = 3 if state != "running" else 1 if failing or troubled else 0
    return {**record, "watch": state, "line": line, "exit": code}


def unhealthy_because(record: dict | None, now: pd.Timestamp, stale_after: float) -> str | None:
    """Why a load balancer should stop trusting this watch, or None while it is healthy:
    its passes are stale, or every source is failing.

    >>> beat = {"pid": 7, "host": "box", "last_pass_at": "2024-01-01T10:00:00+00:00", "stopped_at": None,
    ...         "passes": 42, "started_at": "2024-01-01T09:00:00+00:00"}
    >>> record = {"heartbeat": beat, "sources": [{"source": "hn", "failing": False}], "notifications": []}
    >>> unhealthy_because(record, pd.Timestamp("2024-01-01T10:00:20Z"), 300) is None
    True
    >>> unhealthy_because(record, pd.Timestamp("2024-01-01T11:00:00Z"), 300)[:40]
    'watch: stale: last pass 60 min ago (2024'
    """
    if record is None:
        return "watch has not finished its first pass"
    stamped = restamped(record, now, stale_after)
    if stamped["watch"] != "running":
        return stamped["line"]
    failing = [s["source"] for s in record["sources"] if s["failing"]]
    if record["sources"] and len(failing) == len(record["sources"]):
        return f"every source is failing: {', '.join(failing)}"
    return None
