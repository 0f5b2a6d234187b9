"""How fast each dashboard page first renders on a big database.

    python benchmarks/dashboard.py                 # 1,000,000 posts over 2 years
    python benchmarks/dashboard.py --posts 200000 --keep /tmp/busy.db

Builds a database of ``--posts`` labelled posts over the two years before
2024-08-28 on six sources (a daily and weekly rhythm, 3% background
complaints, a burst of complaints at every real OpenAI incident touching
ChatGPT or the API) plus every official incident of the bundled timelines
(OpenAI, Anthropic, Character.AI, 2021-2024). Then, for each page, it clears
Streamlit's caches and times the page's first full run under AppTest (the
script, its SQL and the detector; not the browser's drawing), and a second,
cached run. With Chromium, it also times each page in a real browser on a
freshly started ``earshot dashboard`` (imports and empty caches included)
until its chart is on screen, and again in a second tab; and, as the floor,
a Streamlit page holding nothing but a one-cell table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from earshot.complaints import PROBLEM_TYPES
from earshot.roof.cli import streamlit_options
from earshot.roof.scenarios import CHATTER, COMPLAINTS, MODELS
from earshot.store import open_db, store_incident_updates, store_posts
from earshot.timelines import read_official_timelines

END = pd.Timestamp("2024-08-28", tz="UTC")
SOURCES = {
    "reddit-chatgpt": 0.45,
    "reddit-openai": 0.2,
    "hackernews": 0.1,
    "openai-forum": 0.15,
    "mastodon-chatgpt": 0.07,
    "bluesky-chatgpt": 0.03,
}
APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
PAGES = ("now", "history", "tuning", "sources")
CHART = '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
TABLE = '[data-testid="stDataFrame"] canvas'
# What is on screen once a page is drawn (History charts an incident only once a row is chosen).
DRAWN = {"now": CHART, "history": TABLE, "tuning": CHART, "sources": TABLE}


def busy_database(path: Path, posts: int = 1_000_000, days: int = 730, seed: int = 0, end: pd.Timestamp = END) -> dict:
    """Fill ``path`` with ``posts`` simulated posts over the ``days`` before
    ``end``, and the real official timelines."""
    rng = np.random.default_rng(seed)
    db = open_db(path)
    updates = read_official_timelines()
    store_incident_updates(db, updates)
    start = end - pd.Timedelta(days=days)
    onsets = sorted(
        {
            pd.Timestamp(u["posted_at"])
            for u in updates
            if u["provider"] == "openai"
            and u["stage"] == "investigating"
            and ("ChatGPT" in u["components"] or "API" in u["components"])
            and start <= pd.Timestamp(u["posted_at"]) < end
        }
    )
    burst_posts = int(posts * 0.04)
    background = posts - burst_posts
    # Background: thinning a uniform draw by the daily rhythm (busiest 17:00 UTC).
    seconds = rng.integers(0, days * 86400, background * 2)
    hours = (seconds % 86400) / 3600
    keep = rng.random(len(seconds)) < 0.3 + 0.7 * (1 + np.cos(2 * np.pi * (hours - 17) / 24)) / 2
    seconds = seconds[keep][:background]
    complaint = rng.random(len(seconds)) < 0.03
    # Bursts: complaints from ten minutes before each official "investigating", fading over 30 minutes.
    per_burst = rng.multinomial(burst_posts, np.ones(len(onsets)) / len(onsets))
    burst_seconds = np.concatenate(
        [
            int((onset - start).total_seconds()) - 600 + rng.exponential(1800, n).astype(int)
            for onset, n in zip(onsets, per_burst, strict=True)
        ]
    )
    seconds = np.concatenate([seconds, burst_seconds])
    complaint = np.concatenate([complaint, np.ones(len(burst_seconds), bool)])
    stamps = start.value // 10**9 + seconds
    source_names = rng.choice(list(SOURCES), len(stamps), p=list(SOURCES.values()))
    authors = rng.integers(0, 50_000, len(stamps))
    problems = rng.choice(PROBLEM_TYPES, len(stamps))
    chatter_texts = rng.choice(CHATTER, len(stamps))
    model = rng.choice(MODELS, len(stamps))
    rows = []
    for i in range(len(stamps)):
        problem = str(problems[i]) if complaint[i] else None
        text = COMPLAINTS[problem][i % len(COMPLAINTS[problem])] if problem else str(chatter_texts[i])
        rows.append(
            {
                "source": str(source_names[i]),
                "post_id": f"busy-{i}",
                "url": f"https://example.org/post/{i}",
                "author_hash": f"{authors[i]:016x}",
                "created_at": pd.Timestamp(int(stamps[i]), unit="s", tz="UTC").isoformat(),
                "text": text.format(model=model[i]),
                "service": "chatgpt",
                "is_complaint": int(complaint[i]),
                "problem": problem,
            }
        )
        if len(rows) == 100_000:
            store_posts(db, rows)
            rows = []
    store_posts(db, rows)
    stored = db.execute("SELECT count(*) FROM posts").fetchone()[0]
    db.close()
    return {
        "posts": stored,
        "complaints": int(complaint.sum()),
        "official_updates": len(updates),
        "outages": len(onsets),
    }


def first_render(db_path: Path, page: str) -> tuple[float, float]:
    """Seconds for the page's first run with empty caches, then for a cached rerun."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["EARSHOT_DB"] = str(db_path)
    st.cache_data.clear()
    st.cache_resource.clear()
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.query_params["page"] = page
    started = time.perf_counter()
    app.run()
    cold = time.perf_counter() - started
    if app.exception:
        raise RuntimeError(f"page {page}: {app.exception[0].message}")
    started = time.perf_counter()
    app.run()
    return cold, time.perf_counter() - started


def browser_render(db_path: Path | None, page: str, chromium: str) -> tuple[float, float]:
    """Seconds from opening ``?page=`` in headless Chromium to the page drawn
    (the script finished and its chart, or table, on screen): on a freshly started
    ``earshot dashboard`` (imports and empty caches included), then in a second tab."""
    import socket
    import subprocess

    import httpx
    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    if db_path is None:  # the floor: a Streamlit page that only writes one line
        floor = Path(tempfile.mkdtemp()) / "floor.py"
        floor.write_text('import streamlit as st\nst.dataframe({"x": [1]})\n')
        command = [sys.executable, "-m", "streamlit", "run", str(floor), *streamlit_options(port)]
    else:
        command = [str(Path(sys.executable).parent / "earshot"), "dashboard", "--db", str(db_path), "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/?page={page}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).text == "ok":
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
            seconds = []
            for _ in range(2):
                tab = browser.new_page(viewport={"width": 1400, "height": 1000})
                started = time.perf_counter()
                tab.goto(url)
                tab.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=120_000)
                tab.wait_for_selector(DRAWN[page], timeout=120_000)
                seconds.append(time.perf_counter() - started)
                if tab.locator('[data-testid="stException"]').count():
                    raise RuntimeError(f"page {page}: {tab.inner_text('[data-testid=stException]')}")
            browser.close()
        return seconds[0], seconds[1]
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the database here instead of a temp dir")
    parser.add_argument("--repeat", type=int, default=3, help="cold runs per page (the median is printed)")
    parser.add_argument(
        "--browser",
        default="/usr/bin/chromium",
        help="Chromium to time the pages in (default /usr/bin/chromium; 'none' skips it)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.keep or Path(folder) / "busy.db"
        if not path.exists():
            started = time.perf_counter()
            built = busy_database(path, args.posts, args.days)
            print(
                f"built {path}: {built['posts']:,} posts ({built['complaints']:,} complaints, "
                f"{built['outages']} outages), {built['official_updates']:,} official updates "
                f"in {time.perf_counter() - started:.0f} s"
            )
        first_render(path, "now")  # imports pandas, altair, scikit-learn once: not any page's cost
        print(f"{'page':<10}{'first render (cold cache), s':>30}{'cached rerun, s':>18}")
        for page in PAGES:
            runs = [first_render(path, page) for _ in range(args.repeat)]
            cold = sorted(r[0] for r in runs)
            print(f"{page:<10}{np.median(cold):>20.2f} (max {max(cold):.2f}){np.median([r[1] for r in runs]):>18.2f}")
        if args.browser != "none" and Path(args.browser).exists():
            print(f"{'page':<10}{'in Chromium: fresh server, s':>30}{'second tab, s':>18}")
            fresh, again = browser_render(None, "sources", args.browser)
            print(f"{'(floor)':<10}{fresh:>30.2f}{again:>18.2f}   a Streamlit page holding one table")
            for page in PAGES:
                fresh, again = browser_render(path, page, args.browser)
                print(f"{page:<10}{fresh:>30.2f}{again:>18.2f}")


if __name__ == "__main__":
    main()
