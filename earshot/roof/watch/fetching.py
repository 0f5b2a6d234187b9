"""Which source is due, its fetch on a thread of its own, stream sources
followed live, and what they all bring stored by one writer.

A polled source is fetched when its interval has passed (later when its
server asked, by Retry-After), bounded by its deadline: a stalled source never
holds up the others. A stream source is read on one long-lived connection
per source; its batches wait in a bounded queue (memory stays bounded; a full
queue makes the stream wait on its socket, and its server holds the rest).
Both kinds land in :meth:`Fetching.store`, on the caller's thread, the only
one that writes posts.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time

import pandas as pd

from collectors.collect import Fetched, asked_to_wait, fetch_source, store_fetched
from collectors.http import HttpClient
from collectors.readers import reader_for
from earshot.config import Config
from earshot.kinds import KINDS
from earshot.store import get_state
from earshot.words import ago, counted

log = logging.getLogger("earshot.watch")
# Batches a stream may have waiting to be stored (each at most half a second of posts): past
# this the stream waits on its socket, and the server holds what it has not sent.
STREAM_QUEUE = 64
# A stream kept waiting this long on a full queue says, once, that it is falling behind.
BEHIND_AFTER = 5.0
# A stream's new posts are summed up in the log this often (its batches come every half second).
STREAM_TALLY_EVERY = 60.0


class Fetching:
    """The sources of ``config``, fetched and followed into ``db``.

    ``arrived`` is set whenever a fetch or a stream batch is ready, so the
    watch loop can sleep until then instead of spinning.
    """

    def __init__(self, db, config: Config, classifier, client: HttpClient):
        self.db = db
        self.config = config
        self.classifier = classifier
        self.client = client
        self.results: queue.Queue[Fetched] = queue.Queue()
        self.streamed: queue.Queue[Fetched] = queue.Queue(maxsize=STREAM_QUEUE)
        self.streams = [s for s in config.sources if KINDS[s.kind].streams]
        self.arrived = threading.Event()
        self.in_flight: dict[str, pd.Timestamp] = {}
        self.next_due: dict[str, pd.Timestamp] = {}
        self._following: list[threading.Thread] = []
        self._stream_names = {s.name for s in self.streams}
        self._tallies: dict[str, list] = {}
        self._errors: dict[str, str] = {}
        self.storing_seconds = 0.0  # how long the last store() spent storing, its waits left out

    # -- polled sources ------------------------------------------------------------------

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

    def until_next_due(self, now: pd.Timestamp) -> float:
        """Seconds to sleep before a source falls due (at most one: the clock may be a test's)."""
        upcoming = [due for name, due in self.next_due.items() if name not in self.in_flight]
        seconds = min(((due - now).total_seconds() for due in upcoming), default=1.0)
        return min(max(seconds, 0.05), 1.0)

    def _arrive(self, into: queue.Queue, fetched: Fetched) -> None:
        into.put(fetched)
        self.arrived.set()

    # -- storing -----------------------------------------------------------------------

    def store(self, timeout: float = 0.0, wait_all: bool = False) -> list:
        """Store the fetches that have finished and the stream batches read,
        waiting up to ``timeout`` for the first (or, with ``wait_all``, for
        every fetch in flight); return their reports."""
        reports = []
        ends = time.monotonic() + timeout
        self.storing_seconds = 0.0
        while True:
            self.arrived.clear()  # before draining: whatever arrives after is waited for, not missed
            began = time.perf_counter()
            for fetched in _drained(self.results) + _drained(self.streamed):
                self.in_flight.pop(fetched.source.name, None)
                report = store_fetched(self.db, self.config, fetched, self.classifier)
                self._log(report)
                reports.append(report)
            self.storing_seconds += time.perf_counter() - began
            if wait_all and self.in_flight:
                self.arrived.wait(0.1)
                continue
            left = ends - time.monotonic()
            if reports or wait_all or left <= 0:
                return reports
            self.arrived.wait(left)

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

    # -- stream sources ------------------------------------------------------------------

    def follow(self, stop: threading.Event) -> None:
        """Start one thread per stream source, reading it live from its stored
        cursor until ``stop`` is set; what they read is stored by :meth:`store`."""
        for source in self.streams:
            state = get_state(self.db, source.name)
            cursor = int(state["cursor"]) if state.get("cursor") else None
            reader = reader_for(source, self.client, self.config)
            thread = threading.Thread(
                target=reader.follow,
                args=(
                    cursor,
                    functools.partial(self.deliver, source, stop),
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

    def deliver(self, source, stop: threading.Event, batch) -> None:
        """Queue a stream's batch for storing, waiting while the queue is full
        (the stream then waits on its socket). Once watch is stopping it stops
        waiting: a batch not queued then is read again from the stored cursor."""
        fetched = Fetched(source, batch=batch)
        waited_since = time.monotonic()
        said = False
        while True:
            try:
                self.streamed.put(fetched, timeout=0.5)
                self.arrived.set()
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
            self.arrived.set()
        except queue.Full:
            log.warning("%s: %s", source.name, line)

    def finish(self) -> list:
        """Wait for the stream threads (after ``stop``), store their last batches, say their tallies."""
        for thread in self._following:
            thread.join(timeout=5)
        reports = self.store()
        for name, tally in self._tallies.items():
            _say_tally(name, tally)
        return reports


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
