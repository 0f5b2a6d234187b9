"""SIGKILL at random moments, then the same command again: nothing lost, nothing twice.

Each command runs as a real subprocess against the local API emulator and is
killed (-9) at a random moment a few times in a row, then run to the end. The
database must pass SQLite's integrity check and hold exactly what one
uninterrupted run stores.
"""

import random
import shutil
import signal
import sqlite3
import subprocess
import time
from datetime import timedelta

import pytest

from tests.conftest import EARSHOT
from tests.emulator import START, Emulator, config_toml, make_corpus, only_sources, serve

# Left out of the quick loop (`-m "not slow"`); CI runs it.
pytestmark = pytest.mark.slow

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
}


def emulator_config(base: str, names: set[str]) -> str:
    """The emulator's config with only the sources named (watch polls every
    source), HN read 20 hits a page so a run takes several pages."""
    toml = config_toml(base).replace('query = "chatgpt"\nservice', 'query = "chatgpt"\npage_size = 20\nservice', 1)
    return only_sources(toml, names)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_killed_at_random_moments_then_rerun_stores_what_one_run_stores(tmp_path, command):
    emulator = Emulator(make_corpus(days=3, per_day=150), delay=0.005)
    with serve(emulator) as base:
        config = tmp_path / "emulator.toml"
        config.write_text(emulator_config(base, {"hackernews", "forum", "status"}))
        expected, moments = kill_and_rerun(
            [*COMMANDS[command], "--config", str(config)], tmp_path, random.Random(command)
        )
    assert len(expected[0]) > 100
    print(f"{command}: killed at (seconds, exit, posts stored) {moments}; {len(expected[0])} posts in the end")


def test_watch_killed_at_random_moments_records_each_event_once(tmp_path, classifier):
    """Days of history stored, then a burst: each watch pass records the episode's events."""
    import pandas as pd

    from earshot.store import open_db
    from tests.live import live_config, publish, scenario_posts, store_past

    now = pd.Timestamp.now(tz="UTC")
    posts, _ = scenario_posts("chatter:3", seed=5, start=now - pd.Timedelta("3D"))
    recent = now - pd.Timedelta("30min")
    emulator = Emulator([], incidents=0, delay=0.01)
    with serve(emulator) as base:
        config = tmp_path / "emulator.toml"
        config.write_text(emulator_config(base, {"hackernews", "forum", "mastodon"}))
        seed = tmp_path / "seed.db"
        db = open_db(seed)
        store_past(db, live_config(base), posts[posts["created_at"] < recent], classifier)
        db.close()  # its WAL folded in: each run starts from a copy of the file
        publish(emulator, posts[(posts["created_at"] >= recent) & (posts["created_at"] < now)])
        emulator.publish(60, at=(now - pd.Timedelta("2min")).to_pydatetime())
        expected, moments = kill_and_rerun(
            ["watch", "--once", "--config", str(config)], tmp_path, random.Random("watch-events"), seed=seed
        )
    events = [key for (key,) in expected[2]]
    assert any(key.endswith("/opened") for key in events), events
    print(f"watch: killed at (seconds, exit, posts stored) {moments}; events {events}")


def kill_and_rerun(args: list[str], tmp_path, rng: random.Random, seed=None):
    """Run ``earshot ARGS`` whole, then again KILLS times SIGKILLed at random
    moments and once more to the end, each on a copy of ``seed`` (or a new
    database); assert both end with the same content. Returns that content
    and the kill moments (seconds, exit status, posts stored by then)."""

    def fresh(name):
        path = tmp_path / name
        if seed is not None:
            shutil.copy(seed, path)
        return path

    whole = fresh("whole.db")
    started = time.monotonic()
    done = subprocess.run([EARSHOT, *args, "--db", str(whole)], capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    expected = content(whole)
    before = _stored(seed) if seed is not None else 0

    killed = fresh("killed.db")
    moments = []
    for _ in range(KILLS):
        run = subprocess.Popen([EARSHOT, *args, "--db", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # From about the end of start-up to past the middle of a whole run (a resumed run is shorter).
        moment = rng.uniform(0.5, max(0.6 * took, 1.0))
        time.sleep(moment)
        run.send_signal(signal.SIGKILL)
        run.wait()
        moments.append((round(moment, 2), run.returncode, _stored(killed) - before))
    again = subprocess.run([EARSHOT, *args, "--db", str(killed)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    partial = [m for m in moments if m[1] == -signal.SIGKILL and 0 < m[2] < len(expected[0]) - before]
    assert partial, f"no run was killed with part of the posts stored: {moments}"
    assert content(killed) == expected, f"killed at {moments}"
    print(f"a whole run took {took:.1f} s")
    return expected, moments
