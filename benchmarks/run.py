"""earshot's benchmarks: one command, figures printed.

    python benchmarks/run.py            # all of them
    python benchmarks/run.py --rows 50000

Measures, on this machine:
- the store: posts stored per second by ``store_posts`` (sqlite-utils, with
  duplicate detection) next to plain ``sqlite3`` ``executemany`` of the same rows;
- the detector: seconds, buckets per second and peak memory of
  ``RollingBaselineDetector.fit_predict`` over a year of 1-minute buckets from
  six sources, beside a plain pandas rolling-median z-score over the same
  counts, and the cost of one incremental ``update``;
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
from earshot.roof.demo import build_demo
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
    print(
        f"sqlite3 executemany    {rows:>9,} rows       {rows / raw:>10,.0f} rows/s  (same rows and schema, no normalisation)"
    )


def year_of_complaints(sources: int = 6, freq: str = "1min") -> pd.DataFrame:
    """A year of complaint counts per source: a daily rhythm, a few outages."""
    from detector.simulate import daily_rhythm

    index = pd.date_range("2023-01-01", "2024-01-01", freq=freq, tz="UTC", inclusive="left")
    rng = np.random.default_rng(1)
    per_bucket = pd.Timedelta(freq) / pd.Timedelta("1h")
    rhythm = daily_rhythm(index)
    frame = pd.DataFrame(
        {
            f"source{i}": rng.poisson(rate * per_bucket * rhythm)
            for i, rate in enumerate([1.2, 0.4, 0.2, 0.25, 0.15, 0.2][:sources])
        },
        index=index,
    )
    for day in (40, 130, 250, 330):
        at = day * int(pd.Timedelta("1D") / pd.Timedelta(freq))
        frame.iloc[at : at + 60] += rng.poisson(2.0, (60, sources))
    return frame


def rolling_median_z(counts: pd.Series, window="7D", min_periods: int = 60) -> pd.Series:
    """The plain approach to compare with: each bucket's z-score against the
    median and MAD of the ``window`` before it."""
    past = counts.shift(1).rolling(window, min_periods=min_periods)
    median = past.median()
    mad = (counts.shift(1) - median).abs().rolling(window, min_periods=min_periods).median()
    return (counts - median) / (1.4826 * mad).clip(lower=1.0)


def rolling_median_zscore(counts: pd.Series, window: str = "7D", threshold: float = 4.0) -> pd.Series:
    """The buckets :func:`rolling_median_z` flags at ``threshold``."""
    return rolling_median_z(counts, window) >= threshold


def measured(fn, *args, repeat: int = 3):
    """Seconds of the fastest of ``repeat`` calls, and peak traced memory
    (MiB) of one more (tracing slows allocation-heavy numpy code, so it is not timed)."""
    import tracemalloc

    seconds, value = min((timed(fn, *args) for _ in range(repeat)), key=lambda pair: pair[0])
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, value


def bench_detector() -> None:
    frame = year_of_complaints()
    buckets = len(frame)
    cells = buckets * frame.shape[1]
    seconds, peak, result = measured(lambda counts: RollingBaselineDetector().fit_predict(counts), frame)
    print(
        f"RollingBaselineDetector {buckets:>8,} buckets x {frame.shape[1]} sources (a year of 1-min buckets): "
        f"{seconds:.2f} s, {buckets / seconds:,.0f} buckets/s ({cells / seconds:,.0f} counts/s), peak {peak:,.0f} MiB, "
        f"{int(result['onset'].sum())} episodes"
    )
    total = frame.sum(axis=1)
    seconds_z, peak_z, flagged = measured(rolling_median_zscore, total)
    print(
        f"rolling median z-score  {buckets:>8,} buckets x 1 series (the pooled counts, pandas):      "
        f"{seconds_z:.2f} s, {buckets / seconds_z:,.0f} buckets/s, peak {peak_z:,.0f} MiB, "
        f"{int(flagged.sum())} buckets flagged"
    )
    print(f"detector / rolling median z-score: {seconds / seconds_z:.2f} (fastest of 3 calls each, this run)")
    live = RollingBaselineDetector()
    live.fit(frame.iloc[: -60 * 24])
    rest = frame.iloc[-60 * 24 :]
    seconds_u, _ = timed(lambda: [live.update(rest.iloc[i : i + 1]) for i in range(len(rest))])
    print(
        f"RollingBaselineDetector.update, one 1-min bucket at a time after a year: "
        f"{seconds_u / len(rest) * 1000:.1f} ms a bucket"
    )


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
    from collectors.readers import reader_for
    from earshot.complaints.trained import default_classifier
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
                    backfill,
                    db,
                    config,
                    reader_for(config.source(name), client, config),
                    default_classifier(),
                    START,
                    until,
                    progress_factory=lambda *a: LogProgress(*a, stream=io.StringIO()),
                    min_interval=0.0,
                )
            print(
                f"backfill {name:<13} {report.new:>9,} posts      {report.new / seconds:>10,.0f} posts/s  "
                f"({report.pages} pages, {report.pages / seconds:,.0f} pages/s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="posts for the store benchmark (default 100000)")
    parser.add_argument(
        "--backfill-days", type=int, default=20, help="days of emulated history to backfill (default 20)"
    )
    parser.add_argument("--per-day", type=int, default=1000, help="emulated posts a day (default 1000)")
    parser.add_argument("--only", choices=["store", "backfill", "detector", "demo"], help="run one benchmark")
    args = parser.parse_args()
    if args.only == "detector":
        bench_detector()
        return
    with tempfile.TemporaryDirectory() as folder:
        bench_store(args.rows, Path(folder))
        bench_backfill(args.backfill_days, args.per_day)
        bench_detector()
        bench_demo(Path(folder))


if __name__ == "__main__":
    main()
