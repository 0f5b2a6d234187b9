"""Bluesky's Jetstream: every public post as it is made, over one WebSocket.

Jetstream (``wss://jetstream2.us-east.bsky.network/subscribe``) is the open,
keyless firehose of the Bluesky network as plain JSON: one text frame per
event. earshot subscribes to posts only (``wantedCollections=app.bsky.feed.post``)
and reads the documented event shape::

    {"did": "did:plc:…", "time_us": 1763689821449193, "kind": "commit",
     "commit": {"operation": "create", "collection": "app.bsky.feed.post",
                "rkey": "3m64666fhis2e", "cid": "bafy…",
                "record": {"text": "…", "createdAt": "…", "langs": ["en"], …}}}

``identity`` and ``account`` events are skipped; a ``delete`` (no ``record``)
names a post its author withdrew. A post's id is its ``at://`` URI. The
stream is everyone's posts, so only those that name a configured service
(one pass of :meth:`earshot.config.Config.mentioned_service`) are kept.

``time_us`` is the cursor: a connection opened with ``cursor=T`` replays from
T (the server keeps about 36 hours). The reader resumes a little before the
last event handled (:data:`REWIND_US`) and drops what it already handled; the
store's ``(source, post_id)`` key drops the rest, so nothing is stored twice
and nothing is missed across a reconnect, a restart or a SIGKILL.

Two ways to read it:

- :meth:`Jetstream.latest` (``earshot collect``, ``watch --once``): from the
  stored cursor until caught up with the present or the fetch's deadline.
- :meth:`Jetstream.follow` (``earshot watch``): one long-lived connection,
  handing a batch to its caller at most :data:`FLUSH_SECONDS` apart, and
  reconnecting with backoff and jitter when the server closes, stalls or
  sends what cannot be read.

>>> import json
>>> frame = json.dumps({"did": "did:plc:abc", "time_us": 1700000000000000, "kind": "commit",
...     "commit": {"operation": "create", "collection": "app.bsky.feed.post", "rkey": "3kx",
...                "record": {"text": "is chatgpt down?", "createdAt": "2023-11-14T22:13:20Z"}}})
>>> event = read_event(frame, "bsky")
>>> event.time_us, event.post["post_id"], event.post["text"]
(1700000000000000, 'at://did:plc:abc/app.bsky.feed.post/3kx', 'is chatgpt down?')
>>> read_event('{"did": "did:plc:abc", "time_us": 1, "kind": "identity"}', "bsky").post is None
True
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect

from earshot import USER_AGENT
from earshot.config import Config, Source
from earshot.kinds import KINDS

from .base import Batch, Reader
from .http import FetchError, HttpClient

POST = "app.bsky.feed.post"
# Resume this far before the last event handled: events of one moment may arrive out of order.
REWIND_US = 2_000_000
# Jetstream's frames are small JSON; a frame past this is not a post, and the connection is dropped.
MAX_FRAME = 1 << 20
# Watch gets what was read at most this often (and the stored cursor moves as often).
FLUSH_SECONDS = 0.5
# No frame at all for this long (the public stream sends dozens a second): the connection is stalled.
STALL_SECONDS = 30.0
# In `collect`, a pause this long in what the server sends means it has sent everything it had.
CAUGHT_UP_SECONDS = 1.0
# Reconnect waits: exponential from BACKOFF_FIRST, at most BACKOFF_MAX, with full jitter.
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0


@dataclass
class Event:
    """One frame, as much as earshot needs of it."""

    time_us: int
    post: dict | None = None  # a created (or edited) post, as ingest takes it
    deleted: str | None = None  # the at:// URI of a post its author deleted


class Malformed(ValueError):
    """A frame that is not a Jetstream event."""


def read_event(frame: str | bytes, source_name: str) -> Event:
    """The event in one frame; :class:`Malformed` when it is not one.

    >>> read_event("not json", "bsky")
    Traceback (most recent call last):
    ...
    collectors.jetstream.Malformed: not JSON: Expecting value: line 1 column 1 (char 0)
    """
    try:
        data = json.loads(frame)
        time_us = int(data["time_us"])
    except json.JSONDecodeError as error:
        raise Malformed(f"not JSON: {error}") from None
    except (KeyError, TypeError, ValueError):
        raise Malformed("no time_us: not a Jetstream event") from None
    commit = data.get("commit") if data.get("kind") == "commit" else None
    if not isinstance(commit, dict) or commit.get("collection") != POST or not data.get("did"):
        return Event(time_us)
    uri = f"at://{data['did']}/{POST}/{commit.get('rkey')}"
    if commit.get("operation") == "delete":
        return Event(time_us, deleted=uri)
    record = commit.get("record")
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        return Event(time_us)
    created = record.get("createdAt") or _iso(time_us)
    return Event(
        time_us,
        post={
            "source": source_name,
            "post_id": uri,
            "url": f"https://bsky.app/profile/{data['did']}/post/{commit.get('rkey')}",
            "author": data["did"],
            "created_at": created,
            "text": record["text"],
            "langs": record.get("langs") or [],
        },
    )


def subscribe_url(base: str, cursor: int | None = None) -> str:
    """The subscription address: posts only, from ``cursor`` when given.

    >>> subscribe_url("wss://jetstream2.us-east.bsky.network/subscribe", 1700000000000000)
    'wss://jetstream2.us-east.bsky.network/subscribe?wantedCollections=app.bsky.feed.post&cursor=1700000000000000'
    """
    parts = urlsplit(base)
    query = [("wantedCollections", POST)] + ([("cursor", str(cursor))] if cursor is not None else [])
    joined = "&".join(filter(None, [parts.query, urlencode(query)]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, ""))


def now_us() -> int:
    return time.time_ns() // 1000


def _iso(time_us: int) -> str:
    return datetime.fromtimestamp(time_us / 1e6, UTC).isoformat()


class Jetstream(Reader):
    facts = KINDS["jetstream"]

    def __init__(self, source: Source, client: HttpClient, config: Config | None = None):
        super().__init__(source, client)
        self.config = config
        self.url = source.url or self.base_url
        self.langs = {lang.lower() for lang in source.options.get("langs", [])}
        self.stall = float(source.options.get("stall_seconds", STALL_SECONDS))

    def hosts(self) -> list[str]:
        return []  # one WebSocket, not HTTP requests: no per-host request spacing

    # -- what is kept ------------------------------------------------------------------

    def keep(self, post: dict) -> bool:
        """Whether ``post`` is about a service this source serves (and in its languages)."""
        if self.langs and not self.langs & {str(lang).lower() for lang in post["langs"]}:
            return False
        if self.config is None:
            return True
        mentioned = self.config.mentioned_service(post["text"])
        return mentioned is not None and (self.source.service is None or mentioned == self.source.service)

    def _take(self, event: Event, items: list[dict], deleted: list[str]) -> None:
        if event.post is not None and self.keep(event.post):
            items.append({k: v for k, v in event.post.items() if k != "langs"})
        elif event.deleted is not None:
            deleted.append(event.deleted)

    @contextlib.contextmanager
    def _connect(self, cursor: int | None, timeout: float):
        """An open subscription from a little before ``cursor`` (from the live edge when None)."""
        start = None if cursor is None else max(int(cursor) - REWIND_US, 0)
        address = subscribe_url(self.url, start)
        try:
            opening = connect(
                address,
                open_timeout=timeout,
                close_timeout=2,
                max_size=MAX_FRAME,
                user_agent_header=USER_AGENT,
                compression=None,
            )
            ws = opening.__enter__()  # the handshake (websockets >= 16 makes it here, older in connect)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
            raise FetchError(f"could not connect to {self.url}: {_reason(error)}") from None
        try:
            yield ws
        finally:
            opening.__exit__(None, None, None)

    # -- catching up (collect) ---------------------------------------------------------

    def latest(self, state: dict) -> Batch:
        """From the stored cursor until caught up with the present (an event
        stamped after this call began) or the fetch's deadline; a first read
        with no cursor starts at the live edge and stores where it is."""
        cursor = int(state["cursor"]) if state.get("cursor") else None
        began = now_us()
        budget = self.client.remaining()
        budget = 30.0 if budget is None else budget
        ends = time.monotonic() + budget
        items, deleted, malformed = [], [], 0
        last = cursor
        warning = None
        with self._connect(cursor, max(min(budget, 10.0), 0.1)) as ws:
            while True:
                left = ends - time.monotonic()
                if left <= 0:
                    behind = (began - (last or began)) / 1e6
                    warning = (
                        f"stopped at the fetch's deadline, {behind:.0f} s behind the present; the next run goes on"
                    )
                    break
                try:
                    frame = ws.recv(timeout=min(left, CAUGHT_UP_SECONDS))
                except TimeoutError:
                    if time.monotonic() < ends:  # a lull: the server has nothing more to send now
                        if last is None:
                            warning = f"the stream sent nothing for {CAUGHT_UP_SECONDS:g} s"
                            last = cursor or began
                        break
                    continue
                except ConnectionClosed as error:
                    if last is None:
                        raise FetchError(f"{self.url} closed the connection: {_closed(error)}") from None
                    warning = f"the server closed the connection ({_closed(error)}); the next run goes on from there"
                    break
                try:
                    event = read_event(frame, self.source.name)
                except Malformed:
                    malformed += 1
                    continue
                if cursor is not None and event.time_us <= cursor:
                    continue  # handled before: the rewind reads it again
                self._take(event, items, deleted)
                last = event.time_us
                if event.time_us >= began:
                    break
        if malformed:
            skipped = f"{malformed} malformed frame{'s' if malformed != 1 else ''} skipped"
            warning = f"{warning}; {skipped}" if warning else skipped
        return Batch(items, state={"cursor": str(last)} if last is not None else {}, deleted=deleted, warning=warning)

    # -- following (watch) -------------------------------------------------------------

    def follow(
        self,
        cursor: int | None,
        deliver: Callable[[Batch], None],
        stop: threading.Event,
        notice: Callable[[str], None],
    ) -> None:
        """Read the live stream until ``stop`` is set, handing ``deliver`` a
        batch (posts kept, posts deleted, the cursor after them) at most
        :data:`FLUSH_SECONDS` apart. ``deliver`` may block: the stream then
        waits on the socket and the server holds the rest, which the cursor
        reads back. A dropped, stalled or unreadable connection is said once
        through ``notice`` and reopened after a backoff with jitter, from the
        cursor. Never raises for what the server does."""
        failures = 0
        while not stop.is_set():
            try:
                with self._connect(cursor, 10.0) as ws:
                    cursor = self._pump(ws, cursor, deliver, stop)
                    failures = 0
                    if stop.is_set():
                        return
                    reason = "the connection ended"
            except _Dropped as dropped:
                cursor, reason = dropped.cursor, dropped.reason
                failures = 0 if dropped.read_any else failures
            except FetchError as error:
                reason = str(error)
            failures += 1
            wait = random.uniform(0, min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1)))
            resume = f"from {_iso(cursor)}" if cursor is not None else "at the live edge"
            notice(f"{reason}; reconnecting in {wait:.1f} s, {resume}")
            stop.wait(wait)

    def _pump(self, ws, cursor, deliver, stop) -> int | None:
        items, deleted = [], []
        flushed, read_any, malformed = cursor, False, 0
        last_frame = time.monotonic()
        flush_at = time.monotonic() + FLUSH_SECONDS

        def flush():
            nonlocal items, deleted, flushed, flush_at
            if cursor != flushed or items or deleted:
                warning = f"{malformed} malformed frame(s) skipped" if malformed else None
                deliver(Batch(items, state={"cursor": str(cursor)}, deleted=deleted, warning=warning))
                items, deleted, flushed = [], [], cursor
            flush_at = time.monotonic() + FLUSH_SECONDS

        while not stop.is_set():
            try:
                frame = ws.recv(timeout=max(0.01, min(flush_at - time.monotonic(), 0.25)))
            except TimeoutError:
                if time.monotonic() - last_frame > self.stall:
                    flush()
                    raise _Dropped(
                        cursor, f"{self.url} sent nothing for {self.stall:g} s (stalled)", read_any
                    ) from None
            except ConnectionClosed as error:
                flush()
                raise _Dropped(cursor, f"{self.url} closed the connection: {_closed(error)}", read_any) from None
            else:
                last_frame = time.monotonic()
                try:
                    event = read_event(frame, self.source.name)
                except Malformed:
                    malformed += 1
                else:
                    if cursor is None or event.time_us > cursor:
                        self._take(event, items, deleted)
                        cursor, read_any = event.time_us, True
            if time.monotonic() >= flush_at:
                flush()
        flush()
        return cursor


class _Dropped(Exception):
    def __init__(self, cursor, reason, read_any):
        super().__init__(reason)
        self.cursor, self.reason, self.read_any = cursor, reason, read_any


def _closed(error: ConnectionClosed) -> str:
    """Why a connection closed, as people say it."""
    frame = error.rcvd or error.sent
    if frame is None:
        return "dropped without a close frame"
    if frame.code == 1009:
        return f"a frame was larger than {MAX_FRAME // 1024} KiB (code 1009)"
    return f"code {frame.code}{' (' + frame.reason + ')' if frame.reason else ''}"


def _reason(error: Exception) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "the connection was refused (nothing listens there)"
    if isinstance(error, TimeoutError):
        return "it did not answer in time"
    return f"{type(error).__name__}: {error}"
