"""What serving /metrics, the feed and the API costs `earshot watch`.

    python benchmarks/serve.py                       # 90 days of history, 120 passes each way, 10,000 scrapes
    python benchmarks/serve.py --days 30 --passes 60 --scrapes 2000

Builds a database with ``--days`` of posts on the six post sources of the
bundled config (benchmarks/watch.py's history), then runs the same watch
passes three ways, each on its own copy of that database, in this process:

- **not serving**: watch as it runs without ``--listen`` (the peer);
- **scraped every second**: serving, with a client asking for /metrics once a
  second, as Prometheus does (at 1 s, not its usual 15 s);
- **scraped flat out**: serving, with a client asking for /metrics, /feed.atom
  and /api/v1/status back to back, as fast as answers come.

Each pass stores a fetch of five new posts and finishes the pass (detect,
record, heartbeat and, when serving, the snapshot); passes are a quarter of a
second apart in real time, so scrapes land between and during them. Printed:
a pass's median and 95th-percentile time each way, and the scrapes served.

Then, on the serving watch: memory (RSS) before and after ``--scrapes``
scrapes of /metrics on one keep-alive connection, and their latency.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.watch import SOURCES, fetched_posts, year_of_posts
from collectors.base import Batch
from collectors.collect import Fetched, store_fetched
from earshot.complaints.trained import default_classifier
from earshot.config import load_config
from earshot.roof.watch import Readings, Server, Watcher
from earshot.store import open_db

SPACING = 0.25
# waitress says when requests queue up; under a flat-out scraper that is expected here.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def rss_mib() -> float:
    """This process's resident memory, from the kernel."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def scraper(url: str, stop: threading.Event, every: float | None, served: list) -> None:
    """Ask ``url``'s endpoints until ``stop``: /metrics every ``every`` seconds, or everything flat out."""
    paths = ["/metrics"] if every else ["/metrics", "/feed.atom", "/api/v1/status"]
    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.is_set():
            for path in paths:
                if client.get(path).status_code == 200:
                    served.append(path)
            if every:
                stop.wait(every)


def passes(path: Path, config, classifier, now: pd.Timestamp, count: int, mode: str):
    """Run ``count`` passes on the database at ``path``; return their seconds, scrapes served, and the server."""
    readings = Readings(config) if mode != "not serving" else None
    clock = {"now": now}
    watcher = Watcher(path, config, classifier, clock=lambda: clock["now"], readings=readings)
    watcher.finish_pass(now, eager=True)  # builds the detector state from the history: not measured
    server = Server(readings, "127.0.0.1", 0).start() if readings else None
    stop, served = threading.Event(), []
    client = None
    if server:
        every = 1.0 if mode == "scraped every second" else None
        client = threading.Thread(target=scraper, args=(server.url, stop, every, served), daemon=True)
        client.start()
    seconds = []
    db = open_db(path)
    for n in range(count):
        clock["now"] = now + pd.Timedelta(seconds=15 * (n + 1))
        source = config.source(SOURCES[n % len(SOURCES)])
        began = time.perf_counter()
        store_fetched(db, config, Fetched(source, batch=Batch(fetched_posts(source, n, clock["now"], 2))), classifier)
        watcher.fetching.storing_seconds = time.perf_counter() - began
        seconds.append(watcher.finish_pass(clock["now"]))
        time.sleep(max(0.0, SPACING - seconds[-1]))
    stop.set()
    if client:
        client.join(timeout=10)
    if readings is not None:  # what one snapshot costs, taken on its own
        took = []
        for _ in range(20):
            began = time.perf_counter()
            readings.take(db, clock["now"], watcher.scores, force=True)
            took.append(time.perf_counter() - began)
        served.append(("snapshot", statistics.median(took)))
    return seconds, served, server


def ms(values, q=None) -> float:
    return 1000 * (statistics.median(values) if q is None else float(np.quantile(values, q)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--passes", type=int, default=120)
    parser.add_argument("--scrapes", type=int, default=10_000)
    args = parser.parse_args()

    config = load_config()
    classifier = default_classifier()
    now = pd.Timestamp.now(tz="UTC").floor("min")
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "base.db"
        posts = year_of_posts(open_db(base), args.days, now)
        print(
            f"database: {posts:,} posts over {args.days} days on {len(SOURCES)} sources; machine: {os.cpu_count()} cores"
        )
        print(f"{args.passes} passes each way, {SPACING:g} s apart, 5 new posts each; a pass's time, waiting excluded:")
        print(f"  {'':24} {'median':>8} {'p95':>8} {'scrapes served':>15}")
        kept = None
        for mode in ("not serving", "scraped every second", "scraped flat out"):
            copy = Path(folder) / f"{mode.replace(' ', '-')}.db"
            shutil.copy(base, copy)
            seconds, served, server = passes(copy, config, classifier, now, args.passes, mode)
            snapshot = [took for item, took in [s for s in served if isinstance(s, tuple)]]
            scrapes = [s for s in served if not isinstance(s, tuple)]
            print(f"  {mode:<24} {ms(seconds):6.1f} ms {ms(seconds, 0.95):6.1f} ms {len(scrapes):>15,}")
            if mode == "scraped every second":
                kept = server
            elif server:
                server.stop()

        # Memory: the serving watch, scraped again and again.
        latencies = []
        with httpx.Client(base_url=kept.url, timeout=10) as client:
            client.get("/metrics")
            before = rss_mib()
            for _ in range(args.scrapes):
                began = time.perf_counter()
                answer = client.get("/metrics")
                latencies.append(time.perf_counter() - began)
                assert answer.status_code == 200
            after = rss_mib()
            size = len(answer.content)
        kept.stop()
        print(f"one snapshot (taken at most once a second while serving): {1000 * snapshot[0]:.1f} ms")
        print(
            f"{args.scrapes:,} scrapes of /metrics ({size:,} bytes each): RSS {before:.1f} -> {after:.1f} MiB "
            f"({after - before:+.1f} MiB); latency median {ms(latencies):.2f} ms, p95 {ms(latencies, 0.95):.2f} ms"
        )


if __name__ == "__main__":
    main()
