"""The dashboard under Streamlit's AppTest, on real SQLite files."""

import json
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from detector import PROBLEM_TYPES
from earshot.analysis import detect
from earshot.config import load_config
from earshot.store import open_db, replace_alerts, store_incident_updates, store_posts

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def run_app(monkeypatch, db_path) -> AppTest:
    monkeypatch.setenv("EARSHOT_DB", str(db_path))
    monkeypatch.delenv("EARSHOT_CONFIG", raising=False)
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def chart_spec(app) -> tuple[dict, dict]:
    """The Vega-Lite spec the app sent, and its datasets decoded from Arrow."""
    chart = app.get("vega_lite_chart")[0]
    datasets = {d.name: pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets}
    return json.loads(chart.proto.spec), datasets


def metrics(app) -> dict:
    return {m.label: m.value for m in app.metric}


def test_demo_opens_on_the_biggest_alert_with_the_official_timeline(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db)
    assert "posts are simulated" in app.info[0].value
    assert app.selectbox(key="focus").value.startswith("Alert 2023-11-08 13:45 UTC")
    assert metrics(app) == {
        "Complaints in view": metrics(app)["Complaints in view"],
        "earshot alert": "13:45 UTC",
        "First official post": "13:54 UTC",
        "Lead time": "+9 min",
    }
    spec, datasets = chart_spec(app)
    layers = {layer["mark"]["type"]: datasets[layer["data"]["name"]] for layer in spec["layer"]}
    assert {"rect", "area", "line", "rule", "text"} <= set(layers)
    assert set(layers["rule"]["stage"]) == {"investigating", "identified", "monitoring", "resolved"}
    assert layers["rect"]["alert_from"].min().isoformat() == "2023-11-08T13:40:00+00:00"
    official, _, posts = app.dataframe
    assert "Major Outage across ChatGPT and API" in set(official.value["incident"])
    assert len(posts.value) > 100 and set(posts.value["source"]) >= {"reddit-chatgpt", "openai-forum"}


def test_choosing_another_alert_moves_the_view(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db)
    focus = app.selectbox(key="focus")
    login = next(option for option in focus.options if option.startswith("Alert 2024-08-21"))
    focus.set_value(login).run()
    assert not app.exception
    assert metrics(app)["earshot alert"] == "16:20 UTC"
    assert metrics(app)["First official post"] == "16:27 UTC"
    assert "login" in set(app.dataframe[-1].value["problem"])
    app.slider(key="hours").set_value(2).run()
    assert not app.exception


def test_a_spike_breaks_down_by_problem_type(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db)
    _, breakdown, posts = app.dataframe
    shares = breakdown.value.set_index("problem")
    assert {"down", "errors", "api"} <= set(shares.index) <= {*PROBLEM_TYPES, "unknown"}
    assert shares["share"].sum() == pytest.approx(1.0)
    # The breakdown covers the alert episode only; the table below covers the whole view.
    assert shares["complaints"].sum() < len(posts.value)
    assert any("during the alert from 13:45 UTC" in c.value for c in app.caption)
    stacked = app.get("vega_lite_chart")[1]
    spec = json.loads(stacked.proto.spec)
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["color"]["field"] == "problem"

    app.multiselect(key="problems").set_value(["api"]).run()
    assert not app.exception
    assert set(app.dataframe[-1].value["problem"]) == {"api"}


@pytest.fixture
def hostile_db(tmp_path):
    path = tmp_path / "hostile.db"
    db = open_db(path)
    posts = [
        {
            "source": "reddit-chatgpt",
            "post_id": str(i),
            "created_at": f"2024-01-10T12:{i:02d}:00Z",
            "text": "is chatgpt down? <script>alert('x')</script><img src=x onerror=alert(1)>",
            "url": "javascript:alert(document.cookie)" if i % 2 else f"https://www.reddit.com/r/ChatGPT/comments/{i}",
            "service": "chatgpt",
            "is_complaint": True,
            "problem": "down",
        }
        for i in range(12)
    ]
    store_posts(db, posts)
    store_incident_updates(
        db,
        [{"provider": "openai", "incident_id": "x", "update_id": "1", "stage": "investigating",
          "posted_at": "2024-01-10T12:05:00Z", "title": "<b>Outage</b>", "url": "data:text/html,<script>"}],
    )
    config = load_config()
    replace_alerts(db, "chatgpt", detect(db, config, "chatgpt")[1])
    return path


def test_untrusted_text_stays_text_and_only_http_links_survive(monkeypatch, hostile_db):
    app = run_app(monkeypatch, hostile_db)
    official, _, posts = app.dataframe
    assert all("<script>alert('x')</script>" in text for text in posts.value["text"])
    links = [link for link in posts.value["link"] if isinstance(link, str)]
    assert links and all(link.startswith("https://") for link in links)
    assert len(links) == 6
    assert official.value["link"].isna().all() and official.value["incident"].tolist() == ["<b>Outage</b>"]
    # Nothing is rendered as markdown or HTML: the text only reaches dataframes.
    rendered = " ".join(str(el.value) for el in app.markdown) + " ".join(str(el.value) for el in app.caption)
    assert "<script>" not in rendered


def test_a_database_without_posts_says_what_to_run(monkeypatch, tmp_path):
    path = tmp_path / "empty.db"
    open_db(path).close()
    app = run_app(monkeypatch, path)
    assert "No posts stored for ChatGPT yet" in app.warning[0].value
