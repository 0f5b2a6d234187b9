"""The Atom feed of outages watch heard: one entry per recorded event
(opened, confirmed, acknowledged, reminder, resolved), newest first, for a
chat tool's feed reader or a phone.

Each entry's id is the event's own key, so a reader shows each event once
however often it polls; its text is what a notification says (the first
reports as plain text, the official word and earshot's lead); its link is the
dashboard replaying the moment. Built with feedgen, never by string pasting.

>>> import feedparser
>>> payload = {"id": "chatgpt-20231108T1340Z/opened", "event": "opened", "episode": "chatgpt-20231108T1340Z",
...     "service": "chatgpt", "label": "ChatGPT", "level": "possible", "start": "2023-11-08T13:43:00+00:00",
...     "end": None, "peak_score": 31.5, "sources": ["reddit"], "reports": 9, "expected": 0.4, "minutes": 3,
...     "sample_posts": [{"source": "reddit", "created_at": "2023-11-08T13:42:10Z", "text": "is it <down>?"}],
...     "official": None, "lead_minutes": None, "created_at": "2023-11-08T13:44:00+00:00",
...     "dashboard_url": "http://localhost:8501/?page=now&service=chatgpt&at=2023-11-08T13:43:00Z"}
>>> parsed = feedparser.parse(atom_feed([payload], self_url="http://127.0.0.1:9464/feed.atom"))
>>> parsed.bozo, parsed.version, parsed.entries[0].id, parsed.entries[0].title
(False, 'atom10', 'urn:earshot:event:chatgpt-20231108T1340Z/opened', 'ChatGPT: possible outage (1 source, 9 reports in 3 min vs 0.4 expected)')
"""

from __future__ import annotations

from urllib.parse import quote

import pandas as pd
from feedgen.feed import FeedGenerator

from . import __version__
from .notify import message
from .report import safe_link

FEED_ID = "urn:earshot:outages"
# A feed reader wants the recent story, not the whole history.
FEED_ENTRIES = 50


def atom_feed(payloads: list[dict], self_url: str, dashboard_url: str | None = None, now=None) -> bytes:
    """The Atom document for the events ``payloads`` (newest first), served at ``self_url``."""
    feed = FeedGenerator()
    feed.id(FEED_ID)
    feed.title("earshot: outages heard in public posts")
    feed.subtitle("Each event of each episode earshot watch recorded: opened, confirmed, acknowledged, resolved.")
    feed.author({"name": "earshot watch"})
    feed.generator("earshot", version=__version__)
    feed.link(href=self_url, rel="self", type="application/atom+xml")
    if safe_link(dashboard_url):
        feed.link(href=safe_link(dashboard_url), rel="alternate", type="text/html")
    stamps = [pd.Timestamp(p["created_at"]) for p in payloads]
    # Stable while nothing happens: the newest event's time, not the time of asking.
    feed.updated(max(stamps) if stamps else pd.Timestamp(now or "1970-01-01T00:00Z"))
    for payload, stamp in zip(reversed(payloads), reversed(stamps), strict=True):  # feedgen prepends
        _entry(feed.add_entry(), payload, stamp)
    return feed.atom_str(pretty=True)


def _entry(entry, payload: dict, stamp: pd.Timestamp) -> None:
    title, body = message(payload)
    entry.id(f"urn:earshot:event:{quote(payload['id'], safe='/-_.')}")
    entry.title(title)
    entry.updated(stamp)
    entry.published(stamp)
    entry.content(body, type="text")  # post text is untrusted: plain text, never HTML
    for scheme, term in (("service", payload["service"]), ("level", payload["level"]), ("event", payload["event"])):
        entry.category(term=term, scheme=f"urn:earshot:{scheme}")
    if safe_link(payload.get("dashboard_url")):
        entry.link(href=safe_link(payload["dashboard_url"]), rel="alternate", type="text/html")
