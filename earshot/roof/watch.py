"""``earshot watch``: poll every source on its own interval, detect as posts
arrive, record each episode's events once, and hand them to the senders.

One :class:`Watcher` per database. Each pass:

1. starts a fetch for every source that is due and not already being
   fetched, each on its own thread and bounded by its deadline (a stalled
   source never holds up the others);
2. stores what the finished fetches brought, on this thread (one writer);
3. when anything new was stored or time has moved on, advances each
   service's detector from its persisted state by the buckets that have
   settled (:meth:`RollingBaselineDetector.update`, not a refit) and scores
   the newest, unsettled buckets on a copy; a state whose detector settings
   no longer match the config is rebuilt from the stored history;
4. turns the episode changes into events (:mod:`earshot.events`) and writes
   them, with one delivery per channel that wants them, in the transaction
   that records the episode's new state (the outbox);
5. tells the channels of quiet windows that ended, and stores a heartbeat.

A :class:`earshot.notify.Sender` delivers the outbox on its own threads.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import os
import pickle
import platform
import queue
import socket
import threading
import time
from dataclasses import asdict
from importlib import metadata

import pandas as pd

from collectors.collect import Fetched, asked_to_wait, fetch_source, store_fetched
from collectors.http import HttpClient
from collectors.readers import reader_for
from detector import RollingBaselineDetector
from earshot import __version__
from earshot.aggregates import source_days
from earshot.analysis import detector_from_config, service_counts, service_incidents, service_sources, without_gaps
from earshot.config import Config
from earshot.events import (
    acknowledgment,
    event_key,
    event_payload,
    lead_minutes,
    provisional_reports,
    reminder_due,
    track,
)
from earshot.kinds import KINDS
from earshot.notify import check_channel
from earshot.report import iso
from earshot.store import (
    collector_states,
    count_complaints,
    get_state,
    held_deliveries_ending,
    load_detector_state,
    load_incident_updates,
    open_db,
    open_watch_episode,
    post_span,
    record_episode_events,
    release_held,
    sample_complaints,
    save_detector_state,
    save_heartbeat,
)
from earshot.timeutil import utc_now
from earshot.words import ago, counted

log = logging.getLogger("earshot.watch")
# State format: bump when what is pickled changes shape.
STATE_VERSION = 3
STATE_LIBRARIES = {
    "python": platform.python_version(),
    "earshot": __version__,
    **{name: metadata.version(name) for name in ("numpy", "pandas", "scikit-learn", "scipy")},
}
# Detection runs at least this often with nothing new, for reminders, acknowledgments and settling.
DETECT_EVERY = pd.Timedelta("30s")
HEARTBEAT_EVERY = 5.0
# Batches a stream may have waiting to be stored (each at most half a second of posts): past
# this the stream waits on its socket, and the server holds what it has not sent.
STREAM_QUEUE = 64
# A stream kept waiting this long on a full queue says, once, that it is falling behind.
BEHIND_AFTER = 5.0
# A stream's new posts are summed up in the log this often (its batches come every half second).
STREAM_TALLY_EVERY = 60.0


class Watcher:
    """Watch the sources and services of ``config`` into the database at ``db_path``.

    ``clock`` returns the current UTC time (tests pass their own, to replay a
    day in seconds); ``classifier`` judges posts as :func:`earshot.ingest.ingest` does.
    """

    def __init__(self, db_path, config: Config, classifier, client: HttpClient | None = None, clock=utc_now):
        self.db_path = db_path
        self.config = config
        self.classifier = classifier
        self.client = client or HttpClient(timeout=15.0, attempts=3)
        self.clock = clock
        self.db = open_db(db_path, on_upgrade=log.info)  # the first connection: an upgrade is logged
        self.step = pd.Timedelta(config.counts.bucket)
        self.results: queue.Queue[Fetched] = queue.Queue()
        # What stream sources read, batch by batch; bounded, so memory is too.
        self.streamed: queue.Queue[Fetched] = queue.Queue(maxsize=STREAM_QUEUE)
        self.streams = [s for s in config.sources if KINDS[s.kind].streams]
        self._following: list[threading.Thread] = []
        self._stream_names = {s.name for s in self.streams}
        self._tallies: dict[str, list] = {}
        # Set whenever a fetch or a stream batch is ready, so the loop sleeps until then.
        self._arrived = threading.Event()
        self.in_flight: dict[str, pd.Timestamp] = {}
        self.next_due: dict[str, pd.Timestamp] = {}
        self.passes = 0
        self.started_at = iso(clock())
        self._detected_at: pd.Timestamp | None = None
        self._heartbeat_at = 0.0
        self._dirty = True
        self._errors: dict[str, str] = {}
        for notifier in config.notify:
            check_channel(notifier)

    # -- fetching ----------------------------------------------------------------

    def start_due(self, now: pd.Timestamp) -> list[str]:
        """Start a fetch of every source that is due at ``now``; return their names."""
        started = []
        for source in self.config.sources:
            if source.name in self.in_flight or self.next_due.get(source.name, now) > now:
                continue
            if self._following and source in self.streams:
                continue  # followed live on its own thread
            state = get_state(self.db, source.name)
            waiting = asked_to_wait(state, now.to_pydatetime())
            if waiting is not None:  # its server asked (Retry-After) not to be asked before then
                self.next_due[source.name] = pd.Timestamp(waiting)
                continue
            deadline = self.config.watch.deadline_for(source)
            self.in_flight[source.name] = now
            self.next_due[source.name] = now + pd.Timedelta(seconds=self.config.watch.interval_for(source))
            thread = threading.Thread(
                target=lambda s=source, st=state, d=deadline: self._arrive(
                    self.results, fetch_source(self.config, s, self.client, st, deadline=d)
                ),
                name=f"fetch-{source.name}",
                daemon=True,  # a fetch still running when watch stops must not keep it alive
            )
            thread.start()
            started.append(source.name)
        return started

    def _arrive(self, into: queue.Queue, fetched: Fetched) -> None:
        into.put(fetched)
        self._arrived.set()

    def store_results(self, timeout: float = 0.0, wait_all: bool = False) -> list:
        """Store the fetches that have finished and the stream batches read,
        waiting up to ``timeout`` for the first (or, with ``wait_all``, for
        every fetch in flight); return their reports."""
        reports = []
        ends = time.monotonic() + timeout
        while True:
            self._arrived.clear()  # before draining: whatever arrives after is waited for, not missed
            for fetched in _drained(self.results) + _drained(self.streamed):
                self.in_flight.pop(fetched.source.name, None)
                report = store_fetched(self.db, self.config, fetched, self.classifier)
                if report.new:
                    self._dirty = True
                self._log(report)
                reports.append(report)
            if wait_all and self.in_flight:
                self._arrived.wait(0.1)
                continue
            left = ends - time.monotonic()
            if reports or wait_all or left <= 0:
                return reports
            self._arrived.wait(left)

    # -- following streams ------------------------------------------------------------

    def follow_streams(self, stop: threading.Event) -> None:
        """Start one thread per stream source, reading it live from its stored
        cursor until ``stop`` is set; what they read is stored by :meth:`store_results`."""
        for source in self.streams:
            state = get_state(self.db, source.name)
            cursor = int(state["cursor"]) if state.get("cursor") else None
            reader = reader_for(source, self.client, self.config)
            thread = threading.Thread(
                target=reader.follow,
                args=(
                    cursor,
                    functools.partial(self._deliver, source, stop),
                    stop,
                    functools.partial(self._notice, source),
                ),
                name=f"stream-{source.name}",
                daemon=True,
            )
            thread.start()
            self._following.append(thread)
        if self.streams:
            log.info("following %s live", ", ".join(s.name for s in self.streams))

    def _deliver(self, source, stop: threading.Event, batch) -> None:
        """Queue a stream's batch for storing, waiting while the queue is full
        (the stream then waits on its socket). Once watch is stopping it stops
        waiting: a batch not queued then is read again from the stored cursor."""
        fetched = Fetched(source, batch=batch)
        waited_since = time.monotonic()
        said = False
        while True:
            try:
                self.streamed.put(fetched, timeout=0.5)
                self._arrived.set()
                return
            except queue.Full:
                if stop.is_set():
                    return
                if not said and time.monotonic() - waited_since > BEHIND_AFTER:
                    log.warning(
                        "%s: falling behind: storing is slower than the stream; the server holds the rest "
                        "and the cursor reads it back",
                        source.name,
                    )
                    said = True

    def _notice(self, source, line: str) -> None:
        """A reconnect, said once: in the log and, as the source's last error, in `earshot status`."""
        try:
            self.streamed.put(Fetched(source, error=line), timeout=5)
            self._arrived.set()
        except queue.Full:
            log.warning("%s: %s", source.name, line)

    def _log(self, report) -> None:
        """A source's new posts, and its errors when they start, change or end
        (a source failing every few seconds says so once)."""
        before = self._errors.get(report.source)
        if not report.ok:
            if report.error != before:
                log.warning("%s", report.line())
            self._errors[report.source] = report.error
            return
        streamed = report.source in self._stream_names
        if before is not None:
            log.info("%s: %s again after: %s", report.source, "reading" if streamed else "fetching", before)
            del self._errors[report.source]
        if streamed:  # a batch every half second: its posts are summed up once a minute
            tally = self._tallies.setdefault(report.source, [0, 0, time.monotonic()])
            tally[0] += report.new
            tally[1] += report.duplicates
            if time.monotonic() - tally[2] >= STREAM_TALLY_EVERY:
                _say_tally(report.source, tally)
                self._tallies[report.source] = [0, 0, time.monotonic()]
        elif report.new:
            log.info("%s", report.line())

    # -- detecting ----------------------------------------------------------------

    def detect(self, now: pd.Timestamp, force: bool = False) -> list[int]:
        """Advance every service's detection to ``now`` and record what
        changed; return the ids of the events recorded."""
        due = self._detected_at is None or now - self._detected_at >= DETECT_EVERY
        if not (force or self._dirty or due or self._settled_moved(now)):
            return []
        recorded = []
        for service in self.config.services:
            recorded += self._detect_service(service.name, now)
        self._detected_at, self._dirty = now, False
        return recorded

    def settle_seconds(self, service: str) -> float:
        """How long after a bucket ends its count is taken as final: the
        slowest of the service's sources' interval plus deadline, unless set."""
        if self.config.watch.settle is not None:
            return float(self.config.watch.settle)
        names = set(service_sources(self.config, service))
        sources = [s for s in self.config.sources if s.name in names]
        watch = self.config.watch
        return max((watch.interval_for(s) + watch.deadline_for(s) for s in sources), default=60.0)

    def settled_until(self, service: str, now: pd.Timestamp) -> pd.Timestamp:
        """The end of the newest bucket that is final at ``now``."""
        return (now - pd.Timedelta(seconds=self.settle_seconds(service))).floor(self.step)

    def _settled_moved(self, now: pd.Timestamp) -> bool:
        last = self._detected_at
        return last is not None and any(
            self.settled_until(s.name, now) > self.settled_until(s.name, last) for s in self.config.services
        )

    def fingerprint(self, service: str) -> str:
        """What the persisted state depends on: when it changes, the state is rebuilt."""
        facts = {
            "version": STATE_VERSION,
            # A pickle is only as good as the code that wrote it: an upgrade of any of
            # these rebuilds the state instead of unpickling it into different classes.
            "libraries": STATE_LIBRARIES,
            "detector": detector_from_config(self.config).get_params(),
            "counts": asdict(self.config.counts),
            "sources": service_sources(self.config, service),
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def _detect_service(self, service: str, now: pd.Timestamp) -> list[int]:
        if not service_sources(self.config, service):
            return []  # a service no source reports on: nothing to count
        settled = self.settled_until(service, now)
        detector, since, rows, heard, advanced = self._settled_rows(service, settled)
        for attribute in ("result_", "baseline_"):  # a refit's whole result is not state
            detector.__dict__.pop(attribute, None)
        # The newest buckets, the one still filling included, scored on a copy:
        # the persisted state moves only over buckets that are final.
        tail_counts = service_counts(self.db, self.config, service, settled, now + pd.Timedelta(microseconds=1))
        if len(tail_counts):
            tail = copy.deepcopy(detector).update(tail_counts, until=now)
            rows = pd.concat([rows, tail]) if len(rows) else tail
            heard.update(_heard(tail_counts))
        open_episode = open_watch_episode(self.db, service)
        rows = rows[rows.index >= since] if len(rows) else rows
        changes = track(service, open_episode, rows, heard, settled, now, self.step) if len(rows) else []
        if open_episode is not None and not changes:
            changes = [(open_episode, [])]
        recorded = []
        for episode, names in changes:
            names = names + self._later_events(service, episode, now)
            reports, expected = provisional_reports(episode, rows, settled, self.step)
            recorded += self._record(service, episode, names, reports, expected, now)
        if advanced:
            save_detector_state(self.db, service, self.fingerprint(service), settled, pickle.dumps(detector))
        return recorded

    def _settled_rows(self, service: str, settled: pd.Timestamp):
        """The detector advanced to ``settled``; where its new rows start; the
        new rows; who complained in each of their buckets; and whether the
        state moved (and must be stored)."""
        stored = load_detector_state(self.db, service)
        fingerprint = self.fingerprint(service)
        detector = _unpickled(service, stored["state"]) if stored and stored["fingerprint"] == fingerprint else None
        if detector is not None:
            since = pd.Timestamp(stored["settled_until"])
            if settled <= since:
                return detector, since, pd.DataFrame(), {}, False
            counts = service_counts(self.db, self.config, service, since, settled)
            return detector, since, detector.update(counts), _heard(counts), True
        # No state yet, or settings changed: read the stored history once.
        detector = detector_from_config(self.config)
        span = post_span(self.db, service)
        previous = pd.Timestamp(stored["settled_until"]) if stored is not None else None
        if stored is not None and stored["fingerprint"] != fingerprint:
            log.info(
                "%s: detector settings or library versions changed; rebuilding its state from the stored posts", service
            )
        if span is None or span[0].floor(self.step) >= settled:
            return detector, previous or settled, pd.DataFrame(), {}, True
        # Only what the state at `settled` depends on (twice over): a year of
        # backfilled posts would otherwise be counted and scored whole.
        first = max(span[0], settled - 2 * detector.history_needed(self.step)).floor(self.step)
        counts = service_counts(self.db, self.config, service, first, settled)
        result = detector.fit_predict(without_gaps(counts, source_days(self.db, service, first, settled)))
        if previous is None:
            # First start: only an episode still open now is news, from its first bucket.
            quiet = result.index[~result["alert"].to_numpy()]
            previous = quiet[-1] + self.step if len(quiet) else result.index[0]
        return detector, previous, result, _heard(counts[counts.index >= previous]), True

    def _later_events(self, service: str, episode: dict, now: pd.Timestamp) -> list[str]:
        """Acknowledgment and reminder of an open episode (they follow the clock, not the rows)."""
        if episode["end"] is not None:
            return []
        names = []
        provider = self.config.provider_of(service)
        if provider:
            since = pd.Timestamp(episode["first_bucket"]) - pd.Timedelta("2h")
            incidents = service_incidents(self.db, self.config, service, since=since)
            official = acknowledgment(episode, incidents, load_incident_updates(self.db, provider, since=since))
            if official is not None:
                episode["official"] = official
                if episode["acknowledged_at"] is None:
                    episode["acknowledged_at"] = official["first_post"]
                    episode["lead_minutes"] = lead_minutes(episode, official)
                    names.append("acknowledged")
        if reminder_due(episode, now, self.config.watch.remind_every):
            episode["reminders"] += 1
            episode["last_reminder_at"] = iso(now)
            names.append("reminder")
        return names

    def _record(self, service, episode, names, reports, expected, now) -> list[int]:
        label = self.config.service(service).display_name
        until = pd.Timestamp(episode["end"]) if episode["end"] else now + pd.Timedelta(microseconds=1)
        samples = sample_complaints(self.db, service, pd.Timestamp(episode["first_bucket"]), until) if names else []
        events, deliveries = [], []
        held_until = self._silenced_until(service, now) if names else None
        for name in names:
            recent = None
            if name == "reminder":  # is it dying down? what the last stretch brought
                window = pd.Timedelta(minutes=self.config.watch.remind_every)
                recent = count_complaints(self.db, service, now - window, now + pd.Timedelta(microseconds=1))
            payload = event_payload(
                name,
                episode,
                label=label,
                reports=reports,
                expected=expected,
                samples=samples,
                dashboard_url=self.config.watch.dashboard_url,
                created_at=now,
                recent=recent,
                recent_minutes=self.config.watch.remind_every if recent is not None else None,
            )
            level = "possible" if name == "opened" else episode["level"]
            payload["level"] = level
            key = event_key(episode["id"], name, episode["reminders"])
            events.append({"key": key, "event": name, "level": level, "created_at": iso(now), "payload": payload})
            for notifier in self.config.notify:
                if notifier.wants(name, service, level):
                    status = "held" if held_until else "pending"
                    deliveries.append(
                        {"key": key, "notifier": notifier.name, "status": status, "held_until": iso(held_until)}
                    )
            log.info(
                "%s: %s (%s, peak score %.1f)%s",
                episode["id"],
                name,
                level,
                episode["peak_score"],
                f"; held until {held_until:%H:%M} UTC (quiet window)" if held_until else "",
            )
        return record_episode_events(self.db, episode, events, deliveries)

    def _silenced_until(self, service: str, now: pd.Timestamp) -> pd.Timestamp | None:
        ends = [s.end_of(now.to_pydatetime(), service) for s in self.config.silences]
        ends = [end for end in ends if end is not None]
        return pd.Timestamp(max(ends)) if ends else None

    # -- quiet windows, heartbeat ------------------------------------------------------

    def release_silences(self, now: pd.Timestamp) -> int:
        """Record one ``silence_ended`` event per channel whose held events'
        quiet window is over; return how many."""
        held = held_deliveries_ending(self.db, now)
        groups: dict[tuple[str, str], list[dict]] = {}
        for row in held:
            groups.setdefault((row["notifier"], row["held_until"]), []).append(row)
        for (notifier, until), rows in groups.items():
            name = self._silence_named(pd.Timestamp(until))
            lines = [f"{len(rows)} event{'s were' if len(rows) != 1 else ' was'} held while it lasted:"]
            lines += [
                f"  - {r['created_at'][:16].replace('T', ' ')} UTC  {r['episode']}: {r['event']} ({r['level']})"
                for r in rows
            ]
            open_now = {(open_watch_episode(self.db, svc) or {}).get("id") for svc in {r["service"] for r in rows}}
            still_open = sorted({r["episode"] for r in rows} & open_now)
            if still_open:
                lines.append(f"Still open now: {', '.join(still_open)}")
            payload = {
                "event": "silence_ended",
                "silence": name,
                "ended_at": until,
                "held": len(rows),
                "summary": "\n".join(lines),
                "created_at": iso(now),
            }
            event = {
                "key": f"silence/{notifier}/{until}",
                "created_at": iso(now),
                "payload": payload,
                "service": rows[0]["service"],
            }
            release_held(self.db, rows, event, notifier)
            log.info("quiet window %r ended: %d held event(s) summed up for %r", name, len(rows), notifier)
        return len(groups)

    def _silence_named(self, until: pd.Timestamp) -> str:
        moment = (until - pd.Timedelta(microseconds=1)).to_pydatetime()
        for silence in self.config.silences:
            if silence.end_of(moment) == until.to_pydatetime():
                return silence.name
        return "quiet window"

    def heartbeat(self, now: pd.Timestamp, force: bool = False, **extra) -> None:
        if not force and time.monotonic() - self._heartbeat_at < HEARTBEAT_EVERY:
            return
        states = collector_states(self.db)
        sources = {}
        for source in self.config.sources:
            state = states.get(source.name, {})
            sources[source.name] = {
                "interval": self.config.watch.interval_for(source),
                "last_ok_at": state.get("last_ok_at"),
                "last_error": state.get("last_error"),
                "last_error_at": state.get("last_error_at"),
                "fetching_since": iso(self.in_flight.get(source.name)),
            }
        fields = {"stopped_at": None, **extra}
        save_heartbeat(
            self.db,
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=self.started_at,
            last_pass_at=iso(now),
            passes=self.passes,
            sources=sources,
            **fields,
        )
        self._heartbeat_at = time.monotonic()

    # -- one pass, and the loop ----------------------------------------------------------

    def pass_once(self, now: pd.Timestamp | None = None, wait: bool = True) -> list:
        """One whole pass at ``now``: fetch what is due (waiting for every
        fetch with ``wait``), store, detect, release quiet windows, heartbeat.
        Returns the sources' reports."""
        now = now or self.clock()
        self.start_due(now)
        reports = self.store_results(wait_all=wait)
        self.detect(now)
        self.release_silences(now)
        self.passes += 1
        self.heartbeat(now, force=True)
        return reports

    def run(self, stop: threading.Event, wake=None) -> None:
        """Watch until ``stop`` is set; ``wake`` (an Event) is set whenever events were recorded."""
        log.info(
            "watching %s for %s",
            counted(len(self.config.sources), "source"),
            ", ".join(s.name for s in self.config.services),
        )
        self.follow_streams(stop)
        while not stop.is_set():
            now = self.clock()
            self.start_due(now)
            self.store_results(timeout=self._until_next_due(now))
            if stop.is_set():
                break
            now = self.clock()
            recorded = self.detect(now)
            released = self.release_silences(now)
            if (recorded or released) and wake is not None:
                wake.set()
            self.passes += 1
            self.heartbeat(now)
        for thread in self._following:
            thread.join(timeout=5)
        self.store_results()  # what the streams read before they stopped
        for name, tally in self._tallies.items():
            _say_tally(name, tally)
        self.heartbeat(self.clock(), force=True, stopped_at=iso(self.clock()))
        log.info("stopped after %d passes", self.passes)

    def _until_next_due(self, now: pd.Timestamp) -> float:
        upcoming = [due for name, due in self.next_due.items() if name not in self.in_flight]
        seconds = min(((due - now).total_seconds() for due in upcoming), default=1.0)
        return min(max(seconds, 0.05), 1.0)


def _say_tally(source: str, tally: list) -> None:
    """A stream's ``[new, duplicates, since]`` in one log line, when there is anything to say."""
    new, duplicates, since = tally
    if new or duplicates:
        log.info(
            "%s: %s, %s skipped in the last %s (streaming)",
            source,
            counted(new, "new post"),
            counted(duplicates, "duplicate"),
            ago(time.monotonic() - since),
        )


def _drained(into: queue.Queue) -> list:
    """Everything waiting in ``into`` now, without waiting."""
    items = []
    while True:
        try:
            items.append(into.get_nowait())
        except queue.Empty:
            return items


def _unpickled(service: str, state: bytes) -> RollingBaselineDetector | None:
    """The stored detector, or None (said once in the log) when it cannot be
    loaded: a damaged row, or classes that moved since it was written. The
    caller then rebuilds it from the stored posts; watch never dies of it."""
    try:
        detector = pickle.loads(state)
    except Exception as error:  # whatever unpickling raises, the posts are still there
        log.warning(
            "%s: stored detector state unreadable (%s: %s); rebuilding it from the stored posts",
            service,
            type(error).__name__,
            error,
        )
        return None
    if not isinstance(detector, RollingBaselineDetector):
        log.warning(
            "%s: stored detector state is a %s, not a detector; rebuilding it from the stored posts",
            service,
            type(detector).__name__,
        )
        return None
    return detector


def _heard(counts: pd.DataFrame) -> dict[pd.Timestamp, list[str]]:
    """Per bucket, the sources with a complaint in it."""
    heard = {}
    if counts.columns.nlevels > 1:  # (source, problem) columns
        counts = counts.T.groupby(level=0).sum().T
    for bucket, row in counts.iterrows():
        names = [name for name, value in row.items() if value and value > 0]
        if names:
            heard[bucket] = names
    return heard
