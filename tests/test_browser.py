"""The dashboard as a person sees it: `earshot demo` served, loaded in headless Chromium.

Needs Debian's chromium (`.ci/run` installs it). Outside CI, without it, the
test is skipped; in CI (CI=true) a missing browser is a failure.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_until_healthy

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EARSHOT = shutil.which("earshot") or str(Path(sys.executable).parent / "earshot")

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import sync_playwright


@pytest.fixture
def served_demo(demo_db, free_port):
    process = subprocess.Popen(
        [EARSHOT, "demo", "--db", str(demo_db), "--port", str(free_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{free_port}"
    try:
        wait_until_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=60_000)
    page.wait_for_selector('[data-testid="stVegaLiteChart"]', timeout=60_000)
    return page


def test_demo_dashboard_renders_its_chart_in_a_real_browser(served_demo, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            # Two sessions at once: each must get its own SQLite connection.
            pages = [open_page(browser, served_demo) for _ in range(2)]
            for page in pages:
                assert page.locator('[data-testid="stException"]').count() == 0
                assert page.locator("canvas, svg").count() > 0
                assert "posts are simulated" in page.inner_text('[data-testid="stAlert"]')
            body = pages[0].inner_text("body")
            assert "13:45 UTC" in body and "13:54 UTC" in body and "+9 min" in body
            pages[0].screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            assert (tmp_path / "dashboard.png").stat().st_size > 20_000
        finally:
            browser.close()
