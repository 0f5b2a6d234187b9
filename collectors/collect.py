"""Read every configured source once and store what is new.

Each source is collected on its own: whatever goes wrong with one (a 500, a
timeout, an HTML block page, a broken body) becomes one line in its report,
and the others carry on. Nothing already stored is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from earshot.classifier import default_classifier
from earshot.config import Config, Source
from earshot.store import (
    author_hash,
    get_state,
    save_state,
    store_incident_updates,
    store_posts,
)
from earshot.timeutil import now_iso

from .base import Reader
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


def collect_all(db: sqlite_utils.Database, config: Config, client: HttpClient, sources=None) -> list[SourceReport]:
    """Collect every source in ``config`` (or only those named in ``sources``)."""
    chosen = [s for s in config.sources if sources is None or s.name in sources]
    return [collect_source(db, config, source, client) for source in chosen]


def collect_source(db: sqlite_utils.Database, config: Config, source: Source, client: HttpClient) -> SourceReport:
    """Collect one source, recording success or failure in its collector state."""
    try:
        report = _collect(db, config, source, client)
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


def _collect(db, config: Config, source: Source, client: HttpClient) -> SourceReport:
    reader = reader_for(source, client, config)
    batch = reader.latest(get_state(db, source.name))
    if batch.not_modified:
        return SourceReport(source.name, not_modified=True)
    with db.atomic():
        new, duplicates = store_items(db, config, reader, batch.items)
        if batch.state:
            save_state(db, source.name, **batch.state)
    return SourceReport(source.name, new=new, duplicates=duplicates, what=reader.what, warning=batch.warning)


def store_items(db: sqlite_utils.Database, config: Config, reader: Reader, items: list[dict]) -> tuple[int, int]:
    """Store what a reader returned: official updates as they are, posts classified."""
    if reader.what == "official updates":
        return store_incident_updates(db, items)
    return store_posts(db, classify_posts(config, reader.source, items))


def classify_posts(config: Config, source: Source, posts: list[dict]) -> list[dict]:
    """Give each post its service, hashed author and the classifier's verdict."""
    texts = [post_text(p) for p in posts]
    verdicts = default_classifier().verdicts(texts)
    rows = []
    for post, text, verdict in zip(posts, texts, verdicts.itertuples(), strict=True):
        row = {k: v for k, v in post.items() if k != "author"}
        row["author_hash"] = author_hash(source.name, post.get("author"))
        row["service"] = config.service_for(source, text)
        row["is_complaint"] = bool(verdict.complaint)
        row["problem"] = verdict.problem
        rows.append(row)
    return rows


def post_text(post: dict) -> str:
    """What the classifier reads of a post: its title, then its text.

    >>> post_text({"title": "Is ChatGPT down?", "text": "nothing loads"})
    'Is ChatGPT down?\\nnothing loads'
    """
    return f"{post.get('title') or ''}\n{post.get('text') or ''}".strip()


def reclassify_posts(db: sqlite_utils.Database, classifier=None, batch: int = 5000, progress=None) -> tuple[int, int]:
    """Classify every stored post again (after a new corpus or model);
    return ``(changed, total)``.

    Only ``is_complaint`` and ``problem`` are rewritten, one transaction per
    batch; ``progress(n)`` is called after each batch with its size.
    """
    classifier = classifier or default_classifier()
    changed = total = 0
    last = -1
    while True:
        rows = list(
            db.query(
                "SELECT rowid, title, text, is_complaint, problem FROM posts WHERE rowid > ? ORDER BY rowid LIMIT ?",
                [last, batch],
            )
        )
        if not rows:
            return changed, total
        verdicts = classifier.verdicts([post_text(row) for row in rows])
        updates = [
            (int(v.complaint), v.problem, row["rowid"])
            for row, v in zip(rows, verdicts.itertuples(), strict=True)
            if (row["is_complaint"], row["problem"]) != (int(v.complaint), v.problem)
        ]
        with db.atomic():
            db.conn.executemany("UPDATE posts SET is_complaint = ?, problem = ? WHERE rowid = ?", updates)
        changed += len(updates)
        total += len(rows)
        last = rows[-1]["rowid"]
        if progress:
            progress(len(rows))
