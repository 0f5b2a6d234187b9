"""What the dashboard's pages read, cached.

Every page asks for aggregates (SQLite does the grouping, see
:mod:`earshot.aggregates`) and detector runs, cached with ``st.cache_data``.
Each cached function takes the database's :func:`earshot.store.data_stamp`, so a collector
storing new posts invalidates exactly what changed and nothing else.

Connections are per browser session and read-only: SQLite objects must not
be shared between the threads that serve different sessions. Cached functions
take the connection as ``_db`` (left out of the cache key) beside its path.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import sqlite_utils
import streamlit as st

from earshot import aggregates, store
from earshot.analysis import detect, detector_from_config, score_episodes, service_incidents
from earshot.config import Config, load_config
from earshot.kinds import KINDS

# The baseline learns its hour-of-week rhythm from up to this long before what is shown.
LEARN_BEFORE = pd.Timedelta(days=35)
CACHE = {"max_entries": 64, "show_spinner": False}


@st.cache_resource
def config_at(path: str | None) -> Config:
    return load_config(path)


def connect(path: str) -> sqlite_utils.Database:
    """A read-only connection for this browser session only."""
    key = f"db:{path}"
    if key not in st.session_state:
        # Wait for a writer's lock as long as the writers do, rather than show "database is locked".
        conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, check_same_thread=False, timeout=30)
        st.session_state[key] = sqlite_utils.Database(conn)
    return st.session_state[key]


@st.cache_data(**CACHE)
def is_demo(_db, db_path: str, stamp: tuple) -> bool:
    return bool(store.get_meta(_db, "demo", False))


@st.cache_data(**CACHE)
def stored_span(_db, db_path: str, stamp: tuple, service: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The first and last stored post of ``service``."""
    return store.post_span(_db, service)


@st.cache_data(**CACHE)
def detection(
    _db,
    db_path: str,
    stamp: tuple,
    config_path,
    service: str,
    since,
    until,
    params: tuple = (),
    band: bool = False,
    exact: bool = False,
):
    """Episodes and the per-bucket frame for ``since <= t < until``, with the
    baseline warmed on the :data:`LEARN_BEFORE` before ``since``.

    ``params`` overrides the config's detector settings (``(name, value)`` pairs).
    Returns ``(result, found, level)``: with ``band``, ``level`` is the count
    that would open an episode in each bucket (the top of the chart's band);
    it costs a search per bucket, so long ranges go without. With
    ``exact``, each alert is timed to the post that raised it, as ``earshot
    detect`` times it; without, to the end of the bucket that crossed the
    threshold (re-reading a year of episodes post by post takes seconds).
    """
    config = config_at(config_path)
    detector = detector_from_config(config, **dict(params))
    result, found = detect(
        _db,
        config,
        service,
        since=since - LEARN_BEFORE,
        until=until,
        detector=detector,
        exact_start=exact,
        exact_since=since,
    )
    if not len(result):
        return result, found, pd.Series(dtype=float)
    result = result[result.index >= since.floor(config.counts.bucket)]
    found = found[found["last_bucket"] >= since].reset_index(drop=True)
    level = detector.alert_level(result) if band else pd.Series(index=result.index, dtype=float)
    return result, found, level


@st.cache_data(**CACHE)
def scored(_db, db_path: str, stamp: tuple, config_path, service: str, since, until, params: tuple = ()):
    """``(found, matches, summary)``: episodes that started in the range, scored
    against the official incidents of the days with posts."""
    config = config_at(config_path)
    _, found, _ = detection(_db, db_path, stamp, config_path, service, since, until, params)
    found = found[found["start"] >= since].reset_index(drop=True)
    matches, summary = score_episodes(_db, config, service, found, since, until)
    return found, matches, summary


@st.cache_data(**CACHE)
def stored_alerts(_db, db_path: str, stamp: tuple, service: str) -> pd.DataFrame:
    """The episodes ``earshot detect`` stored last, newest first."""
    return store.load_alerts(_db, service).sort_values("start", ascending=False, ignore_index=True)


@st.cache_data(**CACHE)
def official_updates(_db, db_path: str, stamp: tuple, provider: str | None, since, until) -> pd.DataFrame:
    # No provider matches no update (None would mean every provider's).
    return store.load_incident_updates(_db, provider or "", since=since, until=until)


@st.cache_data(**CACHE)
def incidents(_db, db_path: str, stamp: tuple, config_path, service: str, since, until) -> pd.DataFrame:
    return service_incidents(_db, config_at(config_path), service, since, until)


@st.cache_data(**CACHE)
def problem_counts(_db, db_path: str, stamp: tuple, service: str, since, until) -> pd.Series:
    return aggregates.problem_counts(_db, service, since, until)


@st.cache_data(**CACHE)
def latest_complaints(_db, db_path: str, stamp: tuple, service: str, since, until, limit: int = 100) -> pd.DataFrame:
    return aggregates.latest_complaints(_db, service, since, until, limit)


@st.cache_data(**CACHE)
def source_health(_db, db_path: str, stamp: tuple, config_path) -> pd.DataFrame:
    """One row per source (configured or seen): collector state, posting rate, backfill."""
    config = config_at(config_path)
    activity = aggregates.source_activity(_db, hours=24)
    state = store.collector_states(_db)
    newest_by_source = activity["newest"].to_dict()
    jobs = store.load_backfill_jobs(_db)
    kinds = {s.name: s.kind for s in config.sources}
    names = [s.name for s in config.sources] + sorted((set(state) | set(newest_by_source)) - set(kinds))
    rows = []
    providers = {s.name: s.provider or s.service for s in config.sources if KINDS[s.kind].official}
    for name in names:
        seen = state.get(name, {})
        if name in providers:  # a status page stores official updates, not posts
            newest = store.newest_official_update(_db, providers[name])
            rate = None
        else:
            newest, rate = newest_by_source.get(name), float(activity["per_hour"].get(name, 0.0))
        rows.append(
            {
                "source": name,
                "kind": kinds.get(name, "not in config"),
                "last successful fetch": _stamp(seen.get("last_ok_at")),
                "last error": seen.get("last_error") or "",
                "last error at": _stamp(seen.get("last_error_at")),
                "newest post": _stamp(newest),
                "posts/hour": rate,
                "backfill": backfill_summary(jobs[jobs["source"] == name]) or "no",
            }
        )
    health = pd.DataFrame(rows)
    for column in ("last successful fetch", "last error at", "newest post"):
        health[column] = pd.to_datetime(health[column], utc=True)
    return health


def heard_nothing(result: pd.DataFrame) -> bool:
    """True when no source stored any post for the newest bucket shown: a
    day with no post is missing, not quiet, and earshot cannot say "normal"."""
    return not len(result) or pd.isna(result["count"].iloc[-1])


def open_incident_update(updates: pd.DataFrame, incidents: pd.DataFrame) -> pd.Series | None:
    """The newest official update of an incident still open, or None when none is."""
    open_ids = incidents.loc[incidents["resolved"].isna(), "incident_id"]
    current = updates[updates["incident_id"].isin(open_ids)]
    return current.iloc[-1] if len(current) else None


def backfill_summary(jobs: pd.DataFrame) -> str | None:
    """What the backfills of one source are doing, in a phrase (None: never backfilled).

    >>> jobs = pd.DataFrame([{"since": "2023-11-01T00:00:00+00:00", "until": "2023-12-01T00:00:00+00:00",
    ...     "done_until": "2023-11-16T00:00:00+00:00", "status": "running", "new": 1200}])
    >>> backfill_summary(jobs)
    'running: 2023-11-01 to 2023-12-01, 50% (1,200 posts)'
    """
    if not len(jobs):
        return None
    job = jobs.iloc[-1]
    since, until = pd.Timestamp(job["since"]), pd.Timestamp(job["until"])
    # Backfills run forward: everything before ``done_until`` is stored.
    done = pd.Timestamp(job["done_until"]) if job.get("done_until") else since
    share = (done - since) / (until - since) if until > since else 1.0
    text = f"{job['status']}: {since:%Y-%m-%d} to {until:%Y-%m-%d}, {share:.0%} ({int(job.get('new') or 0):,} posts)"
    if job["status"] == "failed" and job.get("error"):
        text += f": {job['error']}"
    return text


def _stamp(value) -> pd.Timestamp | None:
    return pd.Timestamp(value) if value else None
