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
    complaint_counts,
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
    return RollingBaselineDetector(**params)


def detect(db: sqlite_utils.Database, config: Config, service: str, since=None, until=None, detector=None):
    """Run the detector over a service's stored complaints.

    Unless ``[detector] unique_reporters = false``, only each author's first
    complaint per bucket counts (see :func:`detector.first_reports`).

    Returns ``(result, found)``: the per-bucket frame of
    :meth:`RollingBaselineDetector.fit_predict` and one row per episode, with
    the ``sources`` whose complaints fell inside it.
    """
    freq = bucket_of(config)
    complaints = load_posts(db, service=service, since=since, until=until, complaints_only=True)
    if config.detector.get("unique_reporters", True):
        complaints = first_reports(complaints, freq)
    detector = detector or detector_from_config(config)
    start = since if since is not None else (complaints["created_at"].min() if len(complaints) else None)
    end = until if until is not None else (complaints["created_at"].max() if len(complaints) else None)
    if start is None or end is None:
        return pd.DataFrame(), episodes(pd.DataFrame()).assign(sources=[])
    counts = complaint_counts(complaints, freq, start=start, end=end)
    result = detector.fit_predict(counts)
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
    return matches, summarize(matches, found)
