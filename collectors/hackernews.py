"""Hacker News stories and comments through the Algolia search API.

Live: ``search_by_date`` for hits at or after the newest one already seen.
History: ``numericFilters=created_at_i>=A,created_at_i<B`` windows. Algolia pages
through at most 1,000 hits per query, so a window holding more is split in
half until each half fits.
"""

from __future__ import annotations

import json
from datetime import timedelta

from earshot.kinds import KINDS
from earshot.timeutil import utc_iso

from .base import Batch, Page, Reader, Window, epoch
from .feeds import html_to_text
from .http import FetchError

# Algolia's paginationLimitedTo: hits beyond it cannot be paged to.
HIT_CAP = 1000
ITEM_URL = "https://news.ycombinator.com/item?id={}"


class HackerNews(Reader):
    """``base_url`` is the Algolia host root; ``query`` the search terms."""

    facts = KINDS["hackernews"]
    window = timedelta(days=1)
    live_pages = 5

    @property
    def page_size(self) -> int:
        return int(self.option("page_size", 200))

    def search(self, numeric_filters: str, page: int) -> dict:
        params = {
            "query": self.source.query or "",
            "tags": self.option("tags", "(story,comment)"),
            "numericFilters": numeric_filters,
            "hitsPerPage": self.page_size,
            "page": page,
        }
        url = f"{self.base_url}/api/v1/search_by_date"
        data = self.client.get_json(url, params=params)
        if not isinstance(data, dict) or not isinstance(data.get("hits"), list):
            found = ", ".join(sorted(data)[:8]) if isinstance(data, dict) else type(data).__name__
            raise FetchError(f"unexpected JSON from {url}: no 'hits' list (found: {found or 'nothing'})")
        return data

    def latest(self, state: dict) -> Batch:
        since = json.loads(state["cursor"])["created_at_i"] if state.get("cursor") else None
        filters = f"created_at_i>={since}" if since is not None else "created_at_i>0"
        posts = []
        for page in range(self.live_pages):
            data = self.search(filters, page)
            posts += [hit_post(self.source.name, hit) for hit in data["hits"]]
            if page + 1 >= data.get("nbPages", 0):
                break
        newest = max((p["created_at_i"] for p in posts), default=since)
        return Batch(posts, state={"cursor": json.dumps({"created_at_i": newest})} if newest else {})

    def history(self, window: Window, cursor) -> Page:
        page = cursor or 0
        data = self.search(f"created_at_i>={epoch(window.start)},created_at_i<{epoch(window.end)}", page)
        if page == 0 and data.get("nbHits", 0) > HIT_CAP and window.span > timedelta(seconds=1):
            return Page([], overfull=True)
        hits = data["hits"]
        more = hits and page + 1 < min(data.get("nbPages", 0), HIT_CAP // self.page_size)
        return Page([hit_post(self.source.name, hit) for hit in hits], cursor=page + 1 if more else None)


def hit_post(source: str, hit: dict) -> dict:
    """One Algolia hit (story or comment) as a post row.

    >>> post = hit_post("hn", {"objectID": "38188813", "created_at_i": 1699451100,
    ...                        "author": "pg", "comment_text": "<p>ChatGPT is down for me</p>"})
    >>> post["created_at"], post["text"], post["url"]
    ('2023-11-08T13:45:00+00:00', 'ChatGPT is down for me', 'https://news.ycombinator.com/item?id=38188813')
    """
    is_story = hit.get("title") is not None
    text = hit.get("comment_text") or hit.get("story_text") or ""
    return {
        "source": source,
        "post_id": str(hit["objectID"]),
        "url": ITEM_URL.format(hit["objectID"]),
        "author": hit.get("author"),
        "created_at": utc_iso(hit["created_at_i"]),
        "created_at_i": hit["created_at_i"],
        # A comment's story title is context, not what the commenter said.
        "title": hit.get("title") if is_story else None,
        "text": html_to_text(text),
    }
