"""Read every configured source once and store what is new.

Each source is collected on its own: whatever goes wrong with one (a 500, a
timeout, an HTML block page, a broken body) becomes one line in its report,
and the others carry on. Nothing already stored is touched. What is read
goes through :func:`earshot.ingest.ingest` with the complaint filter the
caller hands over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlite_utils

from earshot.config import Config, Source
from earshot.ingest import ingest
from earshot.store import get_state, save_state
from earshot.timeutil import now_iso

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

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """One line for the terminal.

        >>> SourceReport("reddit", new=3, duplicates=22).line()
        'reddit: 3 new posts, 22 duplicates skipped'
        >>> SourceReport("hn", error="HTTP 500 from http://x (gave up after 3 attempts)").line()
        'hn: error: HTTP 500 from http://x (gave up after 3 attempts)'
        """
        if self.error:
            return f"{self.source}: error: {self.error}"
        if self.not_modified:
            return f"{self.source}: not modified since last fetch"
        line = f"{self.source}: {self.new} new {self.what}, {self.duplicates} duplicates skipped"
        return f"{line} (warning: {self.warning})" if self.warning else line


def collect_all(
    db: sqlite_utils.Database, config: Config, client: HttpClient, classifier, sources=None
) -> list[SourceReport]:
    """Collect every source in ``config`` (or only those named in ``sources``),
    judging posts with ``classifier``."""
    chosen = [s for s in config.sources if sources is None or s.name in sources]
    return [collect_source(db, config, source, client, classifier) for source in chosen]


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


def fetch_source(config: Config, source: Source, client: HttpClient, state: dict, deadline=None) -> Fetched:
    """Fetch what is new at ``source`` since ``state``, within ``deadline``
    seconds in all (None: only the client's per-request limits).

    Touches no database, so several sources can be fetched at once on
    threads while one writer stores what they bring (:func:`store_fetched`).
    """
    started = time.monotonic()
    what = "posts"
    try:
        with client.deadline(deadline):
            reader = reader_for(source, client, config)
            what = reader.what
            batch = reader.latest(state)
        return Fetched(source, batch=batch, what=what, seconds=time.monotonic() - started)
    except (FetchError, FeedError) as error:
        message = str(error)
    except Exception as error:  # a bug or an odd payload must not stop the other sources
        message = f"{type(error).__name__}: {error}"
    return Fetched(source, error=message, what=what, seconds=time.monotonic() - started)


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
            with db.atomic():
                new, duplicates = ingest(db, config, fetched.source, batch.items, classifier)
                if batch.state:
                    save_state(db, name, **batch.state)
            report = SourceReport(name, new=new, duplicates=duplicates, what=fetched.what, warning=batch.warning)
        except Exception as error:  # an item the store cannot take: this source's turn ends, nothing half-written
            report = SourceReport(name, what=fetched.what, error=f"{type(error).__name__}: {error}")
    stamp = now_iso()
    if report.ok:
        save_state(db, name, last_ok_at=stamp)
    else:
        save_state(db, name, last_error=report.error, last_error_at=stamp)
    return report
