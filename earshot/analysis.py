"""Glue between the store and the pure detector: load, detect, evaluate.

The detector library never touches a database; these functions read what it
needs from one, so the CLI and the dashboard compute the same things.
"""

from __future__ import annotations

import copy
import dataclasses

import pandas as pd
import sqlite_utils
from sklearn.base import clone

from detector import (
    RollingBaselineDetector,
    episodes,
    match_incidents,
    official_incidents,
    summarize,
)
from earshot.complaints.rules import PROBLEM_TYPES

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


def detect(
    db: sqlite_utils.Database,
    config: Config,
    service: str,
    since=None,
    until=None,
    detector=None,
    exact_start=True,
    exact_since=None,
):
    """Run the detector over a service's stored complaints, ``since <= t < until``
    (default: from the first complaint to the newest post of any kind).

    Unless ``[detector] unique_reporters = false``, only each author's first
    complaint an hour counts (``reporter_window``; see :func:`detector.first_reports`).
    The counting happens inside SQLite (:func:`earshot.aggregates.complaint_counts`).

    Each configured source of the service is one column of counts, so the
    detector can weigh agreement between sources (a source with no complaint
    is a column of zeros, not a missing column); with ``[counts] by_problem``
    each source's column is split by problem type, and each type is scored too.
    The bucket holding ``until`` is scored for the part of it heard so far.

    Returns ``(result, found)``: the per-bucket frame of
    :meth:`RollingBaselineDetector.fit_predict` and one row per episode, with
    the ``sources`` whose complaints fell inside it. An episode's ``start`` is
    when the complaint that raised it was posted: the moment the evidence was
    in, never later than ``until``. Finding that moment reads each episode's
    first bucket again post by post; with ``exact_start=False`` (a year of
    episodes on a dashboard page) ``start`` is when that bucket's evidence
    was complete: its end, or ``until``; with ``exact_since``, only the
    episodes still open at or after it are timed to the post (a page that
    learns from weeks before what it shows).
    """
    detector = detector or detector_from_config(config)
    if since is None:
        complaints = post_span(db, service, complaints_only=True)
        since = complaints[0] if complaints else None
    if until is None:
        span = post_span(db, service)
        until = span[1] + pd.Timedelta(seconds=1) if span else None
    nothing = pd.DataFrame(), episodes(pd.DataFrame()).assign(sources=[])
    if since is None or until is None or pd.Timestamp(since) >= pd.Timestamp(until):
        return nothing
    counts = service_counts(db, config, service, since, until, configured_only=False)
    if not counts.shape[1]:  # no source reports on the service: nothing to count
        return nothing
    counts = without_gaps(counts, source_days(db, service, since, until))
    result = detector.fit_predict(counts, until=until)
    found = episodes(result)
    timed = found[found["last_bucket"] >= exact_since] if exact_since is not None and len(found) else found
    if len(timed) and exact_start:
        found.loc[timed.index, "start"] = evidence_starts(db, config, service, detector, counts, timed, until)
    found["sources"] = [heard_from(counts, row) for row in found.itertuples()]
    return result, found


def stored_episodes(path, config: Config, service: str, detector=None) -> pd.DataFrame:
    """The episodes :func:`detect` finds in the database at ``path`` (a
    worker process can run it: it opens its own connection)."""
    db = sqlite_utils.Database(path)
    try:
        return detect(db, config, service, detector=detector)[1]
    finally:
        db.close()


def evidence_starts(db, config: Config, service: str, detector, counts: pd.DataFrame, found, until) -> pd.Series:
    """When the evidence that opened each episode of ``found`` was in: the
    first complaint of its first bucket after which that bucket, scored for
    the part of it heard so far (as a live run scores it), opens the episode.
    The detector's own ``start`` (the bucket's end, or ``until``) when no such
    moment is found, or when the episode opens on the first bucket (no state
    before it).

    One detector reads the counts up to each episode's first bucket in turn
    (``update`` gives what a fit would), and a copy of it hears that bucket
    post by post.
    """
    probe, read_to, starts = clone(detector), None, []
    for episode in found.itertuples():
        first = pd.Timestamp(episode.first_bucket)
        before = counts[(counts.index < first) & ((counts.index >= read_to) if read_to is not None else True)]
        if read_to is None and not len(before):
            starts.append(episode.start)
            continue
        if len(before):
            probe.fit(before) if read_to is None else probe.update(before)
        read_to = first
        starts.append(first_alerting_moment(db, config, service, probe, counts.columns, episode, until))
    return pd.Series(pd.to_datetime(starts, utc=True), index=found.index)


def first_alerting_moment(db, config: Config, service: str, probe, columns, episode, until) -> pd.Timestamp:
    """The first complaint in ``episode``'s first bucket after which ``probe``
    (holding the state just before that bucket) alerts on the bucket heard so far."""
    first = pd.Timestamp(episode.first_bucket)
    end = min(pd.Timestamp(episode.start), pd.Timestamp(until))
    # The bucket counted second by second, once: what had been heard by each complaint is a running sum.
    by_second = dataclasses.replace(config, counts=dataclasses.replace(config.counts, bucket="1s"))
    seconds = service_counts(db, by_second, service, first, end, configured_only=False)
    seconds = seconds.reindex(columns=columns, fill_value=0)
    heard_by = seconds.cumsum()[seconds.to_numpy().sum(axis=1) > 0]
    for moment, heard in heard_by.iterrows():
        partial = pd.DataFrame([heard.to_numpy()], index=pd.DatetimeIndex([first]), columns=columns)
        # The post, stamped to the second, is in a second later.
        if copy.deepcopy(probe).update(partial, until=moment + pd.Timedelta(seconds=1))["alert"].iloc[-1]:
            return min(moment, episode.start)
    return episode.start


def service_counts(
    db: sqlite_utils.Database, config: Config, service: str, since, until, configured_only: bool = True
) -> pd.DataFrame:
    """Complaints of ``service`` per bucket, one column per configured source
    (then, unless ``configured_only``, any other source that complained),
    counted as ``[counts]`` says: with ``by_problem``, one column per source
    and problem type (``""``: none named), every pair present.

    Counting starts a reporter window before ``since`` and is cut at
    ``since``, so counts read in pieces add up to counts read at once.
    """
    freq, window = config.counts.bucket, config.counts.window
    since = pd.Timestamp(since)
    early = since - pd.Timedelta(window) if window else since
    by_problem = config.counts.by_problem
    counts = complaint_counts(db, service, freq, early, until, reporter_window=window, by_problem=by_problem)
    counts = counts[counts.index >= since.floor(freq)]
    names = service_sources(config, service)
    if not configured_only:
        found = counts.columns.get_level_values(0) if len(counts.columns) else []
        names += sorted(set(found) - set(names))
    if not by_problem:
        return counts.reindex(columns=names, fill_value=0)
    # A type the classifier may name that is not one of ours counts as unnamed,
    # so the columns are the same on every call (the watch updates a detector).
    types = [*PROBLEM_TYPES, ""]
    if len(counts.columns):
        known = counts.columns.get_level_values(1).isin(types)
        if not known.all():
            other = counts.loc[:, ~known].T.groupby(level=0).sum().T
            counts = counts.loc[:, known]
            for source in other.columns:
                counts[(source, "")] = counts.get((source, ""), 0) + other[source]
    wanted = pd.MultiIndex.from_product([names, types])
    return counts.reindex(columns=wanted, fill_value=0)


def detect_and_store(db: sqlite_utils.Database, config: Config, service: str) -> pd.DataFrame:
    """Detect over all of ``service``'s stored complaints and make the stored
    alerts exactly what was found (rerunning is safe); return the episodes."""
    _, found = detect(db, config, service)
    replace_alerts(db, service, found)
    return found


def heard_from(counts: pd.DataFrame, episode) -> list[str]:
    """The sources (columns of ``counts``) with a complaint inside one episode's buckets."""
    inside = counts.loc[episode.first_bucket : episode.last_bucket]
    if inside.columns.nlevels > 1:
        inside = inside.T.groupby(level=0).sum().T
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
        source = name[0] if isinstance(name, tuple) else name  # (source, problem) columns
        seen = pd.to_datetime(sorted(day for stored, day in days if stored == source), utc=True)
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
