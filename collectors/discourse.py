"""A Discourse forum (the OpenAI developer forum is one).

Live: ``/posts.json``, the newest posts across the forum, paged back with
``before=<id>`` until the newest post already seen.
History: ``/search.json`` with ``after:`` / ``before:`` day filters and
``order:latest``, page by page. Discourse reads those dates as midnight UTC and
keeps posts strictly after ``after:``, so a window asks from the day before
its start and keeps only the posts inside it: no gap at midnight, no overlap
between windows. Results come newest first, so paging stops at the first post
older than the window.
"""

from __future__ import annotations

import json
from datetime import timedelta

from earshot.kinds import KINDS
from earshot.timeutil import utc_datetime, utc_iso

from .base import Batch, Page, Reader, Window
from .feeds import html_to_text


class Discourse(Reader):
    """``base_url`` is the forum root; ``query`` narrows the history search."""

    facts = KINDS["discourse"]
    # Anonymous limits: about 200 requests a minute and 50 per 10 seconds.
    window = timedelta(days=1)

    live_pages = 5

    def latest(self, state: dict) -> Batch:
        seen = json.loads(state["cursor"])["post_id"] if state.get("cursor") else None
        posts, params = [], {}
        for _ in range(self.live_pages if seen is not None else 1):
            page = self.client.get_json(f"{self.base_url}/posts.json", params=params).get("latest_posts", [])
            posts += [self.latest_post(post) for post in page]
            oldest = min((post["id"] for post in page), default=None)
            if oldest is None or seen is None or oldest <= seen:
                break
            params = {"before": oldest}
        newest = max((int(p["post_id"]) for p in posts), default=seen)
        return Batch(posts, state={"cursor": json.dumps({"post_id": newest})} if newest is not None else {})

    def latest_post(self, post: dict) -> dict:
        """A ``/posts.json`` post, which carries its topic's slug and title and its raw text."""
        topic = {"slug": post.get("topic_slug"), "title": post.get("topic_title")}
        return self.post_row(post, topic, post.get("raw") or html_to_text(post.get("cooked") or ""))

    def history(self, window: Window, cursor) -> Page:
        page = cursor or 1
        first_day = (window.start - timedelta(days=1)).date()
        last = window.end - timedelta(microseconds=1)
        after_last_day = last.date() + timedelta(days=1)
        terms = f"{self.source.query or ''} after:{first_day} before:{after_last_day} order:latest".strip()
        data = self.client.get_json(f"{self.base_url}/search.json", params={"q": terms, "page": page})
        topics = {topic["id"]: topic for topic in data.get("topics") or []}
        posts, reached_start = [], False
        for post in data.get("posts") or []:
            created = utc_datetime(post["created_at"])
            reached_start |= created < window.start
            if window.contains(created):
                posts.append(self.search_post(post, topics.get(post.get("topic_id"), {})))
        more = (data.get("grouped_search_result") or {}).get("more_full_page_results")
        return Page(posts, cursor=page + 1 if more and data.get("posts") and not reached_start else None)

    def search_post(self, post: dict, topic: dict) -> dict:
        """A ``/search.json`` post: its topic comes separately, and a blurb, not the
        whole post, is enough to tell a complaint."""
        return self.post_row(post, topic, html_to_text(post.get("blurb") or ""))

    def post_row(self, post: dict, topic: dict, text: str) -> dict:
        return {
            "source": self.source.name,
            "post_id": str(post["id"]),
            "url": f"{self.base_url}/t/{topic.get('slug') or 'topic'}/{post['topic_id']}/{post.get('post_number', 1)}",
            "author": post.get("username"),
            "created_at": utc_iso(post["created_at"]),
            "title": topic.get("title") if post.get("post_number") == 1 else None,
            "text": text,
        }
