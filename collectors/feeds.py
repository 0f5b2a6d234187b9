"""RSS and Atom feeds: fetched with the HTTP client, parsed with feedparser.

feedparser has no timeout, so it never touches the network here: we fetch
the bytes ourselves (with a conditional GET) and hand them over.

>>> feed = parse_feed(b'''<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
... <item><guid>1</guid><title>Is ChatGPT down?</title>
... <pubDate>Wed, 08 Nov 2023 13:45:00 GMT</pubDate></item></channel></rss>''')
>>> [entry_post("demo", e)["created_at"] for e in feed.entries]
['2023-11-08T13:45:00+00:00']
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

import feedparser

from earshot.kinds import KINDS
from earshot.timeutil import now_iso, utc_iso

from .base import Batch, Reader
from .http import FetchError, HttpClient


class FeedError(Exception):
    """The body is not a usable feed; ``str(error)`` says what it was instead."""


@dataclass
class FeedResponse:
    """What one conditional GET of a feed produced."""

    entries: list = field(default_factory=list)
    url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    warning: str | None = None


def fetch_feed(client: HttpClient, url: str, etag: str | None = None, last_modified: str | None = None) -> FeedResponse:
    """GET a feed, sending the validators from the previous fetch.

    Raises :class:`FetchError` when the request fails and :class:`FeedError`
    when what came back is not a feed.
    """
    headers = {"Accept": "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    response = client.get(url, headers=headers)
    if response.status_code == 304:
        return FeedResponse(etag=etag, last_modified=last_modified, not_modified=True)
    # Only the content type (for the charset): given the URL as content-location,
    # feedparser would rewrite relative entry ids into URLs that change with it.
    parsed = parse_feed(response.content, {"content-type": response.headers.get("content-type", "")})
    entries, warning = list(parsed.entries), None
    if parsed.bozo and entries:
        # A body cut off mid-way still parses up to the cut; the entry it ends
        # in may be missing its id or text, so only the ones before it are kept.
        entries = entries[:-1]
        warning = f"feed is malformed ({parsed.bozo_exception}); kept {len(entries)} entries before the fault"
    return FeedResponse(
        entries=entries,
        url=str(response.url),
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
        warning=warning,
    )


# An internal DTD subset is where entity bombs and external entities live, and
# no feed needs one: it goes before parsing (expat's own limit on entity
# expansion still let one small bomb cost 45 MB).
_INTERNAL_SUBSET = re.compile(rb"<!DOCTYPE[^>\[]*\[.*?\]\s*>", re.S | re.I)


def parse_feed(body: bytes, response_headers: dict | None = None):
    """Parse feed bytes; raise :class:`FeedError` when they are not a feed at all."""
    if b"<!ENTITY" in body:
        body = _INTERNAL_SUBSET.sub(b"", body, count=1)
    parsed = feedparser.parse(body, response_headers=response_headers or {})
    if not parsed.version and not parsed.entries:
        start = body[:400].decode("utf-8", "replace").lower()
        if "<html" in start or "<!doctype html" in start:
            title = re.search(r"<title[^>]*>(.*?)</title>", body[:4000].decode("utf-8", "replace"), re.I | re.S)
            what = f"an HTML page ({html.unescape(title.group(1)).strip()!r})" if title else "an HTML page"
            raise FeedError(f"got {what} instead of a feed")
        if parsed.bozo:
            raise FeedError(f"not a feed: {parsed.bozo_exception}")
        raise FeedError("not an RSS or Atom feed")
    return parsed


def entry_time(entry):
    """When an entry says it was published (else updated), or None.

    Only keys the entry really has are read: asking feedparser for a missing
    ``updated_parsed`` maps it to ``published_parsed`` with a DeprecationWarning.
    """
    keys = entry.keys()
    return next((entry[key] for key in ("published_parsed", "updated_parsed") if key in keys and entry[key]), None)


def entry_post(source: str, entry, base_url: str | None = None) -> dict:
    """One feed entry as a post row (without service or complaint fields);
    a relative link is resolved against ``base_url``, the feed's own address."""
    stamp = entry_time(entry)
    summary = entry.get("summary") or ""
    if entry.get("content"):
        summary = entry.content[0].get("value") or summary
    return {
        "source": source,
        "post_id": entry.get("id") or entry.get("link") or entry.get("title"),
        "url": urljoin(base_url, entry["link"]) if base_url and entry.get("link") else entry.get("link"),
        "author": entry.get("author"),
        "created_at": utc_iso(stamp) if stamp else now_iso(),
        "title": html_to_text(entry.get("title") or ""),
        "text": html_to_text(summary),
    }


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def html_to_text(value: str) -> str:
    """Strip tags and entities from feed HTML; the result is plain, untrusted text.

    >>> html_to_text("<p>Error in <b>body</b> stream &amp; 502</p>")
    'Error in body stream & 502'
    """
    without_comments = re.sub(r"<!--.*?-->", " ", value, flags=re.S)
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", without_comments))).strip()


__all__ = [
    "FeedError",
    "FeedReader",
    "FeedResponse",
    "FetchError",
    "entry_post",
    "fetch_feed",
    "html_to_text",
    "parse_feed",
]


class FeedReader(Reader):
    """Any RSS or Atom feed (``url``): newest entries only, with conditional GET."""

    facts = KINDS["rss"]

    def latest(self, state: dict) -> Batch:
        return feed_batch(self.client, self.source.name, self.source.url or self.base_url, state)


def feed_batch(client: HttpClient, source: str, url: str, state: dict) -> Batch:
    """Fetch a feed with the validators in ``state``; its posts and the new validators."""
    response = fetch_feed(client, url, state.get("etag"), state.get("last_modified"))
    if response.not_modified:
        return Batch([], not_modified=True)
    posts = [entry_post(source, entry, response.url) for entry in response.entries]
    undated = sum(entry_time(entry) is None for entry in response.entries)
    warnings = [response.warning] if response.warning else []
    if undated:
        warnings.append(f"{undated} of {len(posts)} entries had no readable date; stored as posted when read")
    return Batch(
        posts,
        state={"etag": response.etag, "last_modified": response.last_modified},
        warning="; ".join(warnings) or None,
    )
