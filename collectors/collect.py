"""Read every configured source once and store what is new.

Each source is collected on its own: whatever goes wrong with one (a 500, a
timeout, an HTML block page, a broken body) becomes one line in its report,
and the others carry on. Nothing already stored is touched. What is read
goes through :func:`earshot.ingest.ingest` with the complaint filter the
caller hands over.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from earshot.config import Config, Source
from earshot.ingest import ingest
from earshot.store import get_state, save_state
from earshot.timeutil import now_iso

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
    try:
        report = _collect(db, config, source, client, classifier)
    except (FetchError, FeedError) as error:
        report = SourceReport(source.name, error=str(error))
    except Exception as error:  # a bug or an odd payload must not stop the other sources
        report = SourceReport(source.name, error=f"{type(error).__name__}: {error}")
    stamp = now_iso()
    if report.ok:
        save_state(db, source.name, last_ok_at=stamp)
    else:
        save_state(db, source.name, last_error=report.error, last_error_at=stamp)
    return report


def _collect(db, config: Config, source: Source, client: HttpClient, classifier) -> SourceReport:
    reader = reader_for(source, client, config)
    batch = reader.latest(get_state(db, source.name))
    if batch.not_modified:
        return SourceReport(source.name, not_modified=True)
    with db.atomic():
        new, duplicates = ingest(db, config, source, batch.items, classifier)
        if batch.state:
            save_state(db, source.name, **batch.state)
    return SourceReport(source.name, new=new, duplicates=duplicates, what=reader.what, warning=batch.warning)
