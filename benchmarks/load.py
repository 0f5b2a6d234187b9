"""One database, used at once as earshot is used: a collector writing, detection
running, and several dashboard sessions reading.

    python benchmarks/load.py                      # 30 s, 4 dashboard sessions
    python benchmarks/load.py --seconds 10 --readers 8

Each part is its own process on the same SQLite file (WAL, as ``open_db``
sets it): the writer stores batches of new posts through ``store_posts`` (as
a collector's fetch does, one transaction each); the detector runs
``earshot.analysis.detect`` over the last week again and again; each reader
asks what a dashboard page asks (``data_stamp``, the post span, complaint
counts of the last day, the newest complaints) on a read-only connection.

Prints sustained writes per second, detection passes, each reader's query
latency (median, 99th percentile, worst), and every error any part met: a
"database is locked" that reached a caller would be one.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.dashboard import END, busy_database
from earshot.aggregates import complaint_counts, latest_complaints
from earshot.analysis import detect
from earshot.config import load_config
from earshot.store import data_stamp, open_db, post_span, store_posts

BATCH = 50


def writer(path: str, stop: float, out) -> None:
    db = open_db(path)
    written, errors, i = 0, [], 0
    while time.time() < stop:
        now = END + pd.Timedelta(seconds=i)  # new posts, after the stored history
        rows = [
            {
                "source": "reddit-chatgpt",
                "post_id": f"load-{i}-{k}",
                "created_at": (now - pd.Timedelta(seconds=k)).isoformat(),
                "text": "is chatgpt down?" if k % 10 == 0 else "chatgpt wrote my poem",
                "service": "chatgpt",
                "is_complaint": int(k % 10 == 0),
                "problem": "down" if k % 10 == 0 else None,
            }
            for k in range(BATCH)
        ]
        try:
            new, _ = store_posts(db, rows)
            written += new
        except sqlite3.Error as error:
            errors.append(f"writer: {error}")
        i += 1
        time.sleep(0.01)
    out.put(("writer", written, errors, []))


def detector(path: str, stop: float, out) -> None:
    db = open_db(path)
    config = load_config()
    passes, errors = 0, []
    while time.time() < stop:
        until = END + pd.Timedelta(hours=1)
        try:
            detect(db, config, "chatgpt", since=until - pd.Timedelta(days=7), until=until, exact_start=False)
            passes += 1
        except sqlite3.Error as error:
            errors.append(f"detector: {error}")
    out.put(("detector", passes, errors, []))


def reader(path: str, stop: float, out, name: str) -> None:
    import sqlite_utils

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    db = sqlite_utils.Database(conn)
    latencies, errors = [], []
    while time.time() < stop:
        until = END + pd.Timedelta(hours=1)
        started = time.perf_counter()
        try:
            data_stamp(db)
            post_span(db, "chatgpt")
            complaint_counts(db, "chatgpt", "5min", until - pd.Timedelta(days=1), until, by_problem=True)
            latest_complaints(db, "chatgpt", until - pd.Timedelta(days=1), until, 50)
        except sqlite3.Error as error:
            errors.append(f"{name}: {error}")
        latencies.append(time.perf_counter() - started)
    out.put((name, len(latencies), errors, latencies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--posts", type=int, default=200_000, help="posts stored before the load starts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "load.db")
        busy_database(Path(path), posts=args.posts, days=60)
        stop = time.time() + args.seconds
        out = mp.Queue()
        parts = [mp.Process(target=writer, args=(path, stop, out)), mp.Process(target=detector, args=(path, stop, out))]
        parts += [mp.Process(target=reader, args=(path, stop, out, f"reader {i + 1}")) for i in range(args.readers)]
        for part in parts:
            part.start()
        results = [out.get(timeout=args.seconds + 300) for _ in parts]
        for part in parts:
            part.join()
    print(f"{args.seconds:g} s on a database of {args.posts:,} posts; {args.readers} dashboard sessions reading")
    errors = []
    for name, count, part_errors, latencies in sorted(results):
        errors += part_errors
        if name == "writer":
            print(f"writer    {count:>8,} posts stored, {count / args.seconds:,.0f} a second (batches of {BATCH})")
        elif name == "detector":
            print(f"detector  {count:>8,} passes over the last 7 days")
        else:
            ms = np.array(latencies) * 1000
            print(
                f"{name:<9} {count:>8,} page reads: median {np.median(ms):.0f} ms, "
                f"99th percentile {np.percentile(ms, 99):.0f} ms, worst {ms.max():.0f} ms"
            )
    print(f"errors: {len(errors)}" + "".join(f"\n  {e}" for e in errors[:10]))


if __name__ == "__main__":
    main()
