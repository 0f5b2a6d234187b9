"""SIGKILL at random moments, then the same command again: nothing lost, nothing twice.

Each command runs as a real subprocess against the local API emulator and is
killed (-9) at a random moment a few times in a row, then run to the end. The
database must pass SQLite's integrity check and hold exactly what one
uninterrupted run stores.
"""

import random
import signal
import sqlite3
import subprocess
import time
from datetime import timedelta

import pytest

from tests.conftest import EARSHOT
from tests.emulator import START, Emulator, config_toml, make_corpus, serve

KILLS = 3
POST_COLUMNS = "source, post_id, created_at, author_hash, title, text, url, service, is_complaint, problem"


def content(path) -> tuple:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        posts = conn.execute(f"SELECT {POST_COLUMNS} FROM posts ORDER BY source, post_id").fetchall()
        keys = {(row[0], row[1]) for row in posts}
        assert len(keys) == len(posts), "a post stored twice"
        updates = conn.execute("SELECT provider, incident_id, update_id FROM incident_updates ORDER BY 1, 2, 3")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        # watch records each event once: a restart must not record one again.
        events = conn.execute("SELECT key FROM events ORDER BY 1").fetchall() if "events" in tables else []
        assert len(set(events)) == len(events), "an event recorded twice"
        return posts, updates.fetchall(), events


def _stored(path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM posts").fetchone()[0]
    except sqlite3.OperationalError:  # killed before the schema was made
        return 0


COMMANDS = {
    "backfill": [
        "backfill",
        "hackernews",
        "--since",
        START.isoformat(),
        "--until",
        (START + timedelta(days=3)).isoformat(),
        "--min-interval",
        "0.2",
    ],
    "collect": ["collect", "--source", "hackernews", "--source", "forum", "--source", "status", "--attempts", "2"],
    "watch": ["watch", "--once"],
}


def only_sources(toml: str, names: set[str]) -> str:
    """The emulator's config with only the ``[[sources]]`` named (watch polls every source)."""
    head, *sources = toml.split("[[sources]]")
    kept = [
        s for s in sources if next(line for line in s.splitlines() if line.startswith("name")).split('"')[1] in names
    ]
    return head + "".join("[[sources]]" + s for s in kept)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_killed_at_random_moments_then_rerun_stores_what_one_run_stores(tmp_path, command):
    emulator = Emulator(make_corpus(days=3, per_day=150), delay=0.005)
    rng = random.Random(command)
    with serve(emulator) as base:
        config = tmp_path / "emulator.toml"
        toml = config_toml(base).replace('query = "chatgpt"\nservice', 'query = "chatgpt"\npage_size = 20\nservice', 1)
        config.write_text(only_sources(toml, {"hackernews", "forum", "status"}))
        args = [*COMMANDS[command], "--config", str(config)]

        whole = tmp_path / "whole.db"
        done = subprocess.run([EARSHOT, *args, "--db", str(whole)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        expected = content(whole)
        assert len(expected[0]) > 100

        killed = tmp_path / "killed.db"
        moments = []
        for _ in range(KILLS):
            run = subprocess.Popen(
                [EARSHOT, *args, "--db", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            moment = rng.uniform(1.0, 3.5)  # start-up (imports, the classifier) takes about a second
            time.sleep(moment)
            run.send_signal(signal.SIGKILL)
            run.wait()
            moments.append((round(moment, 2), run.returncode, _stored(killed)))
        again = subprocess.run([EARSHOT, *args, "--db", str(killed)], capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        partial = [m for m in moments if m[1] == -signal.SIGKILL and 0 < m[2] < len(expected[0])]
        assert partial, f"no run was killed with part of the posts stored: {moments}"
        assert content(killed) == expected, f"killed at {moments}"
        print(
            f"{command}: killed at (seconds, exit, posts stored) {moments}; {len(expected[0])} posts, {len(expected[2])} events in the end"
        )
