"""Every source kind, live and backfilled, over real HTTP against the API emulator."""

from __future__ import annotations

import io
import os
import re
import signal
import sqlite3
import subprocess
import time
from datetime import timedelta

import pytest

from collectors.backfill import BackfillError, BarProgress, LogProgress, backfill
from collectors.collect import collect_source
from collectors.http import HttpClient
from collectors.readers import reader_for
from earshot.complaints import RuleComplaintFilter
from earshot.config import parse_config
from earshot.store import open_db
from tests.conftest import EARSHOT
from tests.emulator import START, Emulator, Item, config_toml, make_corpus, serve

# Backfill is about reading and storing: the rules judge posts here, the classifier has its own tests.
RULES = RuleComplaintFilter()
DAY = timedelta(days=1)
SINCE, UNTIL = START, START + 3 * DAY
PLATFORM_OF = {
    "hackernews": "hn",
    "forum": "discourse",
    "mastodon": "mastodon",
    "bluesky": "bluesky",
    "reddit": "reddit",
}


@pytest.fixture
def bluesky_login(monkeypatch):
    monkeypatch.setenv("EARSHOT_BLUESKY_HANDLE", "earshot.bsky.social")
    monkeypatch.setenv("EARSHOT_BLUESKY_APP_PASSWORD", "app-password-1234")


@pytest.fixture
def api():
    """The emulator with 3 days of 200 posts a day (and a little before and after)."""
    emulator = Emulator(make_corpus(days=5, per_day=200, start=START - DAY))
    with serve(emulator) as base:
        yield emulator, config_of(base)


def config_of(base):
    import tomllib

    return parse_config(tomllib.loads(config_toml(base)), "emulator.toml")


def client(**overrides):
    options = {"timeout": 5.0, "attempts": 4, "backoff": 0.0, "max_wait": 2.0, "min_interval": 0.0}
    return HttpClient(**{**options, **overrides})


def quiet(name, total, done):
    return LogProgress(name, total, done, stream=io.StringIO())


def stored_ids(db, source):
    return {row[0] for row in db.execute("SELECT post_id FROM posts WHERE source = ?", [source]).fetchall()}


def run(db, config, source, since=SINCE, until=UNTIL, attempts=4, **options):
    """Backfill ``source`` (a name or a Source) quietly, rate limits off unless ``min_interval`` says."""
    source = config.source(source) if isinstance(source, str) else source
    options = {"progress_factory": quiet, "min_interval": 0, **options}
    with client(attempts=attempts) as http:
        return backfill(db, config, reader_for(source, http, config), RULES, since, until, **options)


def collect(db, config, name):
    with client() as http:
        return collect_source(db, config, config.source(name), http, RULES)


@pytest.mark.parametrize("name", ["hackernews", "forum", "mastodon", "bluesky", "reddit"])
def test_backfill_stores_exactly_the_servers_posts_in_the_range(api, tmp_path, name, bluesky_login):
    emulator, config = api
    db = open_db(tmp_path / "e.db")
    report = run(db, config, name)
    expected = emulator.ids(PLATFORM_OF[name], SINCE, UNTIL)
    assert stored_ids(db, name) == expected
    # Only a status held by both Mastodon instances is read twice.
    copies = copies_on_instances(emulator) if name == "mastodon" else len(expected)
    assert (report.new, report.duplicates) == (len(expected), copies - len(expected))
    assert report.windows == 3

    again = run(db, config, name)
    assert again.already_done and "already backfilled" in again.line()
    redo = run(db, config, name, restart=True)
    assert (redo.new, redo.duplicates) == (0, copies)


def test_reddit_history_reads_comments_after_posts_when_asked(api, tmp_path):
    emulator, config = api
    source = config.source("reddit")
    with_comments = type(source)(**{**source.__dict__, "options": {**source.options, "comments": True}})
    db = open_db(tmp_path / "rc.db")
    report = run(db, config, with_comments)
    expected = emulator.ids("reddit", SINCE, UNTIL) | emulator.ids("reddit-comments", SINCE, UNTIL)
    assert stored_ids(db, "reddit") == expected
    assert report.new == len(expected) and any(i.startswith("t1_") for i in expected)


def test_reddit_archive_paging_keeps_posts_sharing_a_second_across_pages(tmp_path):
    # 30 posts in one second, straddling the archive's 100-item page boundary.
    corpus = make_corpus(days=1, per_day=200)
    tied = corpus[90].created.replace(microsecond=0)
    corpus = [
        Item(i, tied if 85 <= i < 115 else item.created, item.author, item.text, item.is_story)
        for i, item in enumerate(corpus)
    ]
    emulator = Emulator(sorted(corpus, key=lambda item: item.created))
    with serve(emulator) as base:
        config = config_of(base)
        db = open_db(tmp_path / "ties.db")
        report = run(db, config, "reddit", START, START + DAY)
    assert stored_ids(db, "reddit") == emulator.ids("reddit")
    assert report.duplicates == 0


@pytest.mark.parametrize("name", ["status", "status-incidentio"])
def test_status_page_history_is_backfilled(api, tmp_path, name):
    emulator, config = api
    db = open_db(tmp_path / "s.db")
    since, until = START + 10 * DAY, START + 40 * DAY
    report = run(db, config, name, since, until)
    stored = {row[0] for row in db.execute("SELECT update_id FROM incident_updates").fetchall()}
    assert stored == emulator.official_update_ids(since, until)
    assert report.what == "official updates" and report.new == 45


def copies_on_instances(emulator) -> int:
    """How many statuses in the range the instances hold between them."""
    low, high = SINCE.strftime("%Y-%m-%dT%H:%M:%S"), UNTIL.strftime("%Y-%m-%dT%H:%M:%S")
    return sum(low <= s["created_at"] < high for statuses in emulator.mastodon.values() for s in statuses)


def test_mastodon_statuses_on_several_instances_are_stored_once(api, tmp_path):
    emulator, config = api
    db = open_db(tmp_path / "m.db")
    run(db, config, "mastodon")
    stored = len(stored_ids(db, "mastodon"))
    assert stored == len(emulator.ids("mastodon", SINCE, UNTIL)) < copies_on_instances(emulator)


def test_a_window_over_the_hit_cap_is_split(tmp_path):
    # 1,500 posts in one hour on the middle day: more than Algolia pages through.
    burst = (START + DAY + timedelta(hours=13), 1500, 60)
    emulator = Emulator(make_corpus(days=3, per_day=100, burst=burst))
    with serve(emulator) as base:
        config = config_of(base)
        db = open_db(tmp_path / "cap.db")
        lines = io.StringIO()
        report = run(db, config, "hackernews", progress_factory=lambda *a: LogProgress(*a, stream=lines))
    assert stored_ids(db, "hackernews") == emulator.ids("hn", SINCE, UNTIL)
    assert report.new == 300 + 1500
    assert "splitting it in half" in lines.getvalue()
    assert report.windows > 3


@pytest.mark.slow
def test_a_429_storm_is_ridden_out(api, tmp_path):
    emulator, config = api
    emulator.fail("/hn", [429, 429, 503, 429, 429], {"Retry-After": "1"})
    db = open_db(tmp_path / "storm.db")
    started = time.monotonic()
    report = run(db, config, "hackernews", attempts=6)
    assert time.monotonic() - started >= 3.5  # each Retry-After: 1 obeyed
    assert stored_ids(db, "hackernews") == emulator.ids("hn", SINCE, UNTIL)
    assert report.new == len(emulator.ids("hn", SINCE, UNTIL))


def test_bounded_retries_then_a_clear_error_keeping_what_was_stored(api, tmp_path):
    emulator, config = api
    db = open_db(tmp_path / "fail.db")
    # Let the first window through, then fail every try of the second.
    first = run(db, config, "hackernews", SINCE, SINCE + DAY, attempts=3)
    emulator.fail("/hn", [503] * 3)
    with pytest.raises(BackfillError) as failure:
        run(db, config, "hackernews", SINCE + DAY, UNTIL, attempts=3)
    message = str(failure.value)
    assert message.startswith(
        "hackernews: window 2023-11-02T00:00:00+00:00..2023-11-03T00:00:00+00:00 failed: HTTP 503"
    )
    assert "gave up after 3 attempts" in message and "run the same command again to resume" in message
    assert stored_ids(db, "hackernews") == emulator.ids("hn", SINCE, SINCE + DAY)
    assert first.new == len(emulator.ids("hn", SINCE, SINCE + DAY))
    job = db.execute("SELECT status, error FROM backfill_jobs WHERE since = ?", [(SINCE + DAY).isoformat()]).fetchone()
    assert job[0] == "failed" and "HTTP 503" in job[1]

    run(db, config, "hackernews", SINCE + DAY, UNTIL)  # the server recovered: the same command resumes
    assert stored_ids(db, "hackernews") == emulator.ids("hn", SINCE, UNTIL)


def test_an_html_block_page_instead_of_json_is_a_one_line_error(api, tmp_path):
    emulator, config = api
    from werkzeug import Response

    original = emulator.route
    emulator.route = lambda request: Response(
        "<html><head><title>Just a moment...</title></head></html>", 200, content_type="text/html"
    )
    db = open_db(tmp_path / "html.db")
    with pytest.raises(BackfillError, match=r"got an HTML page \('Just a moment...'\) instead of JSON"):
        run(db, config, "forum")
    emulator.route = original


@pytest.mark.slow
def test_sigkill_in_the_middle_then_rerun_gives_the_same_set(tmp_path):
    emulator = Emulator(make_corpus(days=4, per_day=300), delay=0.03)
    db_path, config_path = tmp_path / "kill.db", tmp_path / "emulator.toml"
    until = START + 4 * DAY
    with serve(emulator) as base:
        config_path.write_text(
            config_toml(base).replace('query = "chatgpt"\nservice', 'query = "chatgpt"\npage_size = 20\nservice', 1)
        )
        command = [
            EARSHOT,
            "backfill",
            "hackernews",
            "--db",
            str(db_path),
            "--config",
            str(config_path),
            "--since",
            START.isoformat(),
            "--until",
            until.isoformat(),
            "--min-interval",
            "0",
        ]
        first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _count(db_path) < 400:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = _count(db_path)
        assert first.returncode == -signal.SIGKILL and 400 <= killed_at < 1200

        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    expected = emulator.ids("hn", START, until)
    assert stored_ids(sqlite3.connect(db_path), "hackernews") == expected
    # It resumed from the checkpoint: the rest was new and nothing was read twice.
    assert f"backfill done: {len(expected) - killed_at:,} new posts, 0 duplicates skipped" in second.stdout
    assert f"; {len(expected):,} stored for this range in all)" in second.stdout
    assert "hackernews: resuming at 2023-11-0" in second.stderr
    assert "hackernews: 2023-11-04T00:00:00+00:00..2023-11-05T00:00:00+00:00:" in second.stderr


def _count(path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM posts").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_progress_bar_shows_windows_posts_and_rate(api, tmp_path):
    emulator, config = api
    screen = io.StringIO()
    db = open_db(tmp_path / "bar.db")
    run(db, config, "hackernews", progress_factory=lambda *a: BarProgress(*a, stream=screen))
    final = screen.getvalue().split("\r")[-1]
    assert "hackernews: 100%" in final and "| 3/3 windows [" in final
    assert f"{len(emulator.ids('hn', SINCE, UNTIL)):,} stored" in final


# -- live collection -------------------------------------------------------------


@pytest.mark.parametrize("name", ["hackernews", "forum", "mastodon", "bluesky", "status"])
@pytest.mark.slow
def test_live_collect_reads_the_newest_and_is_idempotent(api, tmp_path, name, bluesky_login):
    _, config = api
    db = open_db(tmp_path / "live.db")
    first = collect(db, config, name)
    second = collect(db, config, name)
    assert first.ok and first.new > 0, first.line()
    assert second.ok and second.new == 0, second.line()


@pytest.mark.parametrize("name", ["hackernews", "forum", "mastodon", "bluesky"])
@pytest.mark.slow
def test_live_collect_catches_up_on_everything_posted_since_the_last_poll(api, tmp_path, name, bluesky_login):
    emulator, config = api
    db = open_db(tmp_path / "catch-up.db")
    assert collect(db, config, name).ok
    # More than one page of new posts while we were not looking.
    new = emulator.publish(130, START + 10 * DAY)
    report = collect(db, config, name)
    assert report.ok, report.line()
    new_ids = emulator.ids(PLATFORM_OF[name], START + 10 * DAY, START + 11 * DAY)
    assert len(new_ids) == len(new) == 130
    assert new_ids <= stored_ids(db, name)


@pytest.mark.slow
def test_mastodon_live_pages_forward_from_the_last_status_seen(api, tmp_path):
    emulator, config = api
    db = open_db(tmp_path / "m.db")
    collect(db, config, "mastodon")
    newest = {i: s[0]["id"] for i, s in emulator.mastodon.items()}
    assert all(f"min_id={newest_id}" not in r for r in emulator.requests for newest_id in newest.values())
    collect(db, config, "mastodon")
    assert any(f"min_id={newest['mastodon-a']}" in r for r in emulator.requests)


@pytest.mark.slow
def test_bluesky_logs_in_once_and_refreshes_an_expired_token(tmp_path, bluesky_login):
    emulator = Emulator(make_corpus(days=3, per_day=200), token_lifetime=2)
    with serve(emulator) as base:
        config = config_of(base)
        db = open_db(tmp_path / "b.db")
        report = run(db, config, "bluesky")
        collect(db, config, "bluesky")  # a new client: the session is the process's, not the client's
    assert report.new == len(emulator.ids("bluesky", SINCE, UNTIL))
    assert emulator.sessions_created == 1
    assert sum("refreshSession" in r for r in emulator.requests) >= 3


def test_bluesky_without_a_session_says_which_variables_to_set(api, tmp_path, monkeypatch):
    _, config = api
    monkeypatch.delenv("EARSHOT_BLUESKY_HANDLE", raising=False)
    db = open_db(tmp_path / "b.db")
    report = collect(db, config, "bluesky")
    assert not report.ok
    assert "HTTP 401" in report.error and "EARSHOT_BLUESKY_HANDLE" in report.error
    assert "app-password" not in report.error


@pytest.mark.slow
def test_reddit_uses_app_only_oauth_when_credentials_are_set(api, tmp_path, monkeypatch):
    emulator, config = api
    monkeypatch.setenv("EARSHOT_REDDIT_CLIENT_ID", "earshot-app")
    monkeypatch.setenv("EARSHOT_REDDIT_CLIENT_SECRET", "reddit-secret")
    db = open_db(tmp_path / "r.db")
    report = collect(db, config, "reddit")
    assert report.ok and report.new == 100, report.line()
    assert any(r.startswith("/reddit/api/v1/access_token") for r in emulator.requests)
    assert stored_ids(db, "reddit") <= emulator.ids("reddit")
    stored = db.execute("SELECT * FROM posts WHERE source = 'reddit' LIMIT 1").fetchone()
    assert "reddit-secret" not in repr(stored) and "reddit-token" not in repr(stored)


def test_reddit_without_credentials_reads_the_public_feed(api, tmp_path, monkeypatch):
    emulator, config = api
    monkeypatch.delenv("EARSHOT_REDDIT_CLIENT_ID", raising=False)
    db = open_db(tmp_path / "r.db")
    report = collect(db, config, "reddit")
    assert report.ok and report.new == 5, report.line()
    assert all(post_id.startswith("t3_") for post_id in stored_ids(db, "reddit"))
    assert emulator.requests == ["/reddit/r/ChatGPT/new/.rss?"]


@pytest.mark.slow
def test_the_configured_rate_limit_spaces_requests_to_a_host(api, tmp_path):
    emulator, config = api
    source = config.source("hackernews")
    slow = type(source)(**{**source.__dict__, "options": {**source.options, "min_interval": 0.5}})
    db = open_db(tmp_path / "slow.db")
    started = time.monotonic()
    report = run(db, config, slow, min_interval=None)  # the source's own limit
    elapsed = time.monotonic() - started
    assert report.pages == len(emulator.requests) >= 4
    assert elapsed >= (report.pages - 1) * 0.5


def test_cli_backfill_dry_run_and_log_lines(api, tmp_path):
    emulator, config = api
    config_path = tmp_path / "c.toml"
    config_path.write_text(config_toml(_base(emulator, config)))
    env = {**os.environ, "EARSHOT_DB": str(tmp_path / "cli.db")}
    dry = subprocess.run(
        [
            EARSHOT,
            "backfill",
            "forum",
            "--config",
            str(config_path),
            "--since",
            "2023-11-01",
            "--until",
            "2023-11-04",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[:2] == [
        "forum: 3 windows of 1 day, 2023-11-01T00:00:00+00:00..2023-11-04T00:00:00+00:00",
        "  2023-11-01T00:00:00+00:00..2023-11-02T00:00:00+00:00",
    ]
    assert not emulator.requests
    real = subprocess.run(
        [
            EARSHOT,
            "backfill",
            "forum",
            "--config",
            str(config_path),
            "--since",
            "2023-11-01",
            "--until",
            "2023-11-04",
            "--min-interval",
            "0",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert real.returncode == 0, real.stderr
    assert real.stderr.count("forum: 2023-11-0") == 3
    expected = len(emulator.ids("discourse", SINCE, UNTIL))
    assert re.fullmatch(
        rf"forum: backfill done: {expected:,} new posts, 0 duplicates skipped, 3 windows, \d+ pages\n", real.stdout
    )


def _base(emulator, config):
    return config.source("forum").base_url.removesuffix("/forum")
