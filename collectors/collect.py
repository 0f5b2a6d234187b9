"""Read every configured source once and store what is new.

Each source is collected on its own: whatever goes wrong with one (a 500, a
timeout, an HTML block page, a broken body) becomes one line in its report,
and the others carry on. Nothing already stored is touched. What is read
goes through :func:`earshot.ingest.ingest` with the complaint filter the
caller hands over.

Sources are fetched at once on up to sixteen threads, each fetch bounded by its
deadline (a source's ``deadline``, else ``[watch] deadline``, else its poll
interval, at most a minute), so a pass takes about its slowest deadline
whatever the servers do; one thread stores what they bring, source by source.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils

from earshot.config import Config, Source
from earshot.ingest import ingest
from earshot.kinds import KINDS
from earshot.store import forget_posts, get_state, save_state, writing
from earshot.timeutil import now_iso
from earshot.words import counted

from .base import Batch
from .feeds import FeedError
from .http import FetchError, HttpClient
from .readers import reader_for


@dataclass
class SourceReport:
    """The outcome of collecting one source."""

    source: str
    new: int = 0
    duplicates: int = 0
    what: str = "posts"
    error: str | None = None
    warning: str | None = None
    not_modified: bool = False
    waiting_until: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """One line for the terminal.

        >>> SourceReport("reddit", new=3, duplicates=22).line()
        'reddit: 3 new posts, 22 duplicates skipped'
        >>> SourceReport("status", new=1, duplicates=1, what="official updates").line()
        'status: 1 new official update, 1 duplicate skipped'
        >>> SourceReport("hn", error="HTTP 500 from http://x (gave up after 3 attempts)").line()
        'hn: error: HTTP 500 from http://x (gave up after 3 attempts)'
        """
        if self.error:
            return f"{self.source}: error: {self.error}"
        if self.waiting_until:
            return f"{self.source}: not asked: its server asked to wait until {self.waiting_until} (Retry-After)"
        if self.not_modified:
            return f"{self.source}: not modified since last fetch"
        line = (
            f"{self.source}: {counted(self.new, 'new ' + self.what.removesuffix('s'))}, "
            f"{counted(self.duplicates, 'duplicate')} skipped"
        )
        return f"{line} (warning: {self.warning})" if self.warning else line


FETCH_THREADS = 16  # waiting on servers costs a thread, not a core


def collect_all(
    db: sqlite_utils.Database, config: Config, client: HttpClient, classifier, sources=None, since=None
) -> list[SourceReport]:
    """Collect every source in ``config`` (or only those named in ``sources``),
    judging posts with ``classifier``; one report per source, in config order.

    A source whose server asked, by a Retry-After longer than the fetch's
    deadline, not to be asked before some moment is not asked until then.
    A stream source reads from ``since`` (a datetime), when given, instead of its stored cursor.
    """
    chosen = [s for s in config.sources if sources is None or s.name in sources]
    states = {s.name: get_state(db, s.name) for s in chosen}
    if since is not None:
        for s in chosen:
            if KINDS[s.kind].streams:
                states[s.name] = {**states[s.name], "cursor": str(int(since.timestamp() * 1_000_000))}
    reports = {
        s.name: SourceReport(
            s.name, waiting_until=states[s.name]["retry_at"] if asked_to_wait(states[s.name]) else None
        )
        for s in chosen
    }
    due = [s for s in chosen if not reports[s.name].waiting_until]
    if due:
        with ThreadPoolExecutor(min(FETCH_THREADS, len(due)), thread_name_prefix="earshot-fetch") as pool:
            fetches = [
                pool.submit(fetch_source, config, s, client, states[s.name], config.watch.deadline_for(s)) for s in due
            ]
            for done in as_completed(fetches):  # SQLite is written from this thread only
                fetched = done.result()
                reports[fetched.source.name] = store_fetched(db, config, fetched, classifier)
    return [reports[s.name] for s in chosen]


def asked_to_wait(state: dict, now: datetime | None = None) -> datetime | None:
    """When a source's server asked (a long Retry-After, kept in its collector
    state as ``retry_at``) not to be asked again before, if that is still ahead.

    >>> asked_to_wait({"retry_at": "2026-12-05T19:34:54Z"}, now=datetime(2026, 12, 5, tzinfo=UTC))
    datetime.datetime(2026, 12, 5, 19, 34, 54, tzinfo=datetime.timezone.utc)
    >>> asked_to_wait({"retry_at": None}) is None
    True
    """
    retry_at = state.get("retry_at")
    if not retry_at:
        return None
    moment = datetime.fromisoformat(retry_at)
    return moment if moment > (now or datetime.now(UTC)) else None


def collect_source(
    db: sqlite_utils.Database, config: Config, source: Source, client: HttpClient, classifier
) -> SourceReport:
    """Collect one source, recording success or failure in its collector state."""
    return store_fetched(db, config, fetch_source(config, source, client, get_state(db, source.name)), classifier)


@dataclass
class Fetched:
    """What one fetch of a source brought back (``batch``), or the one line
    saying why it could not (``error``); nothing is stored yet."""

    source: Source
    batch: Batch | None = None
    error: str | None = None
    what: str = "posts"
    seconds: float = 0.0
    retry_at: str | None = None


def fetch_source(config: Config, source: Source, client: HttpClient, state: dict, deadline=None) -> Fetched:
    """Fetch what is new at ``source`` since ``state``, within ``deadline``
    seconds in all (None: only the client's per-request limits).

    Touches no database, so several sources can be fetched at once on
    threads while one writer stores what they bring (:func:`store_fetched`).
    """
    started = time.monotonic()
    what, retry_at = "posts", None
    try:
        with client.deadline(deadline, label=source.name):
            reader = reader_for(source, client, config)
            what = reader.what
            batch = reader.latest(state)
        return Fetched(source, batch=batch, what=what, seconds=time.monotonic() - started)
    except (FetchError, FeedError) as error:
        message = str(error)
        if getattr(error, "retry_at", None) is not None:
            retry_at = error.retry_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    except Exception as error:  # a bug or an odd payload must not stop the other sources
        message = f"{type(error).__name__}: {error}"
    return Fetched(source, error=message, what=what, seconds=time.monotonic() - started, retry_at=retry_at)


def store_fetched(db: sqlite_utils.Database, config: Config, fetched: Fetched, classifier) -> SourceReport:
    """Store a fetch's items and collector state in one transaction, and its
    success or error in the source's collector state."""
    name = fetched.source.name
    batch = fetched.batch
    if fetched.error is not None:
        report = SourceReport(name, what=fetched.what, error=fetched.error)
    elif batch.not_modified:
        report = SourceReport(name, what=fetched.what, not_modified=True)
    else:
        try:
            with writing(db):
                new, duplicates = ingest(db, config, fetched.source, batch.items, classifier)
                if batch.deleted:
                    forget_posts(db, name, batch.deleted)
                if batch.state:
                    save_state(db, name, **batch.state)
            report = SourceReport(name, new=new, duplicates=duplicates, what=fetched.what, warning=batch.warning)
        except Exception as error:  # an item the store cannot take: this source's turn ends, nothing half-written
            report = SourceReport(name, what=fetched.what, error=f"{type(error).__name__}: {error}")
    stamp = now_iso()
    if report.ok:
        save_state(db, name, last_ok_at=stamp, retry_at=None)
    else:
        save_state(db, name, last_error=report.error, last_error_at=stamp, retry_at=fetched.retry_at)
    return report
