"""`earshot watch --listen`: what it serves, read by the real parts an
operator points at it: prometheus_client's own parser, feedparser, Debian's
`prometheus` server and `promtool`, plain HTTP clients, and hostile sockets.

The live tests share one `earshot watch` process (real HTTP to the API
emulator, real SQLite) that hears a burst of complaints; Prometheus, where it
is installed, scrapes it from before the burst.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import feedparser
import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from earshot.roof.watch import Readings, Server, Watcher
from earshot.store import load_events, load_heartbeat, open_db
from tests.conftest import EARSHOT, earshot, fixture_bytes, unused_port
from tests.emulator import Emulator, serve
from tests.live import (
    feed_config,
    live_config,
    polled_sources_toml,
    publish,
    scenario_posts,
    stalled_source_toml,
    stalling,
    store_past,
    wait_for,
)

DEPLOY = Path(__file__).parent.parent / "deploy"
NO_PROMETHEUS = "Debian's prometheus is not installed here (`apt-get install prometheus`; .ci/run installs it)"


def serve_toml(base: str, stall_url: str, listen: str) -> str:
    sources = polled_sources_toml(base, ("hackernews", "forum", "mastodon"))
    stalled = stalled_source_toml(stall_url)
    return f"""
[[services]]
name = "chatgpt"
label = "ChatGPT"
terms = ["chatgpt", "openai"]

[[services]]
name = "claude"
label = "Claude"
terms = ["claude"]
{sources}
{stalled}
[watch]
interval = 1
stale_after = 30
listen = "{listen}"
dashboard_url = "http://127.0.0.1:8501"

[[notify]]
name = "ops-webhook"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
min_interval = 0
"""


def prometheus_yml(target: str) -> str:
    return f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - earshot-alerts.yml
scrape_configs:
  - job_name: earshot
    static_configs:
      - targets: ["{target}"]
"""


class Live:
    """The running watch (``url``), its database and config, and Prometheus (``prometheus``, or None)."""

    def __init__(self, url, db_path, config_path, prometheus, watch, burst_at):
        self.url, self.db_path, self.config_path = url, db_path, config_path
        self.prometheus, self.watch, self.burst_at = prometheus, watch, burst_at
        self.before: list[dict] = []

    def get(self, path: str, **params) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=10)

    def query(self, promql: str) -> list[dict]:
        answer = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": promql}, timeout=10).json()
        assert answer["status"] == "success", answer
        return answer["data"]["result"]


@pytest.fixture(scope="module")
def live(tmp_path_factory, classifier):
    tmp = tmp_path_factory.mktemp("serve")
    now = pd.Timestamp.now(tz="UTC")
    posts, _ = scenario_posts("chatter:3", seed=9, start=now - pd.Timedelta("3D"))
    recent = now - pd.Timedelta("10min")
    db_path, config_path = tmp / "live.db", tmp / "watch.toml"
    port = unused_port()
    emulator, release = Emulator([], incidents=0), threading.Event()
    log = open(tmp / "watch.log", "w")  # noqa: SIM115 (closed at the end)
    processes = []
    with serve(emulator) as base, serve(stalling(release)) as stall_url:
        config_path.write_text(serve_toml(base, stall_url, f"127.0.0.1:{port}"))
        config = live_config(base)
        store_past(open_db(db_path), config, posts[posts["created_at"] < recent], classifier)
        publish(emulator, posts[(posts["created_at"] >= recent) & (posts["created_at"] < now)])
        try:
            prometheus = None
            if shutil.which("prometheus"):
                prometheus_port = unused_port()
                (tmp / "prometheus.yml").write_text(prometheus_yml(f"127.0.0.1:{port}"))
                shutil.copy(DEPLOY / "prometheus" / "earshot-alerts.yml", tmp / "earshot-alerts.yml")
                processes.append(
                    subprocess.Popen(
                        [
                            "prometheus",
                            f"--config.file={tmp / 'prometheus.yml'}",
                            f"--storage.tsdb.path={tmp / 'tsdb'}",
                            f"--web.listen-address=127.0.0.1:{prometheus_port}",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=open(tmp / "prometheus.log", "w"),  # noqa: SIM115 (the process holds it)
                    )
                )
                prometheus = f"http://127.0.0.1:{prometheus_port}"
            watch = subprocess.Popen(
                [EARSHOT, "watch", "--db", db_path, "--config", config_path], stdout=log, stderr=log
            )
            processes.append(watch)
            url = f"http://127.0.0.1:{port}"
            answer = Live(url, db_path, config_path, prometheus, watch, None)
            wait_for("a healthy watch", lambda: _status(url + "/healthz") == 200, process=watch)
            wait_for("three passes", lambda: (load_heartbeat(open_db(db_path)) or {}).get("passes", 0) >= 3)
            if prometheus:
                wait_for("Prometheus ready", lambda: _status(prometheus + "/-/ready") == 200, process=processes[0])
                # Scraped before the burst: a normal level first.
                wait_for("a level 0 in Prometheus", lambda: answer.query('earshot_alert_level{service="chatgpt"}'))
                answer.before = answer.query('earshot_alert_level{service="chatgpt"}')
            answer.burst_at = pd.Timestamp.now(tz="UTC")
            emulator.publish(40, at=(answer.burst_at - pd.Timedelta("40s")).to_pydatetime())
            wait_for(
                "a confirmed episode",
                lambda: any(e["event"] == "confirmed" for e in load_events(open_db(db_path))),
                process=watch,
            )
            yield answer
            watch.send_signal(signal.SIGTERM)
            assert watch.wait(30) == 0, "watch stops cleanly with its server"
            assert "Traceback" not in (tmp / "watch.log").read_text()
        finally:
            release.set()
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait(10)
            log.close()


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return None


def families(text: str) -> dict:
    """``{name: {labels tuple: value}}`` from the Prometheus text format, parsed by prometheus_client."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


@pytest.mark.slow
def test_metrics_are_scraped_in_prometheus_format_with_every_family(live):
    db = open_db(live.db_path)

    def caught_up():
        """The metrics once they count what the store holds (a snapshot is at most a second old)."""
        answer = live.get("/metrics")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
        metrics = families(answer.text)
        stored = dict(db.execute("SELECT source, count(*) FROM posts GROUP BY source").fetchall())
        counted = {labels[0][1]: value for labels, value in metrics["earshot_posts_stored_total"].items()}
        return metrics if counted == {"stalled-feed": 0, **stored} else None

    metrics = wait_for("the counters caught up with the store", caught_up, seconds=10)
    complaints = dict(db.execute("SELECT source, sum(is_complaint) FROM posts GROUP BY source").fetchall())
    up = metrics["earshot_source_up"]
    assert up[(("source", "hackernews"),)] == 1 and up[(("source", "stalled-feed"),)] == 0
    assert (("source", "stalled-feed"),) not in metrics["earshot_source_last_success_timestamp_seconds"]
    last_ok = metrics["earshot_source_last_success_timestamp_seconds"][(("source", "forum"),)]
    assert abs(last_ok - time.time()) < 60
    said = metrics["earshot_complaints_total"]
    assert said[(("service", "chatgpt"), ("source", "forum"))] == complaints["forum"] > 0
    level, has_data = metrics["earshot_alert_level"], metrics["earshot_service_has_data"]
    assert level[(("service", "chatgpt"),)] == 2 and has_data[(("service", "chatgpt"),)] == 1
    # Claude: no post at all. Its level is 0, and has_data says that 0 means nothing.
    assert level[(("service", "claude"),)] == 0 and has_data[(("service", "claude"),)] == 0
    assert metrics["earshot_score"][(("service", "chatgpt"),)] > 3
    assert (("service", "claude"),) not in metrics["earshot_score"]
    events = metrics["earshot_events_total"]
    assert events[(("event", "opened"), ("service", "chatgpt"))] == 1
    assert events[(("event", "confirmed"), ("service", "chatgpt"))] == 1
    assert metrics["earshot_notifications_pending"][(("channel", "ops-webhook"),)] >= 1  # its receiver is gone
    assert metrics["earshot_watch_pass_seconds_count"][()] >= 3
    assert abs(metrics["earshot_watch_last_pass_timestamp_seconds"][()] - time.time()) < 30
    # Counters only grow: a second scrape is never lower.
    again = families(live.get("/metrics").text)
    for name in ("earshot_posts_stored_total", "earshot_complaints_total", "earshot_events_total"):
        assert all(again[name][labels] >= value for labels, value in metrics[name].items()), name


@pytest.mark.slow
def test_the_atom_feed_reads_cleanly_in_a_feed_reader(live):
    answer = live.get("/feed.atom")
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(answer.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10" and feed.feed.id == "urn:earshot:outages"
    assert feed.feed.links[0].href == live.url + "/feed.atom"
    entries = {entry.id: entry for entry in feed.entries}
    (episode,) = {e["episode"] for e in load_events(open_db(live.db_path))}
    opened, confirmed = (
        entries[f"urn:earshot:event:{episode}/opened"],
        entries[f"urn:earshot:event:{episode}/confirmed"],
    )
    assert [e.id for e in feed.entries][:2] == [confirmed.id, opened.id], "newest first"
    assert opened.title.startswith("ChatGPT: possible outage") and confirmed.title.startswith("ChatGPT: confirmed")
    assert {t.term for t in opened.tags} == {"chatgpt", "possible", "opened"}
    # The first reports, as plain text, and the dashboard replay link.
    assert opened.content[0].type == "text/plain" and "First reports:" in opened.content[0].value
    assert opened.link.startswith("http://127.0.0.1:8501/?page=now&service=chatgpt&at=")
    # Stable: asking again gives the same ids and the same updated time.
    again = feedparser.parse(live.get("/feed.atom").content)
    assert [e.id for e in again.entries] == [e.id for e in feed.entries] and again.feed.updated == feed.feed.updated


@pytest.mark.slow
def test_the_json_api_answers_as_the_cli_does(live):
    served = live.get("/api/v1/status").json()
    printed = json.loads(earshot("status", "--json", "--db", live.db_path, "--config", live.config_path).stdout)
    # The same record; the heartbeat (and what it says) may have moved on between the two.
    for key in ("sources", "services", "notifications", "exit"):
        assert [_without_times(x) for x in _listed(served[key])] == [_without_times(x) for x in _listed(printed[key])]
    assert served["watch"] == printed["watch"] == "running" and served["exit"] == 1  # the stalled feed
    assert [e["id"] for e in served["open_episodes"]] == [e["id"] for e in printed["open_episodes"]]

    episodes = live.get("/api/v1/episodes").json()
    (episode,) = episodes
    assert {"service", "start", "end", "peak_score", "sources", "level", "confirmed_at", "peak_count"} <= set(episode)
    assert episode["service"] == "chatgpt" and episode["end"] is None and episode["level"] == "confirmed"
    assert live.get("/api/v1/episodes", service="claude").json() == []
    assert live.get("/api/v1/episodes", service="chatgpt", since="2020-01-01").json() == episodes
    bad = live.get("/api/v1/episodes", since="last tuesday")
    assert bad.status_code == 400 and "ISO 8601" in bad.json()["error"]
    assert live.get("/healthz").text == "ok\n"
    assert live.get("/nowhere").status_code == 404
    assert httpx.post(live.url + "/metrics", timeout=5).status_code == 405


def _listed(value):
    return value if isinstance(value, list) else [value]


def _without_times(value):
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ("line", "last_ok_at", "newest_post_at", "last_error_at")}
    return value


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("prometheus"), reason=NO_PROMETHEUS)
def test_a_real_prometheus_scrapes_watch_and_sees_the_confirmed_outage(live):
    assert [float(r["value"][1]) for r in live.before] == [0.0], "before the burst: normal"
    level = wait_for(
        "alert level 2 in Prometheus",
        lambda: [r for r in live.query('earshot_alert_level{service="chatgpt"}') if r["value"][1] == "2"],
        seconds=30,
    )
    print("Prometheus:", json.dumps(level))  # shown in the docs
    assert level[0]["metric"] == {
        "__name__": "earshot_alert_level",
        "instance": live.url.removeprefix("http://"),
        "job": "earshot",
        "service": "chatgpt",
    }
    assert [r["value"][1] for r in live.query('up{job="earshot"}')] == ["1"]
    # The shipped alert rule fires on it.
    alerts = wait_for(
        "EarshotConfirmedOutage firing",
        lambda: [
            a
            for a in httpx.get(f"{live.prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
            if a["labels"]["alertname"] == "EarshotConfirmedOutage" and a["state"] == "firing"
        ],
        seconds=30,
    )
    assert alerts[0]["labels"]["service"] == "chatgpt"


@pytest.mark.skipif(not shutil.which("promtool"), reason=NO_PROMETHEUS)
def test_the_shipped_prometheus_config_and_rules_pass_promtool():
    rules = DEPLOY / "prometheus" / "earshot-alerts.yml"
    for command in (
        ["promtool", "check", "rules", rules],
        ["promtool", "check", "config", DEPLOY / "prometheus" / "prometheus.yml"],
        # The rules' behaviour: each alert fires when, and only when, it should.
        ["promtool", "test", "rules", DEPLOY / "prometheus" / "earshot-alerts.test.yml"],
    ):
        ran = subprocess.run(command, capture_output=True, text=True)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "SUCCESS" in ran.stdout


def test_the_grafana_dashboard_charts_only_metrics_watch_serves():
    import re

    board = json.loads((DEPLOY / "grafana" / "earshot.json").read_text())
    exprs = [target["expr"] for panel in board["panels"] for target in panel["targets"]]
    names = set(re.findall(r"\bearshot_[a-z_]+", " ".join(exprs)))
    served = {
        "earshot_source_up",
        "earshot_source_last_success_timestamp_seconds",
        "earshot_posts_stored_total",
        "earshot_complaints_total",
        "earshot_score",
        "earshot_alert_level",
        "earshot_service_has_data",
        "earshot_events_total",
        "earshot_notifications_pending",
        "earshot_watch_pass_seconds_bucket",
        "earshot_watch_last_pass_timestamp_seconds",
    }
    assert names <= served, names - served
    charted = {"earshot_score", "earshot_complaints_total", "earshot_alert_level", "earshot_source_up"}
    assert charted <= names, "score, complaints, alert level and source health are charted"
    assert {panel["id"] for panel in board["panels"]} == set(range(1, len(board["panels"]) + 1))


# -- in-process: the server beside a watch loop ---------------------------------------------


def test_healthz_says_why_when_every_source_fails_or_passes_go_stale(tmp_path, classifier):
    # Every source failing: port 9 on this host answers nothing.
    config = feed_config("http://127.0.0.1:9/feed.xml")
    readings = Readings(config)
    watcher = Watcher(tmp_path / "h.db", config, classifier, readings=readings)
    server = Server(readings, "127.0.0.1", 0).start()
    try:
        assert httpx.get(server.url + "/healthz", timeout=5).status_code == 503  # no pass yet
        watcher.pass_once()
        answer = httpx.get(server.url + "/healthz", timeout=5)
        assert answer.status_code == 503 and answer.text.startswith("every source is failing: feed"), answer.text
        # A watch whose last pass was an hour ago: stale, whatever its sources did.
        watcher.pass_once(pd.Timestamp.now(tz="UTC") - pd.Timedelta("1h"))
        answer = httpx.get(server.url + "/healthz", timeout=5)
        assert answer.status_code == 503 and answer.text.startswith("watch: stale: last pass 60 min ago"), answer.text
        assert httpx.get(server.url + "/api/v1/status", timeout=5).json()["watch"] == "stale"
    finally:
        server.stop()


@pytest.mark.slow
def test_slow_and_hostile_clients_cannot_stall_watch_or_the_server(tmp_path, classifier, server):
    server.expect_request("/feed.xml").respond_with_data(
        fixture_bytes("reddit_subreddit_rss.atom.xml"), content_type="application/atom+xml"
    )
    config = feed_config(server.url_for("/feed.xml"))
    readings = Readings(config)
    watcher = Watcher(tmp_path / "s.db", config, classifier, readings=readings)
    watcher.pass_once()
    serving = Server(readings, "127.0.0.1", 0).start()
    stop = threading.Event()
    loop = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    loop.start()
    host, port = serving.server.effective_host, serving.server.effective_port
    hostile = []
    try:
        for n in range(40):  # slowloris: a header dribbled and never finished, on more sockets than threads
            sock = socket.create_connection((host, port))
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow-" + str(n).encode())
            hostile.append(sock)
        for _ in range(5):  # asks, then never reads the answer
            sock = socket.create_connection((host, port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            sock.sendall(b"GET /feed.atom HTTP/1.1\r\nHost: x\r\n\r\n" * 50)
            hostile.append(sock)
        sock = socket.create_connection((host, port))
        sock.sendall(b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n")  # an oversized request line
        hostile.append(sock)
        passes = watcher.passes
        answer = httpx.get(serving.url + "/metrics", timeout=5)
        assert answer.status_code == 200 and "earshot_source_up" in answer.text
        wait_for("watch passing while the clients hang on", lambda: watcher.passes > passes, seconds=5)
    finally:
        for sock in hostile:
            sock.close()
        stop.set()
        loop.join(timeout=10)
        serving.stop()
    assert not serving.thread.is_alive(), "the server stops"


def test_watch_listens_only_where_told_and_refuses_a_bad_address(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text('[watch]\nlisten = "localhost:http"\n')
    ran = earshot("watch", "--db", tmp_path / "w.db", "--config", config)
    assert ran.returncode == 1 and "[watch] listen address 'localhost:http': expected HOST:PORT" in ran.stderr
    ran = earshot("watch", "--db", tmp_path / "w.db", "--listen", "nine")
    assert ran.returncode == 2 and "Invalid value for --listen: listen address 'nine'" in ran.stderr
    assert "127.0.0.1" in earshot("watch", "--help").stdout
    with socket.socket() as taken:  # a port something else holds: said at once, before any fetch
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = earshot("watch", "--db", tmp_path / "w.db", "--listen", f"127.0.0.1:{port}")
    assert ran.returncode == 1 and f"cannot listen on 127.0.0.1:{port}: Address already in use" in ran.stderr


def test_a_listening_watch_binds_to_loopback_by_default(tmp_path, classifier):
    config = feed_config("http://127.0.0.1:9/feed.xml")
    readings = Readings(config)
    Watcher(tmp_path / "b.db", config, classifier, readings=readings).pass_once()
    from earshot.config import parse_listen

    serving = Server(readings, *parse_listen(str(unused_port()))).start()
    try:
        assert serving.server.effective_host == "127.0.0.1"
        assert httpx.get(serving.url + "/", timeout=5).text.startswith("earshot watch serves:")
    finally:
        serving.stop()
