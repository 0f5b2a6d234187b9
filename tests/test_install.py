"""earshot as someone installs it: a wheel, a fresh virtualenv outside the
clone, commands run from another folder.

Everything earshot reads at run time (labelled posts, official timelines,
the demo's incidents, bundled configs) must be inside the wheel: a file
found only because the clone sits beside the package would pass every other
test and fail here. Slow (it installs earshot's dependencies into a new
virtualenv from the package index, or pip's cache).
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, wait_until_healthy

pytestmark = pytest.mark.slow

# What a wheel may put into site-packages: earshot's four import names and its metadata.
TOP_LEVEL = {"earshot", "collectors", "detector", "dashboard"}
SKIP = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "*.db", "*.db-*")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the source (a clean tree: no stale build/)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=SKIP)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root, source])
    return next(root.glob("earshot-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel (and its dependencies) installed; its bin folder."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    run([sys.executable, "-m", "venv", venv])
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], timeout=900)
    return venv / "bin"


def run(command, cwd=None, timeout=300, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, cwd=cwd, timeout=timeout, **kwargs
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


def outside_env(tmp_path: Path) -> dict:
    """The environment of a user who never saw the clone: no PYTHONPATH, a cache of their own."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EARSHOT_DB", "VIRTUAL_ENV")}
    env["EARSHOT_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def test_the_wheel_holds_earshot_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == TOP_LEVEL
    assert "earshot/data/labels/train/reddit.en.tsv" in names
    assert "earshot/data/official-incidents/incident_stages.csv" in names
    assert "earshot/data/nab-realtweets/LICENSE.txt" in names
    assert "dashboard/app.py" in names and "earshot/chatgpt.toml" in names
    assert not [name for name in names if name.startswith(("tests/", "benchmarks/", "notebooks/"))]


def test_an_installed_earshot_classifies_imports_and_serves_the_demo(installed, tmp_path, free_port):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = outside_env(tmp_path)
    earshot = installed / "earshot"

    classified = run([earshot, "classify"], cwd=elsewhere, env=env, input="chatgpt is down again, 502 everywhere\n")
    assert "unavailable" not in classified.stderr and "rules instead" not in classified.stderr, classified.stderr
    verdict = json.loads(classified.stdout)
    assert verdict["complaint"] is True and verdict["probability"] > 0.5
    assert list((tmp_path / "cache").glob("*.npz")), "the trained model's scorer is cached"

    imported = run([earshot, "import-incidents", "--db", "official.db"], cwd=elsewhere, env=env)
    new = int(imported.stdout.split()[0].replace(",", ""))
    assert new > 1000, imported.stdout

    process = subprocess.Popen(
        [str(earshot), "demo", "--port", str(free_port)],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{free_port}", process, seconds=240)
        page = httpx.get(f"http://127.0.0.1:{free_port}/", timeout=10)
        assert page.status_code == 200 and '<div id="root">' in page.text
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "Traceback" not in stderr, stderr
    with sqlite3.connect(elsewhere / "data" / "demo.db") as db:
        assert db.execute("SELECT count(*) FROM posts").fetchone()[0] > 1000
        assert db.execute("SELECT count(*) FROM incident_updates").fetchone()[0] > 0

    detected = run([earshot, "detect", "--db", "data/demo.db", "--json"], cwd=elsewhere, env=env)
    assert any(json.loads(line)["service"] == "chatgpt" for line in detected.stdout.splitlines())
