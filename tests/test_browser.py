"""The dashboard as a person sees it: served by `earshot demo` / `earshot dashboard`,
loaded in headless Chromium, every page screenshotted.

Needs Debian's chromium (`.ci/run` installs it). Outside CI, without it, the
test is skipped; in CI (CI=true) a missing browser is a failure.
"""

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import expect, sync_playwright

from earshot.config import load_config
from earshot.store import open_db, save_state, store_posts
from earshot.timeutil import now_iso
from tests.conftest import EARSHOT, wait_until_healthy
from tests.test_dashboard import hostile_database, stored

# Left out of the quick loop (`-m "not slow"`); CI runs it.
pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


def serve(args: list[str], port: int):
    process = subprocess.Popen(
        [EARSHOT, *args, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, process)
    return process, url


@contextlib.contextmanager
def served(args: list[str], port: int):
    """``earshot ARGS --port PORT`` running, its URL; stopped afterwards."""
    process, url = serve(args, port)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def served_demo(demo_db, free_port):
    with served(["demo", "--db", str(demo_db)], free_port) as url:
        yield url


@pytest.fixture
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser, url, chart: bool = True):
    page = browser.new_page(viewport={"width": 1400, "height": 2400}, accept_downloads=True)
    page.goto(url)
    settle(page)
    if chart:
        page.wait_for_selector(
            '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg', timeout=60_000
        )
    assert page.locator('[data-testid="stException"]').count() == 0
    return page


def settle(page):
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=60_000)


def test_every_page_renders_in_a_real_browser(served_demo, demo_db, browser, tmp_path):
    # Two sessions at once: each must get its own SQLite connection.
    now = open_page(browser, f"{served_demo}/?page=now&at=2023-11-08T14:00:00Z")
    latest = open_page(browser, served_demo)
    for page in (now, latest):
        assert "posts are simulated" in page.inner_text('[data-testid="stAlert"]')
    body = now.inner_text("body")
    assert "Confirmed outage signal" in body and "Investigating" in body
    since = re.search(r"since (\d\d:\d\d) UTC", body).group(1)
    assert "13:42" <= since < "13:54", "heard after the onset, before the provider's first post"
    # The demo watches ChatGPT and Claude: it opens on the overview of both.
    overview = latest.inner_text("body")
    assert "Every service" in overview and "ChatGPT" in overview and "Claude" in overview
    assert overview.count("Normal") == 2 and overview.count("Operational") == 2
    # Every word on the overview is shown whole at 1400 px ("Operati…" was not).
    cut = latest.evaluate(
        "() => [...document.querySelectorAll('[data-testid=\"stMain\"] *')]"
        ".filter(e => getComputedStyle(e).textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth + 1)"
        ".map(e => e.textContent)"
    )
    assert cut == [], f"cut short at 1400 px: {cut}"
    latest.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    latest.get_by_role("button", name="Claude").click()
    expect(latest.get_by_text("Is Claude down?")).to_be_visible(timeout=60_000)
    settle(latest)
    assert "page=now" in latest.url and "service=claude" in latest.url
    assert "Normal" in latest.inner_text("body")
    now.screenshot(path=str(tmp_path / "now.png"), full_page=True)

    with now.expect_download() as download:
        now.get_by_role("button", name="Download these counts (CSV)").click()
    rows = Path(download.value.path()).read_text().splitlines()
    assert (
        rows[0].startswith("time,count,baseline") and len(rows) == 1 + 24 * 12 + 1
    )  # header, 24 h of buckets and the one in progress

    _, alerts = stored(demo_db)
    history = open_page(browser, f"{served_demo}/?page=history", chart=False)
    expect(history.get_by_text(f"{len(alerts)} of 18")).to_be_visible(timeout=60_000)
    assert history.locator('[data-testid="stVegaLiteChart"]').count() == 0
    # Click the third row's selection box (rows are in time order: the November outage is third).
    # Every column fits at 1400 px: the table needs no sideways scrolling.
    history.wait_for_selector('[data-testid="stDataFrame"] .dvn-scroller', timeout=60_000)
    overflow = history.evaluate(
        "() => { const s = document.querySelector('[data-testid=\"stDataFrame\"] .dvn-scroller');"
        " return s ? s.scrollWidth - s.clientWidth : null; }"
    )
    assert overflow is not None and overflow <= 1, f"the history table is {overflow} px too wide"
    grid = history.locator('[data-testid="stDataFrame"]').bounding_box()
    history.mouse.click(grid["x"] + 12, grid["y"] + 35 * 3 + 17)
    history.wait_for_selector(
        '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg', timeout=60_000
    )
    settle(history)
    # History times an alert at the end of the bucket that crossed the threshold (Now, to the post).
    crossed = (pd.Timestamp(f"2023-11-08T{since}Z").floor("5min") + pd.Timedelta(minutes=5)).strftime("%H:%M")
    assert f"earshot alerted {crossed} UTC; the provider first posted 13:54 UTC" in history.inner_text("body")
    assert "incident=00fpy0yxrx1q" in history.url
    with history.expect_download() as download:
        history.get_by_role("button", name="Download this table (CSV)").click()
    rows = Path(download.value.path()).read_text().splitlines()
    assert rows[0].startswith("when,what,lead (min),incident") and len(rows) == 1 + 18
    history.screenshot(path=str(tmp_path / "history.png"), full_page=True)

    tuning = open_page(browser, f"{served_demo}/?page=tuning")
    expect(tuning.get_by_text(f"{len(alerts)} alert episode(s) with these settings")).to_be_visible()
    tuning.screenshot(path=str(tmp_path / "tuning.png"), full_page=True)

    sources = open_page(browser, f"{served_demo}/?page=sources", chart=False)
    expect(sources.locator('[data-testid="stDataFrame"]')).to_be_visible()
    assert "No collector has stored a fetch" in sources.inner_text("body")
    sources.screenshot(path=str(tmp_path / "sources.png"), full_page=True)

    for name in ("now", "history", "tuning", "sources"):
        assert (tmp_path / f"{name}.png").stat().st_size > 20_000


@pytest.fixture
def collecting(tmp_path):
    """A database a collector is writing to, and a config that refreshes every 2 s."""
    path = tmp_path / "live.db"
    db = open_db(path)
    store_posts(
        db,
        [
            {
                "source": "reddit-chatgpt",
                "post_id": "1",
                "service": "chatgpt",
                "is_complaint": 1,
                "problem": "down",
                "created_at": "2024-03-04T12:00:00Z",
                "text": "is chatgpt down?",
            }
        ],
    )
    save_state(db, "reddit-chatgpt", last_ok_at=now_iso())
    db.close()
    config = tmp_path / "refresh.toml"
    config.write_text(Path(load_config().path).read_text().replace("refresh_seconds = 30", "refresh_seconds = 2"))
    return path, config


def test_the_open_page_refreshes_while_a_collector_stores_posts(collecting, browser, free_port):
    db_path, config = collecting
    process, url = serve(["dashboard", "--db", str(db_path), "--config", str(config)], free_port)
    try:
        page = open_page(browser, url)
        assert "Collector running" in page.inner_text('[data-testid="stSidebar"]')
        assert "As of 2024-03-04 12:00 UTC" in page.inner_text("body") or "2024-03-04 12:00 UTC" in page.inner_text(
            "body"
        )
        # The collector stores a newer complaint: the page shows it without a reload.
        with sqlite3.connect(db_path) as conn:
            conn.execute(
                "INSERT INTO posts (source, post_id, service, is_complaint, problem, created_at, text)"
                " VALUES ('reddit-chatgpt', '2', 'chatgpt', 1, 'errors', '2024-03-04T12:30:00+00:00', 'network error again')"
            )
            conn.execute("UPDATE collector_state SET last_ok_at = ?", [now_iso()])
        expect(page.get_by_text("2024-03-04 12:30 UTC", exact=False).first).to_be_visible(timeout=30_000)
    finally:
        process.terminate()
        process.wait(timeout=20)


HOSTILE = (
    "is chatgpt down? <script>alert('script')</script><img src=x onerror=alert('img')> "
    "<a href=\"javascript:alert('a')\">click</a> [md](javascript:alert('md')) [data](data:text/html,<script>alert(1)</script>) "
    "\u202egnp.exe\u202c " + "w" * 10_000
)


@pytest.fixture
def hostile_dashboard(tmp_path, free_port):
    path = hostile_database(
        tmp_path / "hostile.db",
        HOSTILE,
        "<b onmouseover=alert('t')>Outage</b> [x](javascript:alert('title')) " + HOSTILE[:300],
        lambda i: "javascript:alert(document.cookie)" if i % 2 else "data:text/html,<script>alert(2)</script>",
        posts=30,
        text=HOSTILE,
        url="javascript:alert('incident')",
        components="ChatGPT",
    )
    with served(["dashboard", "--db", str(path)], free_port) as url:
        yield url


def test_hostile_text_renders_inert_on_every_page_in_a_real_browser(hostile_dashboard, browser):
    pages = ["now&at=2024-01-10T12:40:00Z", "history&from=2024-01-10&to=2024-01-10", "tuning", "sources"]
    for query in pages:
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        dialogs = []
        page.on("dialog", lambda dialog, seen=dialogs: (seen.append(dialog.message), dialog.dismiss()))
        page.goto(f"{hostile_dashboard}/?page={query}")
        settle(page)
        page.wait_for_timeout(1000)  # let any script that got in run
        assert page.locator('[data-testid="stException"]').count() == 0, query
        assert dialogs == [], f"a dialog fired on {query}: {dialogs}"
        assert page.locator('a[href^="javascript:" i], a[href^="data:" i], [href^="javascript:" i]').count() == 0
        assert page.locator("[onerror], [onmouseover], img[src='x']").count() == 0, query
        assert "alert(" not in page.evaluate("[...document.scripts].map(s => s.textContent).join(' ')"), query
        page.close()
