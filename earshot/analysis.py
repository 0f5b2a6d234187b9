"""Glue between the store and the pure detector: load, detect, evaluate.

The detector library never touches a database; these functions read what it
needs from one, so the CLI and the dashboard compute the same things.
"""

from __future__ import annotations

import inspect

import pandas as pd
import sqlite_utils

from detector import (
    RollingBaselineDetector,
    counts_by,
    episodes,
    first_reports,
    match_incidents,
    official_incidents,
    summarize,
)

from .config import Config
from .store import load_incident_updates, load_posts

DEFAULT_BUCKET = "5min"


def bucket_of(config: Config) -> str:
    return str(config.detector.get("bucket", DEFAULT_BUCKET))


def detector_from_config(config: Config, **overrides) -> RollingBaselineDetector:
    """A detector with the ``[detector]`` settings of ``config`` (unknown keys ignored)."""
    accepted = set(inspect.signature(RollingBaselineDetector).parameters)
    params = {k: v for k, v in config.detector.items() if k in accepted}
    params.update(overrides)
    if isinstance(params.get("scales"), list):  # TOML has arrays, scikit-learn likes tuples
        params["scales"] = tuple(params["scales"])
    return RollingBaselineDetector(**params)


def service_sources(config: Config, service: str) -> list[str]:
    """The configured sources whose posts belong to ``service`` (status pages aside)."""
    return [s.name for s in config.sources if s.kind != "statuspage" and s.service in (service, None)]


def detect(db: sqlite_utils.Database, config: Config, service: str, since=None, until=None, detector=None):
    """Run the detector over a service's stored complaints.

    Unless ``[detector] unique_reporters = false``, only each author's first
    complaint an hour counts (``reporter_window``; see :func:`detector.first_reports`).

    Each configured source of the service is one column of counts, so the
    detector can weigh agreement between sources (a source with no complaint
    is a column of zeros, not a missing column).

    Returns ``(result, found)``: the per-bucket frame of
    :meth:`RollingBaselineDetector.fit_predict` and one row per episode, with
    the ``sources`` whose complaints fell inside it.
    """
    freq = bucket_of(config)
    complaints = load_posts(db, service=service, since=since, until=until, complaints_only=True)
    if config.detector.get("unique_reporters", True):
        complaints = first_reports(complaints, within=str(config.detector.get("reporter_window", "1h")))
    detector = detector or detector_from_config(config)
    start = since if since is not None else (complaints["created_at"].min() if len(complaints) else None)
    # The series runs to what has been heard: ``until`` (exclusive), else the newest post of any kind.
    end = pd.Timestamp(until) - pd.Timedelta(microseconds=1) if until is not None else latest_post(db, service)
    if start is None or end is None:
        return pd.DataFrame(), episodes(pd.DataFrame()).assign(sources=[])
    names = service_sources(config, service)
    names += sorted(set(complaints["source"]) - set(names))
    counts = counts_by(complaints, "source", freq, start=start, end=end).reindex(columns=names, fill_value=0)
    result = detector.fit_predict(without_gaps(counts, source_days(db, service)))
    found = episodes(result)
    found["sources"] = [sorted(episode_posts(complaints, row, freq)["source"].unique()) for row in found.itertuples()]
    return result, found


def episode_posts(posts: pd.DataFrame, episode, freq: str) -> pd.DataFrame:
    """The posts that fell inside one episode's buckets (``episode`` is a row
    of :func:`detector.episodes`, as a Series or a named tuple)."""
    stamps = posts["created_at"]
    return posts[(stamps >= episode.first_bucket) & (stamps < episode.last_bucket + pd.Timedelta(freq))]


def service_incidents(db: sqlite_utils.Database, config: Config, service: str, since=None, until=None) -> pd.DataFrame:
    """The official incidents of a service's provider, limited to its components."""
    spec = config.service(service)
    if not spec.provider:
        return official_incidents(pd.DataFrame())
    incidents = official_incidents(load_incident_updates(db, spec.provider, since=since, until=until))
    if spec.components and len(incidents):
        wanted = set(spec.components)
        touches = incidents["components"].map(lambda c: not c or bool(wanted & set(c.split(","))))
        incidents = incidents[touches].reset_index(drop=True)
    return incidents


def latest_post(db: sqlite_utils.Database, service: str) -> pd.Timestamp | None:
    """When the newest stored post of ``service`` was made (None: no post)."""
    newest = db.execute("SELECT max(created_at) FROM posts WHERE service = ?", [service]).fetchone()[0]
    return None if newest is None else pd.Timestamp(newest)


def source_days(db: sqlite_utils.Database, service: str) -> set[tuple[str, str]]:
    """``(source, YYYY-MM-DD)`` for each UTC day on which a source stored any
    post of the service, complaint or not."""
    rows = db.query(
        "SELECT DISTINCT source, substr(created_at, 1, 10) AS day FROM posts WHERE service = ?", [service]
    )
    return {(row["source"], row["day"]) for row in rows}


def without_gaps(counts: pd.DataFrame, days: set[tuple[str, str]]) -> pd.DataFrame:
    """Counts with every day a source stored nothing at all marked missing (NaN).

    A day without a single post, not even chatter, means the source was not
    being read (a collector down, a history not backfilled), not that all
    was well: its zeros must not teach the baseline that silence is normal.

    >>> index = pd.date_range("2023-11-07T23:55Z", periods=2, freq="5min")
    >>> without_gaps(pd.DataFrame({"forum": [0, 1]}, index=index), {("forum", "2023-11-08")})["forum"].tolist()
    [nan, 1.0]
    """
    day_of = counts.index.normalize()
    out = counts.astype(float)
    for name in counts.columns:
        seen = pd.to_datetime(sorted(day for source, day in days if source == name), utc=True)
        out[name] = out[name].where(day_of.isin(seen))
    return out


def covered_days(db: sqlite_utils.Database, service: str) -> set[str]:
    """UTC dates (``YYYY-MM-DD``) on which the service has any stored post."""
    rows = db.query("SELECT DISTINCT substr(created_at, 1, 10) AS day FROM posts WHERE service = ?", [service])
    return {row["day"] for row in rows}


def evaluate(db: sqlite_utils.Database, config: Config, service: str):
    """Match a service's episodes to its official incidents on the days we have posts for.

    Returns ``(matches, summary)`` as :func:`detector.match_incidents` and
    :func:`detector.summarize` give them.
    """
    _, found = detect(db, config, service)
    incidents = service_incidents(db, config, service)
    days = covered_days(db, service)
    if len(incidents):
        incidents = incidents[incidents["first_post"].dt.strftime("%Y-%m-%d").isin(days)].reset_index(drop=True)
    matches = match_incidents(found, incidents)
    return matches, summarize(matches, found, weeks=len(days) / 7 if days else None)
