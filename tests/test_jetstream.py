"""The Jetstream source against a local Jetstream on 127.0.0.1 (tests/jetstream.py):
real frames in the documented shape, cursor replay, disconnects, malformed and
oversized frames, a stall; `earshot collect` catching up; the live follower."""

from __future__ import annotations

import json
import threading
import time
import tomllib
from dataclasses import replace

import pytest

from collectors.http import HttpClient
from collectors.jetstream import Jetstream, read_event
from earshot.config import load_config, parse_config
from earshot.store import get_state, load_posts, open_db
from tests.conftest import earshot
from tests.jetstream import FIXTURE, JetstreamServer, fixture_events, post_event, stream_toml

CONFIG = stream_toml("{url}")

WORDS = [
    "is chatgpt down for anyone else?",
    "claude keeps saying overloaded",
    "lunch was great today",
    "openai api returning 502 on every call",
    "new blog post about gardening",
]


def world(n: int, start_us: int, every_us: int = 1000, prefix: str = "p") -> tuple[list[dict], set[str]]:
    """``n`` post events from ``start_us`` (cycling through WORDS) with likes between,
    and the at:// URIs of those that name a configured service."""
    events, matching = [], set()
    for i in range(n):
        text = WORDS[i % len(WORDS)]
        event = post_event(f"did:plc:{prefix}{i % 7}", f"{prefix}{i}", text, time_us=start_us + i * every_us)
        events.append(event)
        if any(term in text for term in ("chatgpt", "openai", "claude")):
            matching.add(f"at://{event['did']}/app.bsky.feed.post/{prefix}{i}")
        like = json.loads(json.dumps(fixture_events()[0]))
        like["time_us"] = start_us + i * every_us + 1
        events.append(like)
    return events, matching


@pytest.fixture
def stream():
    with JetstreamServer() as server:
        yield server


def write_config(tmp_path, server, extra: str = "") -> str:
    path = tmp_path / "stream.toml"
    path.write_text(CONFIG.format(url=server.url) + extra)
    return str(path)


def stored_ids(db_path) -> set[str]:
    posts = load_posts(open_db(db_path))
    assert not posts["post_id"].duplicated().any()
    return set(posts["post_id"])


def test_the_real_frames_are_read_as_jetstream_documents_them():
    events = [read_event(line, "bsky") for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    posts = [e.post for e in events if e.post is not None]
    assert [e.time_us for e in events] == sorted(e.time_us for e in events)
    assert len(posts) == 1, "two likes, a follow and a repost are not posts"
    (post,) = posts
    assert post["post_id"] == "at://did:plc:nutrikdii7qo6xbb52mdlyf2/app.bsky.feed.post/3m64666fhis2e"
    assert (
        post["text"] == "乗った\uff01" and post["langs"] == ["ja"] and post["created_at"] == "2025-11-21T01:50:04.166Z"
    )
    assert post["url"] == "https://bsky.app/profile/did:plc:nutrikdii7qo6xbb52mdlyf2/post/3m64666fhis2e"
    deleted = read_event(json.dumps(post_event("did:plc:x", "3k", "", time_us=5, operation="delete")), "bsky")
    assert deleted.post is None and deleted.deleted == "at://did:plc:x/app.bsky.feed.post/3k"


@pytest.mark.slow
def test_collect_tails_then_catches_up_from_its_cursor_storing_only_matching_posts_once(stream, tmp_path, classifier):
    config, db = write_config(tmp_path, stream), tmp_path / "s.db"
    old, _ = world(20, time.time_ns() // 1000 - 60_000_000, prefix="old")
    stream.publish(old)
    first = earshot("collect", "--db", db, "--config", config)
    # A first run has no cursor: it starts at the live edge (the past is not its to read) and keeps its place.
    assert first.returncode == 0 and "bsky-stream: 0 new posts" in first.stdout, first.stdout + first.stderr
    assert get_state(open_db(db), "bsky-stream")["cursor"]
    assert stream.connections[-1]["wantedCollections"] == "app.bsky.feed.post"

    new, matching = world(40, time.time_ns() // 1000 - 1_000_000, prefix="new")  # posted in the last second
    stream.publish(new)
    second = earshot("collect", "--db", db, "--config", config)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"bsky-stream: {len(matching)} new posts, 0 duplicates skipped" in second.stdout
    assert stored_ids(db) == matching
    cursor = int(get_state(open_db(db), "bsky-stream")["cursor"])
    posted = max(e["time_us"] for e in new if e["commit"]["collection"] == "app.bsky.feed.post")
    assert cursor == posted, "the cursor is the last event handled (the likes are not sent: posts only)"
    assert int(stream.connections[-1]["cursor"]) < cursor, "it asked to resume a little before"

    # Again: nothing new, nothing twice; then an author deletes a stored post: its text goes.
    assert "bsky-stream: 0 new posts" in earshot("collect", "--db", db, "--config", config).stdout
    gone = sorted(matching)[0]
    did, rkey = gone.removeprefix("at://").split("/app.bsky.feed.post/")
    stream.publish([post_event(did, rkey, "", operation="delete")])
    earshot("collect", "--db", db, "--config", config)
    posts = load_posts(open_db(db)).set_index("post_id")
    assert posts.loc[gone, "text"] == "" and set(posts.index) == matching
    assert (posts.drop(index=gone)["text"] != "").all()


@pytest.mark.slow
def test_a_service_bound_source_keeps_only_that_service_and_its_languages(stream, tmp_path, classifier):
    bound = CONFIG.replace('url = "{url}"', 'url = "{url}"\nservice = "claude"\nlangs = ["en"]')
    path = tmp_path / "bound.toml"
    path.write_text(bound.format(url=stream.url))
    db = tmp_path / "b.db"
    earshot("collect", "--db", db, "--config", path)
    now = time.time_ns() // 1000
    stream.publish(
        [
            post_event("did:plc:a", "1", "claude is down?", time_us=now),
            post_event("did:plc:a", "2", "chatgpt is down?", time_us=now + 1),
            post_event("did:plc:a", "3", "claude est en panne ?", time_us=now + 2, langs=("fr",)),
        ]
    )
    earshot("collect", "--db", db, "--config", path)
    posts = load_posts(open_db(db))
    assert list(posts["post_id"]) == ["at://did:plc:a/app.bsky.feed.post/1"] and list(posts["service"]) == ["claude"]


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["close", "malformed", "oversized", "stall"])
def test_the_follower_rides_out_a_misbehaving_server_with_no_gap_and_no_double(stream, fault):
    start = time.time_ns() // 1000
    events, matching = world(60, start, prefix=fault)
    # A stall is told by silence, so that case has no quiet moment but the fault's: all is published at once.
    live = 40 if fault != "stall" else len(events)
    stream.publish(events[:live])
    stream.fail_next(fault, after=12)
    config = parse_config({"services": [{"name": "chatgpt", "terms": ["chatgpt", "openai"]},
                                        {"name": "claude", "terms": ["claude"]}],
                           "sources": [{"name": "bsky", "kind": "jetstream", "url": stream.url,
                                        "stall_seconds": 1 if fault == "stall" else 30}]}, "t.toml")  # fmt: skip
    reader = Jetstream(config.sources[0], HttpClient(), config)
    batches, notices, stop = [], [], threading.Event()
    thread = threading.Thread(target=reader.follow, args=(start - 1, batches.append, stop, notices.append), daemon=True)
    thread.start()
    time.sleep(1.0)
    stream.publish(events[live:])  # live, after the fault
    deadline = time.monotonic() + 20
    last = max(e["time_us"] for e in events if e["commit"]["collection"] == "app.bsky.feed.post")
    while time.monotonic() < deadline and not (batches and int(batches[-1].state["cursor"]) >= last):
        time.sleep(0.1)
    stop.set()
    thread.join(timeout=10)
    got = [item["post_id"] for batch in batches for item in batch.items]
    assert sorted(got) == sorted(matching), "every matching post once: none missed, none twice"
    assert int(batches[-1].state["cursor"]) == last
    if fault == "malformed":
        assert any(batch.warning == "1 malformed frame(s) skipped" for batch in batches) and not notices
    else:
        assert len(notices) == 1, notices
        said = {
            "close": "closed the connection: code 1011 (going away)",
            "oversized": "a frame was larger than 1024 KiB (code 1009)",
            "stall": "sent nothing for 1 s (stalled)",
        }[fault]
        assert said in notices[0] and "reconnecting in" in notices[0], notices[0]
        assert len(stream.connections) == 2


def test_collect_names_a_stream_it_cannot_reach(tmp_path):
    path = tmp_path / "gone.toml"
    path.write_text(CONFIG.format(url="ws://127.0.0.1:9/subscribe"))
    result = earshot("collect", "--db", tmp_path / "g.db", "--config", path)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        "bsky-stream: error: could not connect to ws://127.0.0.1:9/subscribe: "
        "the connection was refused (nothing listens there)"
    )


@pytest.mark.slow
def test_watch_follows_the_stream_and_opens_an_episode_seconds_after_a_burst(stream, tmp_path, classifier, caplog):
    import pandas as pd

    from earshot.roof.watch import Watcher
    from earshot.store import load_events, load_watch_episodes
    from tests.jetstream import complaint_burst, store_history

    config = parse_config(tomllib.loads(CONFIG.format(url=stream.url)), "watch.toml")
    config = replace(config, detector=dict(load_config().detector))
    db = open_db(tmp_path / "w.db")
    assert store_history(db, config, "bsky-stream", classifier) > 500
    watcher = Watcher(tmp_path / "w.db", config, classifier)
    stop = threading.Event()
    with caplog.at_level("INFO", logger="earshot.watch"):
        thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
        thread.start()
        time.sleep(3)  # the first pass builds the detector's state from the stored history
        assert load_events(db) == []
        first = time.time_ns() // 1000
        burst = complaint_burst(30, first, 200_000)
        for event in burst:  # 30 people in 6 s, live
            stream.publish([event])
            time.sleep(0.2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not [e for e in load_events(db) if e["event"] == "opened"]:
            time.sleep(0.2)
        stop.set()
        thread.join(timeout=20)
    (opened,) = [e for e in load_events(db) if e["event"] == "opened"]
    (episode,) = load_watch_episodes(db)
    evidence_in = pd.Timestamp(episode["start"])
    recorded = pd.Timestamp(opened["created_at"])
    assert evidence_in >= pd.Timestamp(first, unit="us", tz="UTC").floor("s")
    assert (recorded - evidence_in).total_seconds() < 5, "opened within seconds of the post that tipped it"
    assert "following bsky-stream live" in caplog.text
    assert (
        len(
            stored_ids(tmp_path / "w.db") & {f"at://{e['did']}/app.bsky.feed.post/{e['commit']['rkey']}" for e in burst}
        )
        == 30
    )


@pytest.mark.slow
def test_a_streaming_watch_killed_again_and_again_stores_each_matching_post_exactly_once(stream, tmp_path, classifier):
    import random
    import signal
    import subprocess

    from earshot.store import save_state
    from tests.conftest import EARSHOT

    config, db = write_config(tmp_path, stream), tmp_path / "k.db"
    start = time.time_ns() // 1000
    save_state(open_db(db), "bsky-stream", cursor=str(start - 1))  # from here: nothing before is the test's
    sent, matching, done = [], set(), threading.Event()

    def publisher():  # about 150 events a second for 12 s, a third of them about a service
        i = 0
        while not done.is_set():
            events, ids = world(15, time.time_ns() // 1000, every_us=10, prefix=f"k{i}-")
            stream.publish(events)
            sent.extend(events)
            matching.update(ids)
            i += 1
            time.sleep(0.1)

    rng = random.Random("jetstream-kill")
    feeding = threading.Thread(target=publisher, daemon=True)
    feeding.start()
    kills = []
    try:
        for _ in range(5):
            process = subprocess.Popen([EARSHOT, "watch", "--db", str(db), "--config", config],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            moment = rng.uniform(0.5, 3.0)
            time.sleep(moment)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            kills.append(round(moment, 2))
    finally:
        done.set()
        feeding.join(timeout=5)
    last = max(e["time_us"] for e in sent if e["commit"]["collection"] == "app.bsky.feed.post")
    final = subprocess.Popen([EARSHOT, "watch", "--db", str(db), "--config", config],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and int(get_state(open_db(db), "bsky-stream").get("cursor") or 0) < last:
            time.sleep(0.2)
    finally:
        final.send_signal(signal.SIGTERM)
        _, stderr = final.communicate(timeout=30)
    assert final.returncode == 0, stderr
    assert int(get_state(open_db(db), "bsky-stream")["cursor"]) == last
    assert stored_ids(db) == matching, f"killed at {kills} s"
    print(f"killed at {kills} s; {len(sent)} events sent, {len(matching)} matching, all stored once")


def test_collect_since_reads_back_within_the_replay(stream, tmp_path, classifier):
    config, db = write_config(tmp_path, stream), tmp_path / "since.db"
    events, matching = world(25, time.time_ns() // 1000 - 90_000_000, prefix="back")  # 90 s ago
    stream.publish(events)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 300))
    result = earshot("collect", "--db", db, "--config", config, "--since", since)
    assert f"bsky-stream: {len(matching)} new posts" in result.stdout, result.stdout + result.stderr
    assert stored_ids(db) == matching


def test_a_stream_that_outruns_storing_waits_and_says_so_once(tmp_path, classifier, monkeypatch, caplog):
    from collectors.base import Batch
    from collectors.http import HttpClient
    from earshot.roof.watch import fetching

    monkeypatch.setattr(fetching, "STREAM_QUEUE", 1)
    monkeypatch.setattr(fetching, "BEHIND_AFTER", 0.2)
    config = parse_config(tomllib.loads(CONFIG.format(url="ws://127.0.0.1:9/subscribe")), "t.toml")
    streams = fetching.Fetching(open_db(tmp_path / "q.db"), config, classifier, HttpClient())
    source, stop = config.sources[0], threading.Event()
    batches = [Batch([], state={"cursor": str(n)}) for n in (1, 2, 3)]
    with caplog.at_level("INFO", logger="earshot.watch"):
        feeding = threading.Thread(target=lambda: [streams.deliver(source, stop, b) for b in batches], daemon=True)
        feeding.start()
        time.sleep(1.0)  # the queue holds one batch: the stream waits (the server would hold the rest)
        assert feeding.is_alive() and streams.streamed.qsize() == 1
        deadline = time.monotonic() + 5
        while feeding.is_alive() and time.monotonic() < deadline:
            streams.store(timeout=0.5)
        streams.store()
    assert not feeding.is_alive()
    assert get_state(streams.db, "bsky-stream")["cursor"] == "3", "every batch stored, in order: nothing dropped"
    assert caplog.text.count("falling behind") == 1
