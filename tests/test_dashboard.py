"""The dashboard under Streamlit's AppTest, on real SQLite files: every page,
every widget, the URL query, and untrusted text."""

import datetime as dt
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from collectors.backfill import Job, save_job
from earshot.analysis import detect
from earshot.complaints import PROBLEM_TYPES
from earshot.config import default_config_path, load_config
from earshot.store import (
    load_alerts,
    load_posts,
    open_db,
    post_span,
    replace_alerts,
    save_state,
    store_incident_updates,
    store_posts,
)
from earshot.timeutil import now_iso

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
NOVEMBER_OUTAGE = "00fpy0yxrx1q"  # "Major Outage across ChatGPT and API", 2023-11-08
ONSET = pd.Timestamp("2023-11-08T13:42Z")  # errors began (OpenAI's postmortem)
INVESTIGATING = pd.Timestamp("2023-11-08T13:54Z")  # the provider's first post


def heard_between(text: str, pattern: str, day: str = "2023-11-08") -> pd.Timestamp:
    """The HH:MM that ``pattern`` (one group) finds in ``text``, as a time on ``day``."""
    match = re.search(pattern, text)
    assert match, (pattern, text)
    return pd.Timestamp(f"{day}T{match.group(1)}Z")


def stored(demo_db):
    """What the demo database holds: its newest post and its alerts, oldest first."""
    db = open_db(demo_db)
    return post_span(db, "chatgpt")[1], load_alerts(db, "chatgpt")


def run_app(monkeypatch, db_path, config_path=None, **query) -> AppTest:
    monkeypatch.setenv("EARSHOT_DB", str(db_path))
    if config_path:
        monkeypatch.setenv("EARSHOT_CONFIG", str(config_path))
    else:
        monkeypatch.delenv("EARSHOT_CONFIG", raising=False)
    app = AppTest.from_file(APP, default_timeout=60)
    for key, value in query.items():
        app.query_params[key] = value
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def chart_layers(chart) -> dict:
    """Mark type -> the layer's data (decoded from Arrow) of one Vega-Lite chart."""
    spec = json.loads(chart.proto.spec)
    datasets = {d.name: pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets}
    layers = spec.get("layer", [spec])
    return {layer["mark"]["type"]: datasets.get(layer.get("data", {}).get("name")) for layer in layers}


def metrics(app) -> dict:
    return {m.label: m.value for m in app.metric}


def table(app, columns: set) -> pd.DataFrame:
    """The one dataframe on the page that has ``columns``."""
    found = [d.value for d in app.dataframe if columns <= set(d.value.columns)]
    assert len(found) == 1, [list(d.value.columns) for d in app.dataframe]
    return found[0]


def texts(app) -> str:
    return " ".join(
        str(el.value) for kind in ("markdown", "caption", "text", "title", "subheader") for el in app.get(kind)
    )


# -- Now ---------------------------------------------------------------------


def test_now_replays_the_november_outage_as_it_was_heard(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db, page="now", at="2023-11-08T14:00:00Z")
    assert "posts are simulated" in app.info[0].value
    assert "Replaying 2023-11-08 14:00 UTC" in texts(app)
    assert "Confirmed outage signal" in app.error[0].value
    assert ONSET <= heard_between(app.error[0].value, r"since (\d\d:\d\d) UTC") < INVESTIGATING
    assert metrics(app) == {"Official status (openai)": "Investigating"}
    assert "Major Outage across ChatGPT and API" in " ".join(t.value for t in app.text)

    layers = chart_layers(app.get("vega_lite_chart")[0])
    assert {"rect", "area", "line", "rule", "text"} <= set(layers)
    assert ONSET.floor("5min") <= layers["rect"]["alert_from"].min() < INVESTIGATING
    # Only what had been posted by 14:00 (the morning's partial outage, then this one's first post).
    assert layers["rule"]["time"].max() == pd.Timestamp("2023-11-08T13:54Z")
    assert "investigating" in set(layers["rule"]["stage"])
    assert layers["line"]["time"].max() == pd.Timestamp("2023-11-08T14:00Z")

    breakdown = table(app, {"problem", "complaints", "share"})
    assert {"down", "errors", "api"} <= set(breakdown["problem"]) <= {*PROBLEM_TYPES, "unknown"}
    assert breakdown["share"].sum() == pytest.approx(1.0)
    posts = table(app, {"time (UTC)", "source", "text"})
    assert "link" not in posts, "the demo's posts have no address: no column of None"
    assert len(posts) == 50 and posts["time (UTC)"].is_monotonic_decreasing
    assert posts["time (UTC)"].max() <= "2023-11-08 14:00:00"
    assert app.get("download_button")[0].label == "Download these counts (CSV)"


def test_now_defaults_to_the_newest_post_and_says_it_is_not_live(monkeypatch, demo_db):
    newest, alerts = stored(demo_db)
    app = run_app(monkeypatch, demo_db)
    assert app.radio(key="page").value == "now"
    assert f"As of the newest stored post, {newest:%Y-%m-%d %H:%M} UTC" in texts(app)
    assert "no collector is storing posts now" in texts(app)
    assert app.success[0].value.startswith("**Normal**")
    assert metrics(app) == {"Official status (openai)": "Operational"}
    earlier = next(m.value for m in app.markdown if m.value.startswith("Earlier alerts"))
    before = alerts[alerts["start"] < newest - pd.Timedelta(hours=24)]
    assert earlier.count("](?page=now") == len(before) > 0, "each alert before the last 24 hours"
    first = before["start"].iloc[0]
    replay = (first + pd.Timedelta(minutes=15)).strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ")
    assert f"[{first:%Y-%m-%d %H:%M}](?page=now&service=chatgpt&at={replay})" in earlier
    # The login incident of that afternoon is in the last 24 hours.
    layers = chart_layers(app.get("vega_lite_chart")[0])
    assert layers["rect"]["start"].min() == alerts["start"].iloc[-1]
    assert "login" in set(table(app, {"problem", "complaints"})["problem"])


def test_a_moment_with_no_post_stored_is_no_data_not_normal(monkeypatch, demo_db):
    posts = load_posts(open_db(demo_db))
    quiet = pd.Timestamp("2024-01-01T00:00:00Z")
    assert not ((posts["created_at"] > quiet - pd.Timedelta(days=1)) & (posts["created_at"] <= quiet)).any()
    app = run_app(monkeypatch, demo_db, page="now", at="2024-01-01T00:00:00Z")
    assert ":gray-background[**No data**]: no source stored any post about ChatGPT for this moment" in texts(app)
    assert "No source stored any post in the last 24 hours." in texts(app)
    assert not app.success and not app.get("vega_lite_chart") and "nan" not in texts(app)


def test_a_service_with_no_post_is_no_data_on_now_overview_and_history(monkeypatch, demo_db, tmp_path):
    from earshot.roof.demo import demo_config_path

    config = tmp_path / "three.toml"
    config.write_text(
        demo_config_path().read_text() + '\n[[services]]\nname = "gemini"\nlabel = "Gemini"\nterms = ["gemini"]\n'
    )
    now = run_app(monkeypatch, demo_db, config, page="now", service="gemini")
    assert [w.value for w in now.warning] == ["No posts stored for Gemini yet. Run `earshot collect`."]
    history = run_app(monkeypatch, demo_db, config, page="history", service="gemini")
    assert ":gray-background[**No data**]: no post about Gemini is stored for this range" in texts(history)
    for app in (now, history):
        assert not app.success and "Normal" not in texts(app) and "No alert episode" not in texts(app)
    overview = run_app(monkeypatch, demo_db, config, page="overview")
    assert [b.label for b in overview.button if b.key.startswith("open_")][-1] == "**Gemini**"
    assert [s.value for s in overview.success] == ["**Normal**", "**Normal**"]  # ChatGPT and Claude only
    assert ":gray-background[**No data**]" in texts(overview)


def test_an_unreadable_at_falls_back_to_the_newest_data(monkeypatch, demo_db):
    newest, _ = stored(demo_db)
    app = run_app(monkeypatch, demo_db, page="now", at="yesterday-ish")
    assert "not a time" in app.warning[0].value
    assert f"As of the newest stored post, {newest:%Y-%m-%d %H:%M} UTC" in texts(app) and "Replaying" not in texts(app)


# -- History -----------------------------------------------------------------


def test_history_lists_every_incident_and_episode_with_lead_times(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db, page="history")
    assert app.date_input(key="range").value == (dt.date(2023, 11, 5), dt.date(2024, 8, 21))
    _, alerts = stored(demo_db)
    rows = table(app, {"what", "incident", "lead (min)"}).set_index("key")
    heard = (rows["what"] == "heard first").sum()
    shown = metrics(app)
    # Every simulated burst is heard before the provider posts, and nothing else raises an alert.
    assert shown["Incidents heard"] == f"{heard} of {len(rows)}" and heard == len(alerts) > 0
    assert shown["Precision"] == "100%" and shown["False alarms / week"] == "0.00"
    assert shown["Median lead"].startswith("+")
    assert rows["when"].is_monotonic_increasing and set(rows["what"]) == {"heard first", "missed"}
    november = rows.loc[NOVEMBER_OUTAGE]
    assert november["what"] == "heard first" and november["lead (min)"] > 0
    assert ONSET <= november["earshot alert"] < november["official first post"] == INVESTIGATING
    assert "more official incident(s) fell on days with no stored posts" in texts(app)
    assert not app.get("vega_lite_chart"), "no incident chart before a row is chosen"


def test_choosing_an_incident_shows_its_chart_and_a_replay_link(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db, page="history", incident=NOVEMBER_OUTAGE)
    assert app.query_params["incident"] == [NOVEMBER_OUTAGE] or app.query_params["incident"] == NOVEMBER_OUTAGE
    alerted = heard_between(texts(app), r"earshot alerted (\d\d:\d\d) UTC; the provider first posted 13:54 UTC")
    assert ONSET <= alerted < INVESTIGATING
    # The alert time is shown to the minute; the lead is worked out from the second it was raised.
    lead = int(re.search(r"13:54 UTC, lead \+(\d+) min", texts(app)).group(1))
    assert (INVESTIGATING - alerted).total_seconds() / 60 - 1 <= lead <= (INVESTIGATING - alerted).total_seconds() / 60
    layers = chart_layers(app.get("vega_lite_chart")[0])
    assert set(layers["rule"]["stage"]) == {"investigating", "identified", "monitoring", "resolved"}
    assert layers["rect"]["start"].min().floor("min") == alerted
    # Replayed just after the provider's first post (13:54 + 5 min).
    assert "(?page=now&service=chatgpt&at=2023-11-08T13%3A59%3A00Z)" in texts(app)


def test_a_narrower_range_recounts_and_lands_in_the_url(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db, page="history")
    app.date_input(key="range").set_value((dt.date(2023, 11, 5), dt.date(2023, 11, 9))).run()
    assert not app.exception
    assert metrics(app)["Incidents heard"] == "1 of 4"
    assert app.query_params["from"] in ("2023-11-05", ["2023-11-05"])
    assert app.query_params["to"] in ("2023-11-09", ["2023-11-09"])


def test_the_range_and_page_come_from_the_url(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db, page="history", **{"from": "2024-08-18", "to": "2024-08-21"})
    assert app.radio(key="page").value == "history"
    assert app.date_input(key="range").value == (dt.date(2024, 8, 18), dt.date(2024, 8, 21))
    assert metrics(app)["Incidents heard"] == "1 of 5"


def test_an_unknown_page_or_service_in_the_link_is_said_not_silently_replaced(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db, page="histroy", service="chatgtp")
    warnings = [w.value for w in app.warning]
    assert any("no page 'histroy' (pages: overview, now, history, tuning, sources); showing now" in w for w in warnings)
    assert any("no service 'chatgtp' in this configuration (services: chatgpt); showing chatgpt" in w for w in warnings)
    assert app.radio(key="page").value == "now"
    app.run()
    assert not any("no page" in w.value for w in app.warning), "said once, not on every rerun"


def test_switching_pages_keeps_service_and_range_in_the_url(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db)
    app.radio(key="page").set_value("sources").run()
    assert not app.exception
    assert app.title[0].value == "Sources"
    query = {key: (value[0] if isinstance(value, list) else value) for key, value in app.query_params.items()}
    assert query == {"page": "sources", "service": "chatgpt", "from": "2023-11-05", "to": "2024-08-21"}


# -- Tuning ------------------------------------------------------------------


@pytest.mark.slow
def test_tuning_starts_at_the_config_and_rescores_as_sliders_move(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db, page="tuning")
    assert app.slider(key="tune_threshold").value == 5.0
    assert app.select_slider(key="tune_min_rate").value == load_config().detector["min_rate"]
    before = metrics(app)
    assert before["Precision"] == "100%" and before["Median lead"].startswith("+")
    assert len(table(app, {"start", "level", "peak score"})) == len(stored(demo_db)[1])

    app.slider(key="tune_threshold").set_value(2.0).run()
    assert not app.exception
    after = metrics(app)
    episodes = table(app, {"start", "level", "peak score"})
    assert len(episodes) > 5
    assert after["Precision"] != "100%"
    deltas = {m.label: m.delta for m in app.metric}
    assert deltas["Precision"].endswith("pp") and deltas["Precision"].startswith("-")
    chart = app.get("vega_lite_chart")[0]
    datasets = {d.name: pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets}
    rules = [
        datasets[layer["data"]["name"]]
        for layer in json.loads(chart.proto.spec)["layer"]
        if layer["encoding"].get("y", {}).get("field") == "threshold"
    ]
    assert rules[0]["threshold"].tolist() == [2.0]

    for key, value in (("tune_min_rate", 0.5), ("tune_window", "14D")):
        app.select_slider(key=key).set_value(value).run()
        assert not app.exception
    for key, value in (("tune_confirm", 12.0), ("tune_penalty", 2.0), ("tune_close_after", 6)):
        app.slider(key=key).set_value(value).run()
        assert not app.exception


def test_the_write_button_puts_the_settings_into_a_config_file(monkeypatch, demo_db, tmp_path):
    app = run_app(monkeypatch, demo_db, page="tuning")
    assert app.text_input(key="tune_target").value == str(demo_db.resolve().parent / "earshot.toml")
    target = tmp_path / "tuned" / "earshot.toml"
    app.slider(key="tune_threshold").set_value(6.5).run()
    app.text_input(key="tune_target").set_value(str(target)).run()
    app.button(key="tune_write").click().run()
    assert not app.exception
    assert str(target) in app.success[0].value
    written = load_config(target)
    assert written.detector["threshold"] == 6.5 and written.detector["min_rate"] == load_config().detector["min_rate"]
    assert [s.name for s in written.sources] == [s.name for s in load_config().sources]

    # Writing again into the now-existing file keeps it and changes only [detector].
    target.write_text(target.read_text() + "\n# my note\n")
    app.slider(key="tune_threshold").set_value(4.0).run()
    app.button(key="tune_write").click().run()
    assert load_config(target).detector["threshold"] == 4.0 and "# my note" in target.read_text()


def test_a_config_file_that_cannot_be_written_is_an_error_not_a_crash(monkeypatch, demo_db, tmp_path):
    app = run_app(monkeypatch, demo_db, page="tuning")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    app.text_input(key="tune_target").set_value(str(blocker / "earshot.toml")).run()
    app.button(key="tune_write").click().run()
    assert not app.exception
    assert "Could not write" in app.error[0].value


# -- Sources -----------------------------------------------------------------


@pytest.fixture
def collecting_db(tmp_path):
    """A database a collector is writing to right now: one source fine, one
    failing, one in the middle of a backfill."""
    path = tmp_path / "live.db"
    db = open_db(path)
    newest = pd.Timestamp.now(tz="UTC").floor("s")
    store_posts(
        db,
        [
            {
                "source": "reddit-chatgpt",
                "post_id": str(i),
                "service": "chatgpt",
                "is_complaint": 0,
                "created_at": (newest - pd.Timedelta(minutes=10 * i)).isoformat(),
                "text": "chatter",
            }
            for i in range(24)
        ],
    )
    save_state(db, "reddit-chatgpt", last_ok_at=now_iso())
    save_state(
        db,
        "hackernews",
        last_ok_at="2024-01-01T00:00:00+00:00",
        last_error="HTTP 429 Too Many Requests (retry after 60 s)",
        last_error_at=now_iso(),
    )
    save_job(
        db,
        Job(
            "openai-forum",
            "2023-11-01T00:00:00+00:00",
            "2023-12-01T00:00:00+00:00",
            done_until="2023-11-16T00:00:00+00:00",
            new=1200,
        ),
    )
    db.close()
    return path


def test_sources_shows_fetches_errors_rates_and_backfills(monkeypatch, collecting_db):
    app = run_app(monkeypatch, collecting_db, page="sources")
    assert "A collector is running" in app.success[0].value
    assert "hackernews" in app.error[0].value
    health = table(app, {"source", "last successful fetch", "last error"}).set_index("source")
    assert list(health.index[:3]) == ["reddit-chatgpt", "reddit-openai", "hackernews"]
    assert health.loc["hackernews", "last error"].startswith("HTTP 429")
    assert health.loc["reddit-chatgpt", "posts/hour"] == pytest.approx(24 / 24)
    assert (
        pd.isna(health.loc["reddit-openai", "last successful fetch"])
        and health.loc["reddit-openai", "backfill"] == "no"
    )
    assert health.loc["openai-forum", "backfill"] == "running: 2023-11-01 to 2023-12-01, 50% (1,200 posts)"
    assert any("Now and Sources refresh every 30 s" in c.value for c in app.sidebar.caption)


def test_sources_says_whether_watch_is_running_and_what_it_could_not_deliver(monkeypatch, collecting_db):
    from earshot.store import open_db, record_episode_events, save_heartbeat

    db = open_db(collecting_db)
    now = pd.Timestamp.now(tz="UTC")
    save_heartbeat(
        db,
        pid=4242,
        host="box",
        started_at=(now - pd.Timedelta("2h")).isoformat(),
        last_pass_at=(now - pd.Timedelta("3s")).isoformat(),
        passes=1207,
        sources={},
        stopped_at=None,
    )
    episode = {"id": "chatgpt-x", "service": "chatgpt", "start": now.isoformat(), "end": None, "sources": []}
    event = {
        "key": "chatgpt-x/opened",
        "event": "opened",
        "level": "possible",
        "created_at": now.isoformat(),
        "payload": {},
    }
    record_episode_events(db, episode, [event], [{"key": event["key"], "notifier": "ops-webhook", "status": "pending"}])
    db.execute("UPDATE deliveries SET last_error = 'HTTP 503 Service Unavailable'")
    db.conn.commit()
    app = run_app(monkeypatch, collecting_db, page="sources")
    running = app.success[0].value
    assert running.startswith("earshot watch is running (pid 4242 on box), last pass ") and "1207 passes" in running
    assert "1 notification(s) waiting for 'ops-webhook' (last error: HTTP 503 Service Unavailable)." in [
        w.value for w in app.warning
    ]

    save_heartbeat(db, last_pass_at=(now - pd.Timedelta("1h")).isoformat())
    app = run_app(monkeypatch, collecting_db, page="sources")
    assert app.error[0].value.startswith("earshot watch: stale: last pass 60 min ago")


def test_sources_says_when_nothing_is_collecting(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db, page="sources")
    assert "No collector has stored a fetch" in app.warning[0].value
    assert not any("Collector running" in c.value for c in app.sidebar.caption)


# -- Services, empty databases, untrusted text --------------------------------


def test_the_service_comes_from_the_url_and_each_has_its_own_page(monkeypatch, demo_db, tmp_path):
    config = tmp_path / "two.toml"
    config.write_text(
        Path(load_config().path).read_text() + '\n[[services]]\nname = "gemini"\nlabel = "Gemini"\n'
        'terms = ["gemini"]\nprovider = "google"\n'
    )
    app = run_app(monkeypatch, demo_db, config_path=config, page="now", service="gemini")
    assert app.selectbox(key="service").value == "gemini"
    assert app.title[0].value == "Is Gemini down?"
    assert "No posts stored for Gemini yet" in app.warning[0].value
    app.selectbox(key="service").set_value("chatgpt").run()
    assert app.title[0].value == "Is ChatGPT down?" and not app.exception


def test_a_database_without_posts_says_what_to_run(monkeypatch, tmp_path):
    path = tmp_path / "empty.db"
    open_db(path).close()
    for page in ("now", "history", "tuning", "sources"):
        app = run_app(monkeypatch, path, page=page)
        assert not app.exception
    assert "No posts stored for ChatGPT yet" in run_app(monkeypatch, path).warning[0].value


def test_a_missing_database_says_what_to_run(monkeypatch, tmp_path):
    app = run_app(monkeypatch, tmp_path / "nowhere.db")
    assert "Run `earshot demo`" in app.error[0].value


def hostile_database(path, said: str, title: str, link, posts: int = 12, **update):
    """A database of ``posts`` complaints saying ``said`` (``link(i)`` their
    addresses) and one official update titled ``title``, detected."""
    db = open_db(path)
    rows = [
        {
            "source": "reddit-chatgpt",
            "post_id": str(i),
            "created_at": f"2024-01-10T12:{i:02d}:00Z",
            "text": said,
            "url": link(i),
            "service": "chatgpt",
            "is_complaint": True,
            "problem": "down",
        }
        for i in range(posts)
    ]
    store_posts(db, rows)
    official = {"provider": "openai", "incident_id": "x", "update_id": "1", "stage": "investigating"}
    store_incident_updates(db, [{**official, "posted_at": "2024-01-10T12:05:00Z", "title": title, **update}])
    replace_alerts(db, "chatgpt", detect(db, load_config(), "chatgpt")[1])
    db.close()
    return path


@pytest.fixture
def hostile_db(tmp_path):
    return hostile_database(
        tmp_path / "hostile.db",
        "is chatgpt down? <script>alert('x')</script><img src=x onerror=alert(1)> [click](javascript:alert(2))",
        "<b>Outage</b> [x](javascript:alert(3))",
        lambda i: "javascript:alert(document.cookie)" if i % 2 else f"https://www.reddit.com/r/ChatGPT/comments/{i}",
        url="data:text/html,<script>",
    )


def test_untrusted_text_stays_text_and_only_http_links_survive(monkeypatch, hostile_db):
    app = run_app(monkeypatch, hostile_db, page="now")
    posts = table(app, {"time (UTC)", "text", "link"})
    assert all("<script>alert('x')</script>" in text for text in posts["text"])
    links = [link for link in posts["link"] if isinstance(link, str)]
    assert len(links) == 6 and all(link.startswith("https://") for link in links)
    # The provider's title reaches the page only as st.text (no markdown, no HTML).
    assert "<b>Outage</b> [x](javascript:alert(3))" in " ".join(t.value for t in app.text)

    history = run_app(monkeypatch, hostile_db, page="history", incident="x")
    assert "<b>Outage</b>" in " ".join(t.value for t in history.text)
    for page in (app, history):
        rendered = " ".join(
            str(el.value)
            for kind in ("markdown", "caption", "title", "subheader", "info", "success", "warning", "error")
            for el in page.get(kind)
        )
        assert "<script>" not in rendered and "javascript:" not in rendered and "<b>" not in rendered


def test_the_overview_lists_every_service_with_its_state_and_a_link_to_its_now_page(monkeypatch, demo_db, tmp_path):
    both = default_config_path().parent / "llms.toml"
    app = run_app(monkeypatch, demo_db, both)
    assert app.session_state["page"] == "overview", "with several services the overview comes first"
    assert [b.label for b in app.button if b.key.startswith("open_")] == ["**ChatGPT**", "**Claude**"]
    assert [s.value for s in app.success] == ["**Normal**", "**Normal**"]
    assert [c.value for c in app.caption].count("Official status") == 2
    assert [m.value for m in app.markdown].count("**Operational**") == 2
    assert len(app.get("vega_lite_chart")) == 2, "a sparkline per service"

    # Claude's posts as they stood 32 minutes into a real Anthropic incident
    # (onset 15:38 UTC; Anthropic's first post, "investigating", at 16:01).
    cut = tmp_path / "mid-incident.db"
    shutil.copy(demo_db, cut)
    with sqlite3.connect(cut) as conn:
        conn.execute("DELETE FROM posts WHERE service = 'claude' AND created_at > '2024-08-13T16:10:00+00:00'")
    app = run_app(monkeypatch, cut, both)
    alarms = [a.value for a in [*app.warning, *app.error]]
    assert alarms in (["**Possible outage**"], ["**Confirmed outage**"]), alarms
    assert "**Investigating**" in [m.value for m in app.markdown]
    assert [s.value for s in app.success] == ["**Normal**"], "ChatGPT is still fine"
    hour = [m for m in app.metric if m.label == "Complaints, last hour"]
    assert int(hour[1].value) > float(hour[1].delta.split()[0]), "Claude's last hour is above its expectation"
    # One click opens that service's Now page.
    app.button(key="open_claude").click().run()
    assert app.session_state["page"] == "now" and app.session_state["service"] == "claude"
    assert app.title[0].value == "Is Claude down?"
    assert app.query_params["page"] in ("now", ["now"]) and app.query_params["service"] in ("claude", ["claude"])


def test_a_single_service_opens_on_now_and_the_overview_is_still_there(monkeypatch, demo_db):
    assert run_app(monkeypatch, demo_db).session_state["page"] == "now"
    app = run_app(monkeypatch, demo_db, page="overview")
    assert [b.label for b in app.button if b.key.startswith("open_")] == ["**ChatGPT**"]


@pytest.mark.parametrize("page", ["now", "history", "tuning", "sources"])
def test_each_page_shows_the_second_service_of_the_demo(monkeypatch, demo_db, page):
    app = run_app(monkeypatch, demo_db, default_config_path().parent / "llms.toml", page=page, service="claude")
    assert app.session_state["service"] == "claude"
    if page == "now":
        assert app.title[0].value == "Is Claude down?"
    elif page == "history":
        # The three simulated Anthropic incidents are heard; Anthropic's others were not simulated.
        assert metrics(app)["Incidents heard"].startswith("3 of ")
    elif page == "tuning":
        assert "3 alert episode(s) with these settings" in texts(app)
    else:
        assert set(app.dataframe[0].value["source"]) >= {"reddit-claudeai", "anthropic-status"}
