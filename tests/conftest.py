"""Shared test fixtures: a local HTTP server on 127.0.0.1 and the recorded payloads."""

from __future__ import annotations

import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_configure(config):
    """Keep the trained classifier of a test run out of the user's own cache
    (subprocesses inherit the variable, so they share the run's model)."""
    import os
    import tempfile

    os.environ.setdefault("EARSHOT_CACHE_DIR", tempfile.mkdtemp(prefix="earshot-cache-"))


def pytest_collection_modifyitems(items):
    """An executed notebook is slow (about 40 s): left out of ``-m "not slow"``."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)


REPO = Path(__file__).resolve().parent.parent
# The installed console script, for the tests where a real process matters (serving, SIGKILL).
EARSHOT = shutil.which("earshot") or str(Path(sys.executable).parent / "earshot")


@dataclass
class Ran:
    """What a run of the ``earshot`` command did."""

    returncode: int
    stdout: str
    stderr: str


def earshot(*args, input=None, env=None) -> Ran:
    """Run ``earshot ARGS`` in this process (click's CliRunner), stdout and stderr apart.

    An exception the command does not turn into a message fails the test,
    so "no traceback" needs no checking.
    """
    from click.testing import CliRunner

    from earshot.roof.cli import cli

    result = CliRunner().invoke(
        cli, [str(a) for a in args], input=input, env=env, catch_exceptions=False, prog_name="earshot"
    )
    return Ran(result.exit_code, result.stdout, result.stderr)


def imported_modules(importtime_stderr: str) -> set[str]:
    """The modules a ``python -X importtime`` run imported, from its stderr."""
    lines = importtime_stderr.splitlines()
    return {line.rpartition("|")[2].strip() for line in lines if line.startswith("import time:")}


# What judging posts must not load (about 90 MB and a second a process).
SCIKIT_LEARN = ("sklearn", "scipy", "joblib")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def server():
    """A real HTTP server on 127.0.0.1, threaded so a slow handler cannot block the others."""
    httpserver = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    httpserver.start()
    yield httpserver
    httpserver.clear()
    httpserver.stop()


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    return unused_port()


@pytest.fixture(scope="session")
def classifier():
    """The trained complaint classifier, built (or loaded from the run's cache) once per session."""
    from earshot.complaints.trained import default_classifier

    return default_classifier()


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory, classifier) -> Path:
    """The demo database, built once per test session exactly as `earshot demo` builds it."""
    from earshot.roof.demo import build_demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    build_demo(path, classifier=classifier)
    return path


def wait_until_healthy(url: str, process, seconds: float = 60) -> None:
    """Wait for a Streamlit server started by ``process`` to answer its health check."""
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode} before it was healthy")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not become healthy within {seconds:.0f} s")
