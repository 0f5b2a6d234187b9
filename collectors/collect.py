"""Read every configured source once and store what is new.

Each source is collected on its own: whatever goes wrong with one (a 500, a
timeout, an HTML block page, a broken body) becomes one line in its report,
and the others carry on. Nothing already stored is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from detector.complaints import default_complaint_filter
from earshot.config import Config, Source
from earshot.store import author_hash, get_state, save_state, store_incident_updates, store_posts
from earshot.timeutil import now_iso

from .feeds import FeedError, entry_post, fetch_feed
from .http import FetchError, HttpClient
from .statuspage import fetch_status_updates, incidents_url


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
        if source.kind == "statuspage":
            report = _collect_statuspage(db, config, source, client)
        else:
            report = _collect_feed(db, config, source, client)
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


def _collect_feed(db, config: Config, source: Source, client: HttpClient) -> SourceReport:
    state = get_state(db, source.name)
    response = fetch_feed(client, source.url or source.base_url, state.get("etag"), state.get("last_modified"))
    if response.not_modified:
        return SourceReport(source.name, not_modified=True)
    posts = [entry_post(source.name, entry, response.url) for entry in response.entries]
    new, duplicates = store_posts(db, classify_posts(config, source, posts))
    save_state(db, source.name, etag=response.etag, last_modified=response.last_modified)
    return SourceReport(source.name, new=new, duplicates=duplicates, warning=response.warning)


def _collect_statuspage(db, config: Config, source: Source, client: HttpClient) -> SourceReport:
    provider = source.provider or (config.provider_of(source.service) if source.service else None) or source.name
    url = source.url or incidents_url(source.base_url)
    updates = fetch_status_updates(client, provider, url)
    new, duplicates = store_incident_updates(db, updates)
    return SourceReport(source.name, new=new, duplicates=duplicates, what="official updates")


def classify_posts(config: Config, source: Source, posts: list[dict]) -> list[dict]:
    """Give each post its service, hashed author and complaint verdict."""
    complaint_filter = default_complaint_filter()
    texts = [f"{p.get('title') or ''}\n{p.get('text') or ''}".strip() for p in posts]
    verdicts = complaint_filter.predict(texts)
    rows = []
    for post, text, verdict in zip(posts, texts, verdicts.itertuples(), strict=True):
        row = {k: v for k, v in post.items() if k != "author"}
        row["author_hash"] = author_hash(source.name, post.get("author"))
        row["service"] = config.service_for(source, text)
        row["is_complaint"] = bool(verdict.complaint)
        row["problem"] = verdict.problem
        rows.append(row)
    return rows
