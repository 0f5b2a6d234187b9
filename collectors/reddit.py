"""Reddit: a subreddit's new posts (or a search inside it), and its history.

Live: the JSON API through app-only OAuth when ``EARSHOT_REDDIT_CLIENT_ID`` and
``EARSHOT_REDDIT_CLIENT_SECRET`` are set (anonymous JSON is refused), else the
public Atom feed. History: the Arctic Shift archive
(``/api/posts/search`` and, with ``comments = true``, ``/api/comments/search``),
oldest first. Post ids are Reddit's fullnames (``t3_...``, ``t1_...``) on every
path, so the feed, the API and the archive store each post once.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from earshot.kinds import KINDS
from earshot.timeutil import utc_datetime, utc_iso

from .base import Batch, Page, Reader, Window, epoch, need, refused, secret
from .feeds import feed_batch
from .http import FetchError

CLIENT_ID_ENV = "EARSHOT_REDDIT_CLIENT_ID"
CLIENT_SECRET_ENV = "EARSHOT_REDDIT_CLIENT_SECRET"

# App-only tokens per (auth server, client id): (token, expires at, monotonic).
_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


class Reddit(Reader):
    """Options: ``subreddit`` (required), ``oauth_url``, ``archive_url``, ``comments``."""

    facts = KINDS["reddit"]
    # Anonymous feeds are throttled hard on shared addresses; OAuth allows 100 a minute.
    window = timedelta(days=1)
    page_size = 100

    @property
    def subreddit(self) -> str:
        return need(self.option("subreddit"), "a 'subreddit'", self.source)

    @property
    def oauth_url(self) -> str:
        return self.option("oauth_url", "https://oauth.reddit.com").rstrip("/")

    @property
    def archive_url(self) -> str:
        return self.option("archive_url", "https://arctic-shift.photon-reddit.com").rstrip("/")

    def hosts(self) -> list[str]:
        return [self.base_url, self.oauth_url, self.archive_url]

    # -- live ----------------------------------------------------------------

    def latest(self, state: dict) -> Batch:
        if secret(CLIENT_ID_ENV) and secret(CLIENT_SECRET_ENV):
            return Batch(self._api_listing())
        return self._feed(state)

    def _feed(self, state: dict) -> Batch:
        if self.source.query:
            url = f"{self.base_url}/r/{self.subreddit}/search.rss?q={self.source.query}&restrict_sr=1&sort=new"
        else:
            url = f"{self.base_url}/r/{self.subreddit}/new/.rss"
        return feed_batch(self.client, self.source.name, url, state)

    def _api_listing(self) -> list[dict]:
        if self.source.query:
            path = f"/r/{self.subreddit}/search"
            params = {"q": self.source.query, "restrict_sr": 1, "sort": "new"}
        else:
            path, params = f"/r/{self.subreddit}/new", {}
        data = self.client.get_json(
            self.oauth_url + path,
            params={**params, "limit": self.page_size, "raw_json": 1},
            headers={"Authorization": f"Bearer {self._token()}"},
        )
        return [self.thing_post(child["data"], child.get("kind", "t3")) for child in data["data"]["children"]]

    def _token(self) -> str:
        client_id, client_secret = secret(CLIENT_ID_ENV), secret(CLIENT_SECRET_ENV)
        key = (self.base_url, client_id)
        with _tokens_lock:
            token, expires = _tokens.get(key, (None, 0.0))
            if token is None or time.monotonic() > expires - 60:
                try:
                    data = self.client.request(
                        "POST",
                        f"{self.base_url}/api/v1/access_token",
                        data={"grant_type": "client_credentials"},
                        auth=(client_id, client_secret),
                    ).json()
                except FetchError as error:
                    raise refused(error, CLIENT_ID_ENV, CLIENT_SECRET_ENV) from None
                token, expires = data["access_token"], time.monotonic() + float(data.get("expires_in", 3600))
                _tokens[key] = (token, expires)
            return token

    # -- history -------------------------------------------------------------

    def history(self, window: Window, cursor) -> Page:
        """One page of the archive. The cursor holds the stream (posts, then
        comments), the last second read and the ids already seen in that
        second, so posts sharing a timestamp across a page boundary are neither
        lost nor read twice."""
        cursor = cursor or {"stream": "posts", "after": epoch(window.start) - 1, "seen": []}
        stream = cursor["stream"]
        params = {
            "subreddit": self.subreddit,
            "after": cursor["after"],
            "before": epoch(window.end) if window.end.microsecond == 0 else epoch(window.end) + 1,
            "sort": "asc",
            "limit": self.page_size,
        }
        if self.source.query:
            params["query" if stream == "posts" else "body"] = self.source.query
        data = self.client.get_json(f"{self.archive_url}/api/{stream}/search", params=params)["data"]
        seen = set(cursor["seen"])
        fresh = [thing for thing in data if _fullname(thing, stream) not in seen]
        posts = [
            self.thing_post(thing, "t3" if stream == "posts" else "t1")
            for thing in fresh
            if window.contains(utc_datetime(thing["created_utc"]))
        ]
        if len(data) >= self.page_size:
            last = max(int(thing["created_utc"]) for thing in data)
            if not fresh:  # a whole page inside one second, all read: move past it
                return Page(posts, cursor={"stream": stream, "after": last, "seen": []})
            at_last = [_fullname(t, stream) for t in data if int(t["created_utc"]) == last]
            carried = cursor["seen"] if last == cursor["after"] + 1 else []
            return Page(posts, cursor={"stream": stream, "after": last - 1, "seen": carried + at_last})
        if stream == "posts" and self.option("comments", False):
            return Page(posts, cursor={"stream": "comments", "after": epoch(window.start) - 1, "seen": []})
        return Page(posts)

    def thing_post(self, thing: dict, kind: str) -> dict:
        """A Reddit post (t3) or comment (t1), from the API or the archive, as a post row."""
        permalink = thing.get("permalink") or ""
        return {
            "source": self.source.name,
            "post_id": f"{kind}_{thing['id']}",
            "url": f"https://www.reddit.com{permalink}" if permalink.startswith("/") else permalink or None,
            "author": thing.get("author"),
            "created_at": utc_iso(float(thing["created_utc"])),
            "title": thing.get("title"),
            "text": thing.get("selftext") or thing.get("body") or "",
        }


def _fullname(thing: dict, stream: str) -> str:
    return ("t3_" if stream == "posts" else "t1_") + thing["id"]
