"""A local Jetstream: Bluesky's firehose, as its README documents it, on 127.0.0.1.

Serves JSON text frames in the real event shape (``tests/fixtures/jetstream_events.jsonl``
are five real ones) over a WebSocket (the ``websockets`` library serves it):
``/subscribe?wantedCollections=…&cursor=…`` replays the kept events from the
cursor (unix microseconds) and then tails new ones; without a cursor it tails
from now. Faults are asked for per connection: close after N frames, a
malformed frame, an oversized one, a stall.

>>> with JetstreamServer() as server:
...     server.publish([post_event("did:plc:a", "3k1", "is chatgpt down?", time_us=1)])
...     server.url.startswith("ws://127.0.0.1:"), len(server.events)
(True, 1)
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

FIXTURE = Path(__file__).parent / "fixtures" / "jetstream_events.jsonl"
POST = "app.bsky.feed.post"


SERVICES = {"chatgpt": ["chatgpt", "openai"], "claude": ["claude", "anthropic"]}


def stream_toml(url: str, services=tuple(SERVICES), extra: str = "") -> str:
    """A config with ``services`` and one jetstream source, ``bsky-stream``, reading ``url``.

    >>> print(stream_toml("ws://127.0.0.1:9/subscribe", services=["chatgpt"]).strip().splitlines()[-1])
    url = "ws://127.0.0.1:9/subscribe"
    """
    blocks = [f'[[services]]\nname = "{name}"\nterms = {json.dumps(SERVICES[name])}\n' for name in services]
    source = f'[[sources]]\nname = "bsky-stream"\nkind = "jetstream"\nurl = "{url}"\n'
    return "\n".join([*blocks, source + extra])


def post_event(did: str, rkey: str, text: str, time_us: int | None = None, langs=("en",), operation="create") -> dict:
    """A post event in Jetstream's shape (a delete carries no record)."""
    time_us = time_us or time.time_ns() // 1000
    commit = {"rev": f"r{rkey}", "operation": operation, "collection": POST, "rkey": rkey}
    if operation != "delete":
        created = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time_us / 1e6)) + f".{time_us % 1_000_000 // 1000:03d}Z"
        )
        commit["record"] = {"$type": POST, "createdAt": created, "langs": list(langs), "text": text}
        commit["cid"] = f"bafy{rkey}"
    return {"did": did, "time_us": time_us, "kind": "commit", "commit": commit}


def fixture_events() -> list[dict]:
    """The five real events of the fixture (two likes, a post, a follow, a repost)."""
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Fault:
    """What the next connection does wrong: ``close`` after ``after`` frames, send a
    ``malformed`` or ``oversized`` frame after ``after`` frames, or ``stall`` (send nothing)."""

    kind: str
    after: int = 0


@dataclass
class JetstreamServer:
    events: list[dict] = field(default_factory=list)
    connections: list[dict] = field(default_factory=list)  # each connection's query, as asked
    frames_sent: int = 0
    bytes_sent: int = 0

    def __post_init__(self):
        self._times: list[int] = []
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None

    # -- control (any thread) ---------------------------------------------------------

    def publish(self, events: list[dict]) -> None:
        """Add events for replay and for every live connection. Like the real
        server, which stamps ``time_us`` as it receives, the stream only moves
        forward: an event older than the newest is stamped just after it."""
        with self._lock:
            for event in events:
                if self._times and event["time_us"] <= self._times[-1]:
                    event["time_us"] = self._times[-1] + 1
                self._times.append(event["time_us"])
                self.events.append(event)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._notify)

    def fail_next(self, kind: str, after: int = 0) -> None:
        self._faults.append(Fault(kind, after))

    # -- serving ------------------------------------------------------------------------

    def _notify(self):
        self._wake.set()
        self._wake = asyncio.Event()

    async def _handler(self, ws):
        with contextlib.suppress(ConnectionClosed):
            await self._serve(ws)

    async def _serve(self, ws):
        query = parse_qs(urlsplit(ws.request.path).query)
        self.connections.append({k: v[-1] for k, v in query.items()})
        wanted = set(query.get("wantedCollections", []))
        fault = self._faults.pop(0) if self._faults else None
        with self._lock:
            if "cursor" in query:
                at = bisect.bisect_left(self._times, int(query["cursor"][-1]))
            else:
                at = bisect.bisect_right(self._times, time.time_ns() // 1000)
        sent = 0
        while True:
            with self._lock:
                batch = self.events[at:]
            if not batch:
                if ws.close_code is not None:  # the client left, or the server is closing
                    return
                wake = self._wake
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=0.5)
                continue
            for event in batch:
                at += 1
                if wanted and event.get("kind") == "commit" and event["commit"].get("collection") not in wanted:
                    continue
                if wanted and event.get("kind") != "commit":
                    continue
                if fault is not None and sent >= fault.after:
                    if fault.kind == "close":
                        await ws.close(1011, "going away")
                        return
                    if fault.kind == "malformed":
                        await ws.send('{"did": "did:plc:broken", "time_us": ')
                    elif fault.kind == "oversized":
                        await ws.send(json.dumps({"pad": "x" * (2 << 20)}))
                    elif fault.kind == "stall":
                        while ws.close_code is None:  # silent until the client gives up on it
                            await asyncio.sleep(0.1)
                        return
                    fault = None
                frame = json.dumps(event, ensure_ascii=False)
                await ws.send(frame)
                sent += 1
                self.frames_sent += 1
                self.bytes_sent += len(frame.encode())

    async def _main(self, port: int):
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", port, max_size=None, compression=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def start(self, port: int = 0) -> JetstreamServer:
        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._main(port))

        self._thread = threading.Thread(target=run, name="jetstream-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the local Jetstream did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/subscribe"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


COMPLAINTS = [
    "is chatgpt down? nothing loads",
    "chatgpt keeps failing with network error",
    "openai api returning 502 on every request",
    "chatgpt down again?? can't get a single answer",
    "getting 'something went wrong' from chatgpt for the last few minutes",
]


def complaint_burst(n: int, start_us: int, spacing_us: int, prefix: str = "burst") -> list[dict]:
    """``n`` complaints about ChatGPT from ``n`` different people, ``spacing_us`` apart."""
    return [
        post_event(
            f"did:plc:{prefix}{i}", f"{prefix}{i}", COMPLAINTS[i % len(COMPLAINTS)], time_us=start_us + i * spacing_us
        )
        for i in range(n)
    ]


def store_history(db, config, source_name: str, classifier, days: float = 3.0, seed: int = 1) -> int:
    """Ordinary chatter of the last ``days`` (the simulator's, worded), stored as
    ``source_name``'s posts, so the detector has a baseline to hear a burst against."""
    import pandas as pd

    from earshot.ingest import ingest
    from tests.live import scenario_posts

    now = pd.Timestamp.now(tz="UTC").floor("5min")
    posts, _ = scenario_posts(f"chatter:{days}", seed=seed, start=now - pd.Timedelta(days=days))
    posts = posts[(posts["source"] == "reddit-chatgpt") & (posts["created_at"] < now - pd.Timedelta("5min"))]
    source = next(s for s in config.sources if s.name == source_name)
    rows = [
        {"source": source_name, "post_id": f"past-{i}", "author": a, "created_at": t.isoformat(), "text": x}
        for i, a, t, x in zip(posts.index, posts["author"], posts["created_at"], posts["text"], strict=True)
    ]
    new, _ = ingest(db, config, source, rows, classifier)
    return new


def main() -> None:
    """``python -m tests.jetstream --port 8766 --rate 25``: a local Jetstream to try by hand,
    sending ``--rate`` posts a second, one in ``--every`` about ChatGPT (every tenth of those a complaint)."""
    import argparse
    import random

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--every", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(1)
    chatter = ["chatgpt wrote my cover letter", "openai's new model is wild", "asked chatgpt for a recipe"]
    other = ["good morning everyone", "the cat knocked over my coffee", "new blog post: gardening in winter"]
    server = JetstreamServer().start(args.port)
    print(f"a local Jetstream at {server.url} ({args.rate:g} posts/s); Ctrl-C stops it", flush=True)
    k, run = 0, f"{int(time.time()):x}"  # rkeys of this run, unlike a restarted server's
    try:
        while True:
            now = time.time_ns() // 1000
            text = rng.choice(other)
            if k % args.every == 0:
                text = COMPLAINTS[k % len(COMPLAINTS)] if k % (10 * args.every) == 0 else rng.choice(chatter)
            server.publish([post_event(f"did:plc:h{k % 997}", f"{run}h{k}", text, time_us=now)])
            k += 1
            time.sleep(1 / args.rate)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
