"""Glue between the store and the pure detector: load, detect, evaluate.

The detector library never touches a database; these functions read what it
needs from one, so the CLI and the dashboard compute the same things.
"""

from __future__ import annotations

import pandas as pd
import sqlite_utils

from detector import (
    RollingBaselineDetector,
    episodes,
    match_incidents,
    official_incidents,
    summarize,
)

from .aggregates import complaint_counts, source_days
from .config import Config, detector_params
from .store import load_incident_updates, post_span, replace_alerts


def detector_from_config(config: Config, **overrides) -> RollingBaselineDetector:
    """A detector with the ``[detector]`` settings of ``config`` (checked when
    the config was read), and ``overrides`` on top, through ``set_params``.

    >>> from earshot.config import load_config
    >>> detector_from_config(load_config(), threshold=6.0).get_params()["threshold"]
    6.0
    """
    return RollingBaselineDetector().set_params(**detector_params({**config.detector, **overrides}))


def service_sources(config: Config, service: str) -> list[str]:
    """The configured sources whose posts belong to ``service`` (status pages aside)."""
    return [s.name for s in config.sources if s.kind != "statuspage" and s.service in (service, None)]


def detect(db: sqlite_utils.Database, config: Config, service: str, since=None, until=None, detector=None):
    """Run the detector over a service's stored complaints, ``since <= t < until``
    (default: from the first complaint to the newest post of any kind).

    Unless ``[detector] unique_reporters = false``, only each author's first
    complaint an hour counts (``reporter_window``; see :func:`detector.first_reports`).
    The counting happens inside SQLite (:func:`earshot.aggregates.complaint_counts`).

    Each configured source of the service is one column of counts, so the
    detector can weigh agreement between sources (a source with no complaint
    is a column of zeros, not a missing column).

    Returns ``(result, found)``: the per-bucket frame of
    :meth:`RollingBaselineDetector.fit_predict` and one row per episode, with
    the ``sources`` whose complaints fell inside it.
    """
    detector = detector or detector_from_config(config)
    if since is None:
        complaints = post_span(db, service, complaints_only=True)
        since = complaints[0] if complaints else None
    if until is None:
        span = post_span(db, service)
        until = span[1] + pd.Timedelta(seconds=1) if span else None
    if since is None or until is None or pd.Timestamp(since) >= pd.Timestamp(until):
        return pd.DataFrame(), episodes(pd.DataFrame()).assign(sources=[])
    counts = service_counts(db, config, service, since, until, configured_only=False)
    result = detector.fit_predict(without_gaps(counts, source_days(db, service, since, until)))
    found = episodes(result)
    found["sources"] = [heard_from(counts, row) for row in found.itertuples()]
    return result, found


def service_counts(
    db: sqlite_utils.Database, config: Config, service: str, since, until, configured_only: bool = True
) -> pd.DataFrame:
    """Complaints of ``service`` per bucket, one column per configured source
    (then, unless ``configured_only``, any other source that complained),
    counted as ``[counts]`` says.

    Counting starts a reporter window before ``since`` and is cut at
    ``since``, so counts read in pieces add up to counts read at once.
    """
    freq, window = config.counts.bucket, config.counts.window
    since = pd.Timestamp(since)
    early = since - pd.Timedelta(window) if window else since
    counts = complaint_counts(db, service, freq, early, until, reporter_window=window)
    counts = counts[counts.index >= since.floor(freq)]
    names = service_sources(config, service)
    if not configured_only:
        names += sorted(set(counts.columns) - set(names))
    return counts.reindex(columns=names, fill_value=0)


def detect_and_store(db: sqlite_utils.Database, config: Config, service: str) -> pd.DataFrame:
    """Detect over all of ``service``'s stored complaints and make the stored
    alerts exactly what was found (rerunning is safe); return the episodes."""
    _, found = detect(db, config, service)
    replace_alerts(db, service, found)
    return found


def heard_from(counts: pd.DataFrame, episode) -> list[str]:
    """The sources (columns of ``counts``) with a complaint inside one episode's buckets."""
    inside = counts.loc[episode.first_bucket : episode.last_bucket]
    return sorted(inside.columns[inside.sum() > 0])


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


def covered_days(db: sqlite_utils.Database, service: str, since=None, until=None) -> set[str]:
    """UTC dates (``YYYY-MM-DD``) on which the service has any stored post."""
    return {day for _, day in source_days(db, service, since, until)}


def evaluate(db: sqlite_utils.Database, config: Config, service: str, since=None, until=None, detector=None):
    """Match a service's episodes to its official incidents on the days we have posts for.

    Returns ``(matches, summary)`` as :func:`detector.match_incidents` and
    :func:`detector.summarize` give them.
    """
    _, found = detect(db, config, service, since, until, detector)
    return score_episodes(db, config, service, found, since, until)


def score_episodes(
    db: sqlite_utils.Database, config: Config, service: str, found: pd.DataFrame, since=None, until=None
):
    """``(matches, summary)`` of ``found`` against the official incidents of
    ``since <= t < until`` that fell on days with stored posts (an incident on a
    day nobody was listening cannot be heard)."""
    incidents = service_incidents(db, config, service, since, until)
    days = covered_days(db, service, since, until)
    if len(incidents):
        incidents = incidents[incidents["first_post"].dt.strftime("%Y-%m-%d").isin(days)].reset_index(drop=True)
    matches = match_incidents(found, incidents)
    return matches, summarize(matches, found, weeks=len(days) / 7 if days else None)
