"""The watch loop: one :class:`Watcher` per database ties the rooms together.

Each pass:

1. starts a fetch of every source that is due (:mod:`.fetching`), and stores
   what finished fetches and live streams brought, on this thread (one writer);
2. when anything new was stored or time has moved on, advances each
   service's detector over the buckets that have settled (:mod:`.detecting`);
3. turns the episode changes into events, each written once with its
   deliveries in the transaction that records the episode (:mod:`.recording`);
4. tells the channels of quiet windows that ended (:mod:`.quiet`), stores a
   heartbeat (:mod:`.heartbeat`), and, when serving, takes a snapshot for the
   server (:mod:`.readings`).

Between passes it sleeps until a fetch or stream batch arrives or a source
falls due. A :class:`earshot.notify.Sender` delivers the outbox on its own threads.
"""

from __future__ import annotations

import logging
import threading
import time

import pandas as pd

from collectors.http import HttpClient
from earshot.config import Config
from earshot.events import provisional_reports
from earshot.notify import check_channel
from earshot.report import iso
from earshot.store import open_db
from earshot.timeutil import utc_now
from earshot.words import counted

from .detecting import Detection
from .fetching import Fetching
from .heartbeat import Heartbeat
from .quiet import QuietWindows
from .readings import Readings
from .recording import Recorder

log = logging.getLogger("earshot.watch")
# Detection runs at least this often with nothing new, for reminders, acknowledgments and settling.
DETECT_EVERY = pd.Timedelta("30s")


class Watcher:
    """Watch the sources and services of ``config`` into the database at ``db_path``.

    ``clock`` returns the current UTC time (tests pass their own, to replay a
    day in seconds); ``classifier`` judges posts as :func:`earshot.ingest.ingest` does.
    ``readings`` is the snapshot the server reads; it is taken only when one is given.
    """

    def __init__(
        self,
        db_path,
        config: Config,
        classifier,
        client: HttpClient | None = None,
        clock=utc_now,
        readings: Readings | None = None,
    ):
        self.db_path = db_path
        self.config = config
        self.clock = clock
        self.db = open_db(db_path, on_upgrade=log.info)  # the first connection: an upgrade is logged
        self.fetching = Fetching(self.db, config, classifier, client or HttpClient(timeout=15.0, attempts=3))
        self.detection = Detection(self.db, config)
        self.quiet = QuietWindows(self.db, config)
        self.recorder = Recorder(self.db, config, self.quiet)
        self.heartbeats = Heartbeat(self.db, config, clock())
        self.readings = readings
        self.passes = 0
        self.scores: dict[str, float] = {}
        self._detected_at: pd.Timestamp | None = None
        self._dirty = True
        for notifier in config.notify:
            check_channel(notifier)

    def store_results(self, timeout: float = 0.0, wait_all: bool = False) -> list:
        """Store what fetches and streams brought (see :meth:`Fetching.store`); return the reports."""
        reports = self.fetching.store(timeout=timeout, wait_all=wait_all)
        if any(report.new for report in reports):
            self._dirty = True
        return reports

    def fingerprint(self, service: str) -> str:
        return self.detection.fingerprint(service)

    def detect(self, now: pd.Timestamp, force: bool = False) -> list[int]:
        """Advance every service's detection to ``now`` and record what
        changed; return the ids of the events recorded."""
        due = self._detected_at is None or now - self._detected_at >= DETECT_EVERY
        if not (force or self._dirty or due or self.detection.settled_moved(self._detected_at, now)):
            return []
        recorded = []
        for service in self.config.services:
            step = self.detection.advance(service.name, now)
            if step is None:
                continue
            for episode, names in step.changes:
                names = names + self.recorder.later_events(step.service, episode, now)
                reports, expected = provisional_reports(episode, step.rows, step.settled, self.detection.step)
                recorded += self.recorder.record(step.service, episode, names, reports, expected, now)
            self.detection.keep(step)
            if len(step.rows):
                self.scores[step.service] = float(step.rows["score"].iloc[-1])
        self._detected_at, self._dirty = now, False
        return recorded

    def release_silences(self, now: pd.Timestamp) -> int:
        return self.quiet.release(now)

    def heartbeat(self, now: pd.Timestamp, force: bool = False, **extra) -> bool:
        return self.heartbeats.beat(now, self.passes, self.fetching.in_flight, force=force, **extra)

    def pass_once(self, now: pd.Timestamp | None = None, wait: bool = True) -> list:
        """One whole pass at ``now``: fetch what is due (waiting for every
        fetch with ``wait``), store, detect, release quiet windows, heartbeat.
        Returns the sources' reports."""
        now = now or self.clock()
        self.fetching.start_due(now)
        reports = self.store_results(wait_all=wait)
        self.finish_pass(now, eager=True)
        return reports

    def finish_pass(self, now: pd.Timestamp, eager: bool = False, wake=None) -> float:
        """The rest of a pass, once what arrived is stored: detect, record,
        release quiet windows, heartbeat and (when serving) snapshot; ``eager``
        stores the heartbeat and snapshot even if one was taken moments ago.
        ``wake`` is set when events were recorded. Returns the pass's seconds of
        work (storing included, waiting not)."""
        began = time.perf_counter() - self.fetching.storing_seconds
        recorded = self.detect(now)
        released = self.release_silences(now)
        if (recorded or released) and wake is not None:
            wake.set()
        self.passes += 1
        beat = self.heartbeat(now, force=eager)
        if self.readings is not None:
            self.readings.take(self.db, now, self.scores, force=bool(eager or recorded or released or beat))
        seconds = time.perf_counter() - began
        if self.readings is not None:
            self.readings.pass_seconds.observe(seconds)
        return seconds

    def run(self, stop: threading.Event, wake=None) -> None:
        """Watch until ``stop`` is set; ``wake`` (an Event) is set whenever events were recorded."""
        log.info(
            "watching %s for %s",
            counted(len(self.config.sources), "source"),
            ", ".join(s.name for s in self.config.services),
        )
        self.fetching.follow(stop)
        while not stop.is_set():
            now = self.clock()
            self.fetching.start_due(now)
            self.store_results(timeout=self.fetching.until_next_due(now))
            if stop.is_set():
                break
            self.finish_pass(self.clock(), wake=wake)
        self.fetching.finish()  # what the streams read before they stopped
        self.heartbeat(self.clock(), force=True, stopped_at=iso(self.clock()))
        log.info("stopped after %d passes", self.passes)
