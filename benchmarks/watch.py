"""What one `earshot watch` pass costs on a year of history, fetching aside.

    python benchmarks/watch.py              # a year, six sources
    python benchmarks/watch.py --days 90 --passes 120

Builds a database with ``--days`` of posts on the six post sources of the
bundled config (chatter and a few complaints an hour each, stored as
classified), then, in one run:

- a full refit: ``earshot detect``'s detection over all of it (SQL counts and
  ``RollingBaselineDetector.fit_predict``), what a watch without persisted
  state would do on every pass;
- the watch's first pass, which builds its detector state from the history;
- ``--passes`` watch passes a minute apart, each storing a fetch of a few new
  posts (classified), advancing detection incrementally from the persisted
  state, recording events and writing the heartbeat: the whole pass, and its
  detection alone.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from collectors.base import Batch
from collectors.collect import Fetched, store_fetched
from earshot.analysis import detect
from earshot.complaints.trained import default_classifier
from earshot.config import load_config
from earshot.roof.watch import Watcher
from earshot.store import open_db, store_posts

SOURCES = ["reddit-chatgpt", "reddit-openai", "hackernews", "openai-forum", "mastodon-chatgpt", "bluesky-chatgpt"]


def year_of_posts(db, days: int, end: pd.Timestamp, seed: int = 0) -> int:
    """Chatter (about 8 posts an hour) and complaints (about 0.3 an hour) per source, up to ``end``."""
    rng = np.random.default_rng(seed)
    start = end - pd.Timedelta(days=days)
    total = 0
    for source in SOURCES:
        for complaint, per_hour in ((0, 8.0), (1, 0.3)):
            n = rng.poisson(per_hour * 24 * days)
            moments = start + pd.to_timedelta(rng.uniform(0, days * 86400, n), unit="s")
            rows = [
                {
                    "source": source,
                    "post_id": f"{source}-{complaint}-{i}",
                    "author_hash": f"a{rng.integers(1_000_000)}",
                    "created_at": moment.isoformat(),
                    "text": "is chatgpt down?" if complaint else "chatgpt wrote my tests",
                    "service": "chatgpt",
                    "is_complaint": complaint,
                    "problem": "down" if complaint else None,
                }
                for i, moment in enumerate(moments)
            ]
            total += store_posts(db, rows)[0]
    return total


def fetched_posts(source, n: int, now: pd.Timestamp, apart: float) -> list[dict]:
    """Pass ``n``'s fetch of ``source``: five posts ``apart`` seconds apart up to ``now``, one a complaint."""
    return [
        {
            "source": source.name,
            "post_id": f"live-{n}-{k}",
            "author": f"live{n}-{k}",
            "created_at": (now - pd.Timedelta(seconds=apart * k)).isoformat(),
            "title": "chatgpt wrote my tests" if k else "is chatgpt down for anyone?",
        }
        for k in range(5)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--passes", type=int, default=60)
    args = parser.parse_args()

    config = load_config()
    classifier = default_classifier()
    now = pd.Timestamp.now(tz="UTC").floor("min")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "watch.db"
        db = open_db(path)
        started = time.perf_counter()
        posts = year_of_posts(db, args.days, now)
        print(
            f"database: {posts:,} posts over {args.days} days on {len(SOURCES)} sources "
            f"({time.perf_counter() - started:.1f} s to store)"
        )

        started = time.perf_counter()
        result, _ = detect(db, config, "chatgpt", until=now)
        refit = time.perf_counter() - started
        print(f"full refit (earshot detect): {refit:.2f} s for {len(result):,} buckets of {config.counts.bucket}")

        clock = {"now": now}
        watcher = Watcher(path, config, classifier, clock=lambda: clock["now"])
        started = time.perf_counter()
        watcher.detect(now, force=True)
        print(f"watch, first pass (builds its state from the history): {time.perf_counter() - started:.2f} s")

        whole, detecting = [], []
        for n in range(args.passes):
            clock["now"] = now + pd.Timedelta(minutes=n + 1)
            source = config.source(SOURCES[n % len(SOURCES)])
            started = time.perf_counter()
            store_fetched(
                db, config, Fetched(source, batch=Batch(fetched_posts(source, n, clock["now"], 10))), classifier
            )
            began = time.perf_counter()
            watcher.detect(clock["now"], force=True)
            detecting.append(time.perf_counter() - began)
            watcher.release_silences(clock["now"])
            watcher.heartbeat(clock["now"], force=True)
            whole.append(time.perf_counter() - started)

        def ms(values, q=None):
            return 1000 * (statistics.median(values) if q is None else float(np.quantile(values, q)))

        print(
            f"watch pass, fetch excluded ({args.passes} passes a minute apart, 5 new posts each): "
            f"median {ms(whole):.0f} ms, 90th percentile {ms(whole, 0.9):.0f} ms"
        )
        print(
            f"  of which incremental detection: median {ms(detecting):.0f} ms, "
            f"90th percentile {ms(detecting, 0.9):.0f} ms"
        )
        print(f"incremental detection is {refit / statistics.median(detecting):.0f}x faster than a full refit")


if __name__ == "__main__":
    main()
