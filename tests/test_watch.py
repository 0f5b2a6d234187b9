"""`earshot watch` against real local parts: the API emulator serving a
simulated outage, a webhook and Apprise `json://` receiver, a local SMTP
server, real SQLite; in-process with a replayed clock where days must pass
in seconds, as real processes where signals and SIGKILL matter."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from earshot.notify import Sender
from earshot.roof.watch import Watcher
from earshot.store import load_events, load_watch_episodes, open_db
from tests.emulator import Emulator, config_toml, serve, source_blocks
from tests.live import (
    live_config,
    polled_sources_toml,
    publish,
    scenario_posts,
    stalled_source_toml,
    stalling,
    store_past,
    wait_for,
)
from tests.receivers import serve_receiver


@pytest.fixture(autouse=True)
def reddit_app(monkeypatch):
    monkeypatch.setenv("EARSHOT_REDDIT_CLIENT_ID", "earshot-app")
    monkeypatch.setenv("EARSHOT_REDDIT_CLIENT_SECRET", "reddit-secret")


def notify_toml(receiver_url: str, **watch) -> str:
    settings = "\n".join(f"{key} = {value!r}" for key, value in watch.items())
    return f"""
[watch]
{settings}

[[notify]]
name = "ops-webhook"
kind = "webhook"
url = "{receiver_url}/hook"
min_interval = 0

[[notify]]
name = "chat"
url = "json://{receiver_url.removeprefix("http://")}/apprise"
min_interval = 0
min_level = "confirmed"
"""


class Replay:
    """Replay a simulated scenario through the emulator and an in-process
    watcher on a clock that moves ``step`` a pass."""

    def __init__(self, db_path, emulator, config, posts, start, classifier):
        self.clock = start
        self.emulator, self.config, self.posts = emulator, config, posts
        store_past(open_db(db_path), config, posts[posts["created_at"] < start], classifier)
        self.watcher = Watcher(db_path, config, classifier, clock=lambda: self.clock)
        self.sender = Sender(db_path, config.notify, clock=lambda: self.clock, backoff=0)
        self.official: list[tuple[pd.Timestamp, str]] = []

    def run_until(self, end, step="1min"):
        step = pd.Timedelta(step)
        while self.clock < end:
            self.clock += step
            new = self.posts[(self.posts["created_at"] >= self.clock - step) & (self.posts["created_at"] < self.clock)]
            publish(self.emulator, new)
            for at, stage in [(at, stage) for at, stage in self.official if self.clock - step <= at < self.clock]:
                self.emulator.post_update("inc-major", "Elevated errors on ChatGPT", stage, at.to_pydatetime())
            reports = self.watcher.pass_once(self.clock)
            assert all(r.ok for r in reports), [r.line() for r in reports]
            self.sender.deliver_due()


@pytest.mark.slow
def test_a_simulated_outage_goes_through_the_exact_event_sequence(tmp_path, classifier):
    posts, labels = scenario_posts("major", seed=1)
    onset = labels.loc[0, "first_complaint"]
    end = labels.loc[0, "end"]
    emulator = Emulator([], incidents=0)
    with serve_receiver() as receiver, serve(emulator) as base:
        config = live_config(base, keep=("status",), extra=notify_toml(receiver.url, remind_every=30, settle=90))
        replay = Replay(
            tmp_path / "watch.db", emulator, config, posts, onset.floor("min") - pd.Timedelta("20min"), classifier
        )
        first_post = onset + pd.Timedelta("15min")
        replay.official = [(first_post, "investigating"), (end + pd.Timedelta("10min"), "resolved")]
        replay.run_until(onset + pd.Timedelta("20min"), step="1min")
        # The scan windows remember the last hour: the episode closes well after the last complaints.
        replay.run_until(end + pd.Timedelta("240min"), step="10min")

    hooks = [call for call in receiver.on("/hook")]
    events = [call.json for call in hooks]
    for call in receiver.calls:  # what the receivers got, for `pytest -s` (and the docs)
        print(call.path, json.dumps(call.json, ensure_ascii=False))
    names = [e["event"] for e in events]
    (episode,) = load_watch_episodes(open_db(tmp_path / "watch.db"))
    assert names == ["opened", "confirmed", "acknowledged"] + ["reminder"] * episode["reminders"] + ["resolved"]
    assert episode["reminders"] >= 2
    opened, confirmed, acknowledged, *reminders, resolved = events
    # Nothing before the first complaint; heard within five minutes of it.
    assert onset <= pd.Timestamp(opened["created_at"]) <= onset + pd.Timedelta("5min")
    assert opened["level"] == "possible" and confirmed["level"] == "confirmed"
    assert {e["episode"] for e in events} == {episode["id"]} and len({e["id"] for e in events}) == len(events)
    assert all(call.headers["Idempotency-Key"] == call.json["id"] for call in hooks)
    # The provider's first post, and earshot's lead on it.
    assert acknowledged["official"]["first_post"] == first_post.isoformat()
    assert acknowledged["official"]["status"] == "investigating"
    lead = (first_post - pd.Timestamp(opened["start"])).total_seconds() / 60
    assert acknowledged["lead_minutes"] == pytest.approx(lead, abs=0.1) and lead > 0
    for before, after in zip([opened, *reminders], reminders, strict=False):
        gap = pd.Timestamp(after["created_at"]) - pd.Timestamp(before["created_at"])
        assert pd.Timedelta("30min") <= gap < pd.Timedelta("40min")
    assert resolved["end"] is not None and pd.Timestamp(resolved["end"]) > end
    # Reminders say whether it is dying down: the last stretch's reporters, fewer as it ends.
    recent = [r["recent_reports"] for r in reminders]
    assert all(r["recent_minutes"] == 30 for r in reminders) and recent[0] > 100 and recent[-1] < recent[0]
    # Evidence: sources, counts against the baseline, three sample posts as text.
    assert set(opened["sources"]) <= {"forum", "hackernews", "mastodon", "reddit"} and opened["sources"]
    assert resolved["reports"] > 100 * resolved["expected"] > 0
    assert len(opened["sample_posts"]) == 3
    assert all(set(post) == {"source", "created_at", "text"} for post in opened["sample_posts"])
    assert opened["dashboard_url"].endswith("?page=now&service=chatgpt&at=" + opened["start"][:19] + "Z")
    # The Apprise channel asked only for confirmed outages: no `opened`.
    chat = [call.json for call in receiver.on("/apprise")]
    assert [c["title"].split(":")[1].strip().split(" (")[0] for c in chat][:2] == [
        "confirmed outage",
        f"the provider acknowledged the outage, {acknowledged['lead_minutes']:+.0f} min after earshot",
    ]
    assert len(chat) == len(events) - 1
    assert all(c["type"] in ("warning", "failure", "info", "success") for c in chat)


# -- in-process, on stored posts: no fetching, the clock replayed -----------------------

START = pd.Timestamp("2024-03-04T00:00Z")
BURST = START + pd.Timedelta("2D13h")


def burst(db, config, classifier, at, count=30, minutes=20, prefix="burst"):
    """``count`` complaints from different people, spread over ``minutes`` from ``at``, on every source."""
    from earshot.ingest import ingest

    names = [s.name for s in config.sources if s.kind != "statuspage"]
    for n in range(count):
        source = config.source(names[n % len(names)])
        moment = at + pd.Timedelta(minutes=minutes) * n / count
        ingest(
            db,
            config,
            source,
            [
                {
                    "source": source.name,
                    "post_id": f"{prefix}-{n}",
                    "author": f"{prefix}{n}",
                    "created_at": moment.isoformat(),
                    "text": "Is ChatGPT down? 'network error'",
                }
            ],
            classifier,
        )


def stored_world(tmp_path, classifier, extra=""):
    """Two days and a half of chatter stored, sources that are never fetched here, a receiver's notifiers."""
    posts, _ = scenario_posts("chatter:3", seed=5, start=START)
    config = live_config("http://127.0.0.1:9", extra=extra)
    db = open_db(tmp_path / "watch.db")
    store_past(db, config, posts[posts["created_at"] < BURST + pd.Timedelta("6h")], classifier)
    return db, config


def advance(watcher, sender, start, end, step="5min"):
    moment = start
    while moment < end:
        moment += pd.Timedelta(step)
        watcher.clock = lambda m=moment: m
        sender.clock = watcher.clock
        watcher.detect(moment, force=True)
        watcher.release_silences(moment)
        sender.deliver_due()
    return moment


@pytest.mark.slow
def test_a_quiet_window_holds_events_and_sums_them_up_when_it_ends(tmp_path, classifier):
    with serve_receiver() as receiver:
        silence = f"""
[[silence]]
name = "maintenance"
start = "{(BURST - pd.Timedelta("10min")).isoformat()}"
end = "{(BURST + pd.Timedelta("40min")).isoformat()}"
"""
        db, config = stored_world(tmp_path, classifier, notify_toml(receiver.url, settle=60) + silence)
        burst(db, config, classifier, BURST)
        watcher = Watcher(tmp_path / "watch.db", config, classifier, clock=lambda: BURST)
        sender = Sender(tmp_path / "watch.db", config.notify, clock=lambda: BURST, backoff=0)
        advance(watcher, sender, BURST - pd.Timedelta("30min"), BURST + pd.Timedelta("35min"))
        assert receiver.calls == []  # held, not lost
        held = [e for e in load_events(db) if e["status"] == "held"]
        assert {e["event"] for e in held} == {"opened", "confirmed"}
        advance(watcher, sender, BURST + pd.Timedelta("35min"), BURST + pd.Timedelta("4h"))
    hooks = [call.json for call in receiver.on("/hook")]
    assert [h["event"] for h in hooks] == ["silence_ended", "resolved"]
    told = hooks[0]
    assert told["silence"] == "maintenance" and told["held"] == 2
    assert "opened" in told["summary"] and "confirmed" in told["summary"] and "Still open now" in told["summary"]
    chat = [call.json for call in receiver.on("/apprise")]
    assert chat[0]["title"] == "earshot: quiet window 'maintenance' ended" and "1 event was held" in chat[0]["message"]


@pytest.mark.slow
def test_state_survives_a_restart_and_is_rebuilt_when_the_detector_settings_change(tmp_path, classifier, caplog):
    import dataclasses
    import pickle

    from earshot.analysis import detect
    from earshot.store import load_detector_state, save_detector_state

    with serve_receiver() as receiver:
        db, config = stored_world(tmp_path, classifier, notify_toml(receiver.url, settle=60))
        burst(db, config, classifier, BURST)
        first = Watcher(tmp_path / "watch.db", config, classifier)
        sender = Sender(tmp_path / "watch.db", config.notify, backoff=0)
        moment = advance(first, sender, BURST - pd.Timedelta("20min"), BURST + pd.Timedelta("15min"))
        state = load_detector_state(db, "chatgpt")
        assert pd.Timestamp(state["settled_until"]) == (moment - pd.Timedelta("60s")).floor("5min")

        # A restart picks the state up where it was: nothing is told twice.
        again = Watcher(tmp_path / "watch.db", config, classifier)
        moment = advance(again, sender, moment, moment + pd.Timedelta("15min"))
        assert [c.json["event"] for c in receiver.on("/hook")] == ["opened", "confirmed"]

        # A state that cannot be unpickled (damaged, or written by classes since moved) is
        # rebuilt with one log line; watch carries on and tells nobody anything twice.
        first_params = pickle.loads(state["state"]).get_params()
        save_detector_state(db, "chatgpt", state["fingerprint"], state["settled_until"], b"\x80\x04not a pickle")
        damaged = Watcher(tmp_path / "watch.db", config, classifier)
        with caplog.at_level("INFO", logger="earshot.watch"):
            moment = advance(damaged, sender, moment, moment + pd.Timedelta("10min"))
        assert caplog.text.count("stored detector state unreadable (UnpicklingError") == 1, caplog.text
        assert pickle.loads(load_detector_state(db, "chatgpt")["state"]).get_params() == first_params
        assert [c.json["event"] for c in receiver.on("/hook")] == ["opened", "confirmed"]
        caplog.clear()

        # New settings: the state is rebuilt from the stored posts; the open episode stays the same one.
        changed = dataclasses.replace(config, detector={**config.detector, "threshold": 6.0})
        rebuilt = Watcher(tmp_path / "watch.db", changed, classifier)
        with caplog.at_level("INFO", logger="earshot.watch"):
            advance(rebuilt, sender, moment, BURST + pd.Timedelta("4h"))
        assert "detector settings or library versions changed" in caplog.text
        assert load_detector_state(db, "chatgpt")["fingerprint"] == rebuilt.fingerprint("chatgpt")
    assert [c.json["event"] for c in receiver.on("/hook")] == ["opened", "confirmed", "resolved"]
    # What watch worked out bucket by bucket is what a refit of everything finds.
    (episode,) = load_watch_episodes(db)
    _, found = detect(db, config, "chatgpt")
    assert pd.Timestamp(episode["first_bucket"]) == found["first_bucket"].iloc[0]


def test_the_state_fingerprint_follows_the_libraries_the_pickle_depends_on(tmp_path, classifier, monkeypatch):
    from earshot.roof.watch import detecting

    config = live_config("http://127.0.0.1:9")
    before = Watcher(tmp_path / "watch.db", config, classifier).fingerprint("chatgpt")
    assert {"python", "numpy", "pandas", "scikit-learn", "scipy", "earshot"} <= set(detecting.STATE_LIBRARIES)
    monkeypatch.setitem(detecting.STATE_LIBRARIES, "pandas", "99.0.0")
    assert Watcher(tmp_path / "watch.db", config, classifier).fingerprint("chatgpt") != before


def test_a_failing_channel_is_retried_and_named_and_its_secret_never_shows(tmp_path, classifier, monkeypatch, caplog):
    monkeypatch.setenv("EARSHOT_TEST_HOOK_TOKEN", "tok-7f3a9c")
    with serve_receiver() as receiver:
        extra = f"""
[[notify]]
name = "secret-hook"
kind = "webhook"
url = "{receiver.url}/hooks/${{EARSHOT_TEST_HOOK_TOKEN}}"
min_interval = 0
"""
        db, config = stored_world(tmp_path, classifier, extra)
        burst(db, config, classifier, BURST)
        receiver.fail_next(2)
        watcher = Watcher(tmp_path / "watch.db", config, classifier)
        sender = Sender(tmp_path / "watch.db", config.notify, backoff=0)
        with caplog.at_level("INFO"):
            advance(watcher, sender, BURST - pd.Timedelta("10min"), BURST + pd.Timedelta("30min"))
    calls = receiver.on("/hooks/tok-7f3a9c")
    assert [c.json["event"] for c in calls] == ["opened", "confirmed"]
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 2 and all("'secret-hook': opened" in line and "HTTP 503" in line for line in failures)
    assert "tok-7f3a9c" not in caplog.text
    assert not any("tok-7f3a9c" in line for line in db.conn.iterdump())
    # The receiver refused two calls: `opened` was tried three times, and `confirmed` waited behind it, in order.
    assert [(e["event"], e["status"], e["attempts"]) for e in load_events(db)] == [
        ("opened", "delivered", 3),
        ("confirmed", "delivered", 1),
    ]


# -- real processes, real time --------------------------------------------------------


def watch_toml(base: str, receiver_url: str, stall_url: str) -> str:
    sources, stalled = polled_sources_toml(base), stalled_source_toml(stall_url)
    bluesky = source_blocks(config_toml(base), {"bluesky"}, min_interval=0)
    return f"""
[[services]]
name = "chatgpt"
label = "ChatGPT"
terms = ["chatgpt", "openai"]
{sources}
{bluesky}{stalled}
[watch]
interval = 1
stale_after = 30

[[notify]]
name = "ops-webhook"
kind = "webhook"
url = "{receiver_url}/hook?token=${{EARSHOT_HOOK_TOKEN}}"
min_interval = 0
"""


@pytest.mark.slow
def test_live_watch_alerts_once_through_sigkill_and_restarts_and_stops_cleanly(tmp_path, classifier, monkeypatch):
    import collections
    import signal
    import subprocess
    import threading
    import time

    from earshot.store import load_heartbeat
    from tests.conftest import EARSHOT

    # Secrets, as an operator sets them (the Reddit app's are set for every test here).
    monkeypatch.setenv("EARSHOT_HOOK_TOKEN", "hook-token-5678")
    monkeypatch.setenv("EARSHOT_BLUESKY_HANDLE", "earshot.bsky.social")
    monkeypatch.setenv("EARSHOT_BLUESKY_APP_PASSWORD", "app-password-1234")
    now = pd.Timestamp.now(tz="UTC")
    posts, _ = scenario_posts("chatter:3", seed=9, start=now - pd.Timedelta("3D"))
    recent = now - pd.Timedelta("10min")
    db_path, config_path = tmp_path / "live.db", tmp_path / "watch.toml"
    emulator, release = Emulator([], incidents=0), threading.Event()
    log = open(tmp_path / "watch.log", "w")  # noqa: SIM115 (closed at the end)

    def start():
        return subprocess.Popen([EARSHOT, "watch", "--db", db_path, "--config", config_path], stderr=log, stdout=log)

    def passes():
        beat = load_heartbeat(open_db(db_path))
        return beat["passes"] if beat else 0

    with serve_receiver() as receiver, serve(emulator) as base, serve(stalling(release)) as stall_url:
        config_path.write_text(watch_toml(base, receiver.url, stall_url))
        config = live_config(base)
        db = open_db(db_path)
        store_past(db, config, posts[posts["created_at"] < recent], classifier)
        publish(emulator, posts[(posts["created_at"] >= recent) & (posts["created_at"] < now)])
        receiver.fail_next(10**6)  # the channel is down at first
        try:
            watch = start()
            # Days of ordinary chatter, polled live: nothing to tell.
            wait_for("three passes", lambda: passes() >= 3, process=watch)
            assert load_events(db) == []

            burst_at = time.monotonic()
            emulator.publish(40, at=(pd.Timestamp.now(tz="UTC") - pd.Timedelta("40s")).to_pydatetime())
            wait_for(
                "a recorded, undelivered 'opened'",
                lambda: any(e["event"] == "opened" and e["attempts"] for e in load_events(db)),
                process=watch,
            )
            recorded_after = time.monotonic() - burst_at
            watch.send_signal(signal.SIGKILL)  # between recording and delivery
            watch.wait(10)

            receiver.fail_next(0)
            watch = start()
            wait_for("'opened' at the receiver", lambda: receiver.on("/hook"), process=watch)
            delivered_after = time.monotonic() - burst_at
            wait_for(
                "every event delivered",
                lambda: all(e["status"] == "delivered" for e in load_events(db)) and len(load_events(db)) >= 2,
                process=watch,
            )
            watch.send_signal(signal.SIGKILL)  # after delivery
            watch.wait(10)

            watch = start()
            seen = passes()
            wait_for("three more passes", lambda: passes() >= seen + 3, process=watch)
            status = subprocess.run(
                [EARSHOT, "status", "--db", db_path, "--config", config_path], capture_output=True, text=True
            )
            watch.send_signal(signal.SIGTERM)
            assert watch.wait(30) == 0
            after = subprocess.run(
                [EARSHOT, "status", "--db", db_path, "--config", config_path], capture_output=True, text=True
            )
        finally:
            release.set()
            if watch.poll() is None:
                watch.kill()
            log.close()

    events = [(call.json["episode"], call.json["event"]) for call in receiver.on("/hook")]
    assert [event for _, event in events] == ["opened", "confirmed"]
    assert all(n == 1 for n in collections.Counter(events).values())
    # The stalled source (3 s deadline) held nothing up: recorded within seconds of the burst.
    assert recorded_after < 30 and delivered_after < 60, (recorded_after, delivered_after)
    # While it ran, status named the failing source (exit 1); once stopped, exit 3.
    assert status.returncode == 1, status.stdout + status.stderr
    assert status.stdout.startswith("watch: running")
    assert "stalled-feed" in status.stdout and "deadline" in status.stdout
    assert "\nchatgpt: alert: chatgpt-" in status.stdout
    assert after.returncode == 3 and after.stdout.startswith("watch: stopped")
    text = (tmp_path / "watch.log").read_text()
    assert "Traceback" not in text
    # Each secret was used, and shows in no log line, status, notification or byte of the database.
    assert emulator.sessions_created and any(r.startswith("/reddit-oauth/") for r in emulator.requests)
    secrets = ["reddit-secret", "app-password-1234", "hook-token-5678", "reddit-token", *emulator.issued_tokens()]
    said = [text, status.stdout, status.stderr, after.stdout, after.stderr]
    said += [json.dumps(call.json) + json.dumps(call.headers) for call in receiver.calls]
    files = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    for secret in secrets:
        assert not [words for words in said if secret in words], secret
        assert not [path for path, data in files.items() if secret.encode() in data], secret


def test_notify_test_reaches_every_channel_and_names_the_one_that_failed(tmp_path, free_port, monkeypatch):
    from tests.conftest import earshot
    from tests.receivers import serve_smtp

    monkeypatch.setenv("EARSHOT_TEST_MAIL_TO", "ops@example.com")
    monkeypatch.setenv("EARSHOT_TEST_CHAT_TOKEN", "tok-c4a7")
    with serve_receiver() as receiver, serve_smtp(free_port) as mailbox:
        host = receiver.url.removeprefix("http://")
        config = tmp_path / "notify.toml"
        config.write_text(f"""
[[services]]
name = "chatgpt"

[[notify]]
name = "ops-webhook"
kind = "webhook"
url = "{receiver.url}/hook"

[[notify]]
name = "team-chat"
url = "json://{host}/apprise"

[[notify]]
name = "oncall-mail"
url = "mailto://127.0.0.1:{free_port}?mode=insecure&from=earshot@example.com&to=${{EARSHOT_TEST_MAIL_TO}}"

[[notify]]
name = "nobody-home"
url = "json://127.0.0.1:9/${{EARSHOT_TEST_CHAT_TOKEN}}"
""")
        ran = earshot("notify", "--test", "--config", config)
    assert ran.returncode == 1
    lines = ran.stdout.splitlines()
    assert lines[:3] == ["ops-webhook: ok", "team-chat: ok", "oncall-mail: ok"]
    assert lines[3] == (
        "nobody-home: failed: Apprise could not deliver: A Connection error occurred sending JSON notification to 127.0.0.1."
    )
    assert receiver.on("/hook")[0].json["event"] == "test"
    assert receiver.on("/apprise")[0].json["title"] == "earshot: test message"
    (mail,) = mailbox.messages
    assert mail["Subject"] == "earshot: test message" and mail["To"] == "ops@example.com"
    assert "tok-c4a7" not in ran.stdout + ran.stderr


def test_watch_refuses_a_channel_apprise_cannot_read_and_status_a_missing_database(tmp_path):
    from tests.conftest import earshot

    config = tmp_path / "bad.toml"
    config.write_text('[[services]]\nname = "chatgpt"\n\n[[notify]]\nname = "typo"\nurl = "slakc://T000/B000/XXX"\n')
    ran = earshot("watch", "--once", "--db", tmp_path / "w.db", "--config", config)
    assert ran.returncode == 1
    assert "notify 'typo': Apprise does not understand this URL (scheme 'slakc')" in ran.stderr
    assert "T000" not in ran.stderr
    missing = earshot("status", "--db", tmp_path / "nope" / "x.db")
    assert missing.returncode == 1 and "no database at" in missing.stderr
    assert not (tmp_path / "nope").exists()


def test_status_says_watch_never_ran_and_answers_in_json(tmp_path):
    from earshot.store import save_heartbeat, save_state, store_posts
    from tests.conftest import earshot

    db = open_db(tmp_path / "s.db")
    save_state(db, "hackernews", last_ok_at=pd.Timestamp.now(tz="UTC").isoformat())
    never = earshot("status", "--db", tmp_path / "s.db")
    assert never.returncode == 3
    assert never.stdout.splitlines()[0] == "watch: has never run on this database (`earshot watch` starts it)"
    now = pd.Timestamp.now(tz="UTC").isoformat()
    save_heartbeat(db, pid=1, host="h", started_at=now, last_pass_at=now, passes=3, sources={"hackernews": {}})
    ran = earshot("status", "--db", tmp_path / "s.db", "--json")
    report = json.loads(ran.stdout)
    assert ran.returncode == 0 and report["watch"] == "running" and report["exit"] == 0
    assert [(s["source"], s["ok"], s["failing"]) for s in report["sources"]] == [("hackernews", True, False)]
    # Nothing heard is not "normal".
    assert [(s["service"], s["state"]) for s in report["services"]] == [("chatgpt", "no data")]
    assert (
        ran.stdout
        and "chatgpt: no data: no post of it is stored" in earshot("status", "--db", tmp_path / "s.db").stdout
    )
    for age, state in (("30h", "no data"), ("5min", "normal")):
        stamp = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(age)).floor("s").isoformat()
        store_posts(db, [{"source": "hackernews", "post_id": age, "created_at": stamp, "service": "chatgpt"}])
        (verdict,) = json.loads(earshot("status", "--db", tmp_path / "s.db", "--json").stdout)["services"]
        assert (verdict["state"], verdict["newest_post_at"]) == (state, pd.Timestamp(stamp).isoformat()), verdict
    assert (
        earshot("status", "--db", tmp_path / "s.db")
        .stdout.splitlines()[-1]
        .startswith("chatgpt: normal: no open episode, newest post ")
    )
    listed = earshot("notify", "--config", tmp_path / "none.toml")
    assert listed.returncode == 1 and "config file not found" in listed.stderr


def test_watch_once_exits_1_when_a_source_fails_as_collect_does(tmp_path, classifier):
    from tests.conftest import earshot
    from tests.faults.server import refused_url

    config = tmp_path / "one.toml"
    config.write_text(
        f'[[services]]\nname = "chatgpt"\nterms = ["chatgpt"]\n\n[[sources]]\nname = "gone"\nkind = "rss"\n'
        f'url = "{refused_url()}"\nservice = "chatgpt"\n'
    )
    ran = earshot("watch", "--once", "--db", tmp_path / "w.db", "--config", config)
    assert ran.returncode == 1
    assert ran.stdout.startswith("gone: error: could not connect to ") and "not retried" in ran.stdout


@pytest.mark.slow
def test_an_idle_watch_waits_for_the_next_due_fetch_instead_of_spinning(tmp_path, classifier, server):
    """Between fetches the loop sleeps until something is due or arrives (it once made
    hundreds of thousands of passes a minute at 100% of a core)."""
    import threading
    import time

    from tests.conftest import fixture_bytes
    from tests.live import feed_config

    server.expect_request("/feed.xml").respond_with_data(
        fixture_bytes("reddit_subreddit_rss.atom.xml"), content_type="application/atom+xml"
    )
    config = feed_config(server.url_for("/feed.xml"))
    watcher = Watcher(tmp_path / "idle.db", config, classifier)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    time.sleep(4)
    stop.set()
    thread.join(timeout=10)
    assert watcher.passes <= 12, f"{watcher.passes} passes in 4 s of idling"
