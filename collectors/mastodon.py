"""Mastodon hashtag timelines through the API, across several instances.

Each instance holds only the statuses that federated to it, so a source reads
several (``instances = [...]``, default: its ``base_url``) and stores each
status once under its ``uri``, the same on every instance.

Paging follows the ``Link`` header. History walks a window oldest first: it
starts at ``min_id`` = the window's start as a Mastodon snowflake id
(milliseconds << 16), a little early because an id's clock can run behind
the status's ``created_at``, and follows ``rel="prev"`` (newer pages) until a
status falls past the window's end; only statuses inside the window are kept.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from earshot.kinds import KINDS
from earshot.timeutil import utc_datetime, utc_iso

from .base import Batch, Page, Reader, Window
from .feeds import html_to_text
from .http import FetchError, json_body

# A status's id can be stamped a few milliseconds (remote statuses: more)
# before its created_at; start each window's walk this much earlier.
ID_CLOCK_SLACK = timedelta(minutes=5)


def snowflake_floor(moment: datetime) -> str:
    """The largest Mastodon id below every status created at or after ``moment``.

    >>> from datetime import datetime, timezone
    >>> snowflake_floor(datetime(2026, 8, 1, 13, 55, 55, 865000, tzinfo=timezone.utc))
    '117020593741168639'
    >>> int(snowflake_floor(datetime(2026, 8, 1, 13, 55, 55, 865000, tzinfo=timezone.utc))) < 117020593741189701
    True
    """
    return str((int(moment.timestamp() * 1000) << 16) - 1)


class Mastodon(Reader):
    """``tag`` (default: the source's query) on each of ``instances``."""

    facts = KINDS["mastodon"]
    window = timedelta(days=1)
    page_size = 40
    live_pages = 5

    @property
    def instances(self) -> list[str]:
        return [url.rstrip("/") for url in self.option("instances", [self.base_url])]

    @property
    def tag(self) -> str:
        return (self.option("tag") or self.source.query or "chatgpt").lstrip("#")

    def hosts(self) -> list[str]:
        return self.instances

    def timeline_url(self, instance: str) -> str:
        return f"{instance}/api/v1/timelines/tag/{self.tag}"

    def latest(self, state: dict) -> Batch:
        newest = json.loads(state["cursor"]) if state.get("cursor") else {}
        posts, failures = {}, []
        for instance in self.instances:
            try:
                statuses = self._newer_than(instance, newest.get(instance))
            except FetchError as error:
                failures.append(f"{instance}: {error}")
                continue
            for status in statuses:
                posts.setdefault(status["uri"], self.status_post(status))
            if statuses:
                newest[instance] = max((s["id"] for s in statuses), key=int)
        if failures and len(failures) == len(self.instances):
            raise FetchError("; ".join(failures))
        return Batch(
            list(posts.values()),
            state={"cursor": json.dumps(newest)},
            warning="; ".join(failures) or None,
        )

    def _newer_than(self, instance: str, min_id: str | None) -> list[dict]:
        """Statuses newer than ``min_id`` (up to a few pages), or the newest page."""
        params = {"limit": self.page_size}
        if min_id is None:
            return self.client.get_json(self.timeline_url(instance), params=params)
        statuses, url, params = [], self.timeline_url(instance), {**params, "min_id": min_id}
        for _ in range(self.live_pages):
            response = self.client.get(url, params=params, headers={"Accept": "application/json"})
            page = _json_list(response)
            if not page:
                break
            statuses += page
            url, params = response.links.get("prev", {}).get("url"), None
            if not url:
                break
        return statuses

    def history(self, window: Window, cursor) -> Page:
        cursor = cursor or {"instance": 0, "url": None}
        index = cursor["instance"]
        instance = self.instances[index]
        if cursor["url"]:
            response = self.client.get(cursor["url"], headers={"Accept": "application/json"})
        else:
            params = {"limit": self.page_size, "min_id": snowflake_floor(window.start - ID_CLOCK_SLACK)}
            response = self.client.get(
                self.timeline_url(instance), params=params, headers={"Accept": "application/json"}
            )
        statuses = _json_list(response)
        inside = [s for s in statuses if window.contains(utc_datetime(s["created_at"]))]
        past_end = any(utc_datetime(s["created_at"]) >= window.end for s in statuses)
        newer = response.links.get("prev", {}).get("url")
        if statuses and newer and not past_end:
            next_cursor = {"instance": index, "url": newer}
        elif index + 1 < len(self.instances):
            next_cursor = {"instance": index + 1, "url": None}
        else:
            next_cursor = None
        return Page([self.status_post(s) for s in inside], cursor=next_cursor)

    def status_post(self, status: dict) -> dict:
        account = status.get("account") or {}
        return {
            "source": self.source.name,
            # The uri is the status's identity on every instance.
            "post_id": status["uri"],
            "url": status.get("url") or status["uri"],
            "author": account.get("url") or account.get("acct"),
            "created_at": utc_iso(status["created_at"]),
            "title": None,
            "text": html_to_text(" ".join(filter(None, [status.get("spoiler_text"), status.get("content")]))),
        }


def _json_list(response) -> list[dict]:
    body = json_body(response)
    if not isinstance(body, list):
        raise FetchError(f"expected a list of statuses from {response.request.url}, got {type(body).__name__}")
    return body
