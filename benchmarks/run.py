"""earshot's benchmarks: one command, figures printed.

    python benchmarks/run.py            # all of them
    python benchmarks/run.py --rows 50000

Measures, on this machine:
- the store: posts stored per second by ``store_posts`` (sqlite-utils, with
  duplicate detection) next to plain ``sqlite3`` ``executemany`` of the same rows;
- the detector: buckets per second of ``RollingBaselineDetector.fit_predict``
  over a year of 5-minute buckets;
- the demo: seconds to build the demo database;
- backfill: posts stored per second by ``earshot backfill`` against the local
  API emulator (real HTTP on 127.0.0.1, rate limits off), per source kind.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from detector import RollingBaselineDetector
from earshot.demo import build_demo
from earshot.store import POST_COLUMNS, open_db, store_posts


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - started, value


def make_posts(n: int) -> list[dict]:
    rng = np.random.default_rng(0)
    stamps = 1_699_000_000 + np.sort(rng.integers(0, 86_400 * 30, n))
    return [
        {
            "source": "reddit-chatgpt",
            "post_id": f"t3_{i}",
            "url": f"https://www.reddit.com/r/ChatGPT/comments/{i}",
            "author_hash": f"{i % 5000:016x}",
            "created_at": pd.Timestamp(int(s), unit="s", tz="UTC").isoformat(),
            "title": "Is ChatGPT down?",
            "text": "anyone else getting network error",
            "service": "chatgpt",
            "is_complaint": 1,
            "problem": "errors",
        }
        for i, s in enumerate(stamps)
    ]


def bench_store(rows: int, folder: Path) -> None:
    posts = make_posts(rows)
    db = open_db(folder / "store.db")
    seconds, (new, _) = timed(store_posts, db, posts)
    again, (_, duplicates) = timed(store_posts, db, posts)

    plain = sqlite3.connect(folder / "plain.db")
    plain.execute("PRAGMA journal_mode = wal")
    # The same table and indexes as the store's, so only the code path differs.
    for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'posts' AND sql IS NOT NULL"):
        plain.execute(sql)
    columns = list(POST_COLUMNS)
    values = [tuple(p.get(c) for c in columns) for p in posts]
    sql = f"INSERT OR IGNORE INTO posts VALUES ({', '.join('?' for _ in columns)})"

    def executemany():
        with plain:
            plain.executemany(sql, values)

    raw, _ = timed(executemany)
    print(f"store_posts            {new:>9,} new rows   {new / seconds:>10,.0f} rows/s")
    print(f"store_posts (all dups) {duplicates:>9,} rows       {rows / again:>10,.0f} rows/s")
    print(f"sqlite3 executemany    {rows:>9,} rows       {rows / raw:>10,.0f} rows/s  (same rows and schema, no normalisation)")


def bench_detector() -> None:
    index = pd.date_range("2023-01-01", "2024-01-01", freq="5min", tz="UTC", inclusive="left")
    counts = pd.Series(np.random.default_rng(1).poisson(0.5, len(index)), index=index)
    detector = RollingBaselineDetector()
    seconds, _ = timed(detector.fit_predict, counts)
    print(f"RollingBaselineDetector {len(index):>8,} buckets    {len(index) / seconds:>10,.0f} buckets/s  ({seconds:.2f} s for a year of 5-min buckets)")


def bench_demo(folder: Path) -> None:
    seconds, built = timed(build_demo, folder / "demo.db")
    print(f"build_demo             {built['posts']:>9,} posts      {seconds:>10.1f} s")


def bench_backfill(days: int, per_day: int) -> None:
    import io
    import sys
    import tomllib

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from collectors.backfill import LogProgress, backfill
    from collectors.http import HttpClient
    from earshot.config import parse_config
    from tests.emulator import START, Emulator, config_toml, make_corpus, serve

    emulator = Emulator(make_corpus(days=days, per_day=per_day))
    until = START + pd.Timedelta(days=days).to_pytimedelta()
    # The emulator's own test login, so the Bluesky reader opens a session.
    os.environ["EARSHOT_BLUESKY_HANDLE"] = "bench.bsky.social"
    os.environ["EARSHOT_BLUESKY_APP_PASSWORD"] = "app-password-1234"
    with serve(emulator) as base, tempfile.TemporaryDirectory() as folder:
        config = parse_config(tomllib.loads(config_toml(base)), "emulator.toml")
        for name in ("hackernews", "forum", "mastodon", "bluesky", "reddit"):
            db = open_db(Path(folder) / f"{name}.db")
            with HttpClient(timeout=30, attempts=3, min_interval=0) as client:
                seconds, report = timed(
                    backfill, db, config, config.source(name), client, START, until,
                    progress_factory=lambda *a: LogProgress(*a, stream=io.StringIO()), min_interval=0.0,
                )
            print(f"backfill {name:<13} {report.new:>9,} posts      {report.new / seconds:>10,.0f} posts/s  "
                  f"({report.pages} pages, {report.pages / seconds:,.0f} pages/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="posts for the store benchmark (default 100000)")
    parser.add_argument("--backfill-days", type=int, default=20, help="days of emulated history to backfill (default 20)")
    parser.add_argument("--per-day", type=int, default=1000, help="emulated posts a day (default 1000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bench_store(args.rows, Path(folder))
        bench_backfill(args.backfill_days, args.per_day)
        bench_detector()
        bench_demo(Path(folder))


if __name__ == "__main__":
    main()
