"""Bluesky posts through ``app.bsky.feed.searchPosts``.

Search needs a session for reliable access: set ``EARSHOT_BLUESKY_HANDLE`` and
``EARSHOT_BLUESKY_APP_PASSWORD`` (an app password, not the account's). The
session is created once per process (``createSession`` is limited to 30 per
5 minutes), kept in memory only, and refreshed when the access token expires.
Without them, search goes anonymously to ``public_url`` (the public AppView),
which may refuse it; the error then names the variables to set.

History: ``since`` (inclusive) / ``until`` (exclusive) windows, paged with
``cursor``. Times are the post's ``indexedAt``: ``record.createdAt`` is set by
the client and can be anything.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import timedelta

from earshot.kinds import KINDS
from earshot.timeutil import utc_iso

from .base import Batch, Page, Reader, Window, refused, secret
from .http import FetchError

HANDLE_ENV = "EARSHOT_BLUESKY_HANDLE"
PASSWORD_ENV = "EARSHOT_BLUESKY_APP_PASSWORD"


@dataclass
class Session:
    access_jwt: str
    refresh_jwt: str


# One session per (server, handle) for the life of the process.
_sessions: dict[tuple[str, str], Session] = {}
_sessions_lock = threading.Lock()


class Bluesky(Reader):
    """``base_url`` is the account's server (PDS); ``query`` the search terms."""

    facts = KINDS["bluesky"]
    window = timedelta(days=1)
    live_pages = 5

    @property
    def public_url(self) -> str:
        return self.option("public_url", "https://public.api.bsky.app").rstrip("/")

    def hosts(self) -> list[str]:
        return [self.base_url, self.public_url]

    def search(self, params: dict) -> dict:
        params = {"q": self.source.query or "chatgpt", "sort": "latest", "limit": 100, **params}
        return self._authorised_get("/xrpc/app.bsky.feed.searchPosts", params)

    def latest(self, state: dict) -> Batch:
        since = json.loads(state["cursor"])["since"] if state.get("cursor") else None
        posts, cursor = [], None
        for _ in range(self.live_pages):
            data = self.search({k: v for k, v in {"since": since, "cursor": cursor}.items() if v})
            posts += [self.post_row(view) for view in data.get("posts", [])]
            cursor = data.get("cursor")
            if not cursor or not data.get("posts"):
                break
        newest = max((p["created_at"] for p in posts), default=since)
        return Batch(posts, state={"cursor": json.dumps({"since": newest})} if newest else {})

    def history(self, window: Window, cursor) -> Page:
        params = {"since": utc_iso(window.start), "until": utc_iso(window.end)}
        if cursor:
            params["cursor"] = cursor
        data = self.search(params)
        views = data.get("posts", [])
        return Page([self.post_row(view) for view in views], cursor=data.get("cursor") if views else None)

    def post_row(self, view: dict) -> dict:
        author = view.get("author") or {}
        rkey = view["uri"].rsplit("/", 1)[-1]
        return {
            "source": self.source.name,
            "post_id": view["uri"],
            "url": f"https://bsky.app/profile/{author.get('handle') or author.get('did')}/post/{rkey}",
            "author": author.get("did"),
            "created_at": utc_iso(view.get("indexedAt") or view["record"]["createdAt"]),
            "title": None,
            "text": (view.get("record") or {}).get("text", ""),
        }

    # -- the session ---------------------------------------------------------

    def _authorised_get(self, path: str, params: dict) -> dict:
        session = self._session()
        url = (self.base_url if session else self.public_url) + path
        try:
            return self.client.get_json(url, params=params, headers=_bearer(session))
        except FetchError as error:
            if session is None or not _token_expired(error):
                if session is None and error.status in (401, 403):
                    raise FetchError(
                        f"{error}; Bluesky search needs a session: set {HANDLE_ENV} and {PASSWORD_ENV}",
                        error.response,
                    ) from None
                raise
        return self.client.get_json(url, params=params, headers=_bearer(self._refresh(session)))

    def _session(self) -> Session | None:
        handle, password = secret(HANDLE_ENV), secret(PASSWORD_ENV)
        if not (handle and password):
            return None
        key = self._session_key()
        with _sessions_lock:
            if key not in _sessions:
                try:
                    data = self.client.request(
                        "POST",
                        f"{self.base_url}/xrpc/com.atproto.server.createSession",
                        json={"identifier": handle, "password": password},
                    ).json()
                except FetchError as error:
                    raise refused(error, HANDLE_ENV, PASSWORD_ENV) from None
                _sessions[key] = Session(data["accessJwt"], data["refreshJwt"])
            return _sessions[key]

    def _refresh(self, session: Session) -> Session:
        """Swap an expired access token for a new one; log in again if refreshing fails."""
        key = self._session_key()
        try:
            data = self.client.request(
                "POST",
                f"{self.base_url}/xrpc/com.atproto.server.refreshSession",
                headers={"Authorization": f"Bearer {session.refresh_jwt}"},
            ).json()
            fresh = Session(data["accessJwt"], data["refreshJwt"])
        except FetchError:
            with _sessions_lock:
                _sessions.pop(key, None)
            fresh = self._session()
        with _sessions_lock:
            _sessions[key] = fresh
        return fresh

    def _session_key(self) -> tuple[str, str]:
        return (self.base_url, secret(HANDLE_ENV))


def _bearer(session: Session | None) -> dict:
    return {"Authorization": f"Bearer {session.access_jwt}"} if session else {}


def _token_expired(error: FetchError) -> bool:
    if error.status not in (400, 401):
        return False
    try:
        return error.response.json().get("error") in ("ExpiredToken", "InvalidToken")
    except ValueError:
        return False
