"""Credentials refused by a server: the source says so, and the secret shows nowhere.

(Credentials accepted, and a webhook whose address holds a token, are swept
the same way in ``tests/test_watch.py``'s live watch test.)
"""

import subprocess

import pytest

from tests.conftest import EARSHOT
from tests.emulator import Emulator, config_toml, make_corpus, only_sources, serve

WRONG = {
    "EARSHOT_REDDIT_CLIENT_ID": "earshot-app",
    "EARSHOT_REDDIT_CLIENT_SECRET": "wrong-reddit-secret-9999",
    "EARSHOT_BLUESKY_HANDLE": "earshot.bsky.social",
    "EARSHOT_BLUESKY_APP_PASSWORD": "wrong-app-password-9999",
}


@pytest.mark.slow
def test_refused_credentials_are_named_and_never_printed_or_stored(tmp_path, classifier, monkeypatch):
    for name, value in WRONG.items():
        monkeypatch.setenv(name, value)
    emulator = Emulator(make_corpus(days=1, per_day=50))
    with serve(emulator) as base:
        config = tmp_path / "earshot.toml"
        config.write_text(only_sources(config_toml(base), {"reddit", "bluesky", "hackernews"}))
        db = tmp_path / "earshot.db"
        collect = subprocess.run([EARSHOT, "collect", "--db", db, "--config", config], capture_output=True, text=True)
        status = subprocess.run([EARSHOT, "status", "--json", "--db", db, "--config", config], capture_output=True)
    lines = {line.partition(":")[0]: line for line in collect.stdout.splitlines()}
    assert collect.returncode == 1, collect.stdout + collect.stderr
    assert lines["hackernews"].startswith("hackernews: 50 new posts")
    assert lines["reddit"].endswith(
        "/reddit/api/v1/access_token: the server refused the credentials in "
        "EARSHOT_REDDIT_CLIENT_ID and EARSHOT_REDDIT_CLIENT_SECRET"
    )
    assert lines["bluesky"].endswith(
        "createSession: the server refused the credentials in EARSHOT_BLUESKY_HANDLE and EARSHOT_BLUESKY_APP_PASSWORD"
    )
    # Asked with the wrong secrets, which then appear in no output and no byte of any file.
    assert any(r.startswith("/reddit/api/v1/access_token") for r in emulator.requests)
    said = collect.stdout + collect.stderr + status.stdout.decode() + status.stderr.decode()
    for secret in ("wrong-reddit-secret-9999", "wrong-app-password-9999"):
        assert secret not in said
        assert not [p for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
