"""earshot's dashboard: complaints against the baseline, alerts against the official record.

Started by ``earshot dashboard`` / ``earshot demo``, which pass the database
and configuration in ``EARSHOT_DB`` and ``EARSHOT_CONFIG``. Post text is
untrusted: it is only ever shown as plain text in tables, and only http(s)
links are made clickable.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pandas as pd
import sqlite_utils
import streamlit as st

from dashboard.charts import outage_chart, problem_chart
from detector import PROBLEM_TYPES, counts_by
from earshot.analysis import bucket_of, detect, detector_from_config, episode_posts
from earshot.config import default_db_path, load_config
from earshot.store import get_meta, load_alerts, load_incident_updates, load_posts

HOURS_AROUND = 6

st.set_page_config(page_title="earshot", page_icon="👂", layout="wide")


def connect(path: str) -> sqlite_utils.Database:
    """A read-only connection for this browser session only (SQLite objects must
    not be shared between the threads of different sessions)."""
    key = f"db:{path}"
    if key not in st.session_state:
        conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, check_same_thread=False)
        st.session_state[key] = sqlite_utils.Database(conn)
    return st.session_state[key]


def safe_link(url) -> str | None:
    """Only http(s) URLs become links; anything else (javascript:, data:) is dropped."""
    if isinstance(url, str) and url.lower().startswith(("http://", "https://")):
        return url
    return None


db_path = os.environ.get("EARSHOT_DB") or str(default_db_path())
config = load_config(os.environ.get("EARSHOT_CONFIG") or None)
if not Path(db_path).exists():
    st.error(f"No database at {db_path}. Run `earshot demo`, or `earshot collect` first.")
    st.stop()
db = connect(db_path)

service_names = [s.name for s in config.services]
with st.sidebar:
    st.header("earshot")
    service = st.selectbox("Service", service_names, key="service")
    spec = config.service(service)

st.title(f"Is {spec.display_name} down?")
if get_meta(db, "demo", False):
    st.info(
        "**Demo database.** The official incidents are real (the provider's status page, "
        "2021-2024, from Chu et al., ICPE 2025); **the posts are simulated** around five real "
        "incidents, bursting from each one's real onset. Run `earshot collect` for real posts.",
        icon="ℹ️",
    )

alerts = load_alerts(db, service)
latest_post = db.execute("SELECT max(created_at) FROM posts WHERE service = ?", [service]).fetchone()[0]
if latest_post is None:
    st.warning(f"No posts stored for {spec.display_name} yet. Run `earshot collect`.")
    st.stop()

latest = pd.Timestamp(latest_post)
focus_options = {"Latest data": None}
for alert in alerts.sort_values("peak_score", ascending=False).itertuples():
    focus_options[f"Alert {alert.start:%Y-%m-%d %H:%M} UTC (peak score {alert.peak_score:.0f})"] = alert.start
with st.sidebar:
    default = 1 if len(focus_options) > 1 else 0
    focus_label = st.selectbox("Show", list(focus_options), index=default, key="focus",
                               help="The newest stored posts, or an alert episode from `earshot detect` (biggest first).")
    hours = st.slider("Hours either side", 1, 48, HOURS_AROUND, key="hours",
                      help="For 'Latest data', the view spans twice this, up to the newest post.")
    st.caption(f"Database: `{db_path}`")

center = focus_options[focus_label]
if center is None:
    start, end = latest - pd.Timedelta(hours=2 * hours), latest + pd.Timedelta(minutes=1)
else:
    start, end = center - pd.Timedelta(hours=hours), center + pd.Timedelta(hours=hours)
freq = bucket_of(config)
detector = detector_from_config(config)
# The baseline learns from up to five weeks before the view (its hour-of-week rhythm).
result, found = detect(db, config, service, since=start - pd.Timedelta(days=35), until=end, detector=detector)
if len(result):
    result = result[result.index >= start.floor(freq)]
    found = found[found["last_bucket"] >= start].reset_index(drop=True)
updates = load_incident_updates(db, spec.provider, since=start, until=end) if spec.provider else pd.DataFrame()

first_alert = found["start"].min() if len(found) else None
first_official = updates["posted_at"].min() if len(updates) else None
col1, col2, col3, col4 = st.columns(4)
col1.metric("Complaints in view", int(result["count"].sum()) if len(result) else 0)
col2.metric("earshot alert", f"{first_alert:%H:%M} UTC" if first_alert is not None else "none")
col3.metric("First official post", f"{first_official:%H:%M} UTC" if first_official is not None else "none")
if first_alert is not None and first_official is not None:
    lead = (first_official - first_alert).total_seconds() / 60
    col4.metric("Lead time", f"{lead:+.0f} min", help="First official post minus earshot's alert.")
else:
    col4.metric("Lead time", "n/a")

st.subheader(f"Complaints per {freq} bucket, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
if len(result):
    st.altair_chart(outage_chart(result, found, updates, detector.alert_level(result)), width="stretch")
    st.caption(
        "Black: complaints per bucket, all sources. Blue dashes: the expected count (each source's "
        "seasonal baseline, added up); the band above it reaches the count one bucket would need to "
        "alert on its own. Red shading: alert episodes. Vertical lines: official status posts."
    )
else:
    st.write("No complaints in this range.")

if len(updates):
    st.subheader("Official updates")
    st.dataframe(
        pd.DataFrame(
            {
                "posted (UTC)": updates["posted_at"].dt.strftime("%Y-%m-%d %H:%M"),
                "stage": updates["stage"],
                "incident": updates["title"],
                "text": updates["text"],
                "link": updates["url"].map(safe_link),
            }
        ),
        column_config={"link": st.column_config.LinkColumn("link", display_text="status page")},
        hide_index=True,
        width="stretch",
    )

posts = load_posts(db, service=service, since=start, until=end, complaints_only=True)
posts["problem"] = posts["problem"].fillna("unknown")

st.subheader("What users report")
if len(posts):
    holding = found[(found["first_bucket"] <= center) & (found["last_bucket"] + pd.Timedelta(freq) > center)] if center is not None else found.iloc[:0]
    focus = holding.iloc[0] if len(holding) else None
    if focus is not None:
        in_episode = episode_posts(posts, focus, freq)
        scope = f"during the alert from {focus['start']:%H:%M} UTC"
    else:
        in_episode, scope = posts, "in view"
    shares = in_episode["problem"].value_counts()
    breakdown = pd.DataFrame({"problem": shares.index, "complaints": shares.to_numpy(),
                              "share": (shares / shares.sum()).to_numpy()})
    left, right = st.columns([1, 3])
    left.caption(f"Complaints {scope}, by problem type")
    left.dataframe(breakdown, column_config={"share": st.column_config.ProgressColumn("share", format="percent",
                   min_value=0.0, max_value=1.0)}, hide_index=True, width="stretch")
    right.altair_chart(problem_chart(counts_by(posts, "problem", freq, start=start, end=end)), width="stretch")
else:
    st.write("No complaint posts in this range.")

st.subheader("Complaint posts behind the chart")
if len(posts):
    chosen = st.multiselect("Problem types", [*PROBLEM_TYPES, "unknown"], default=[], key="problems",
                            placeholder="all problem types")
    shown = posts[posts["problem"].isin(chosen)] if chosen else posts
    table = pd.DataFrame(
        {
            "time (UTC)": shown["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "source": shown["source"],
            "problem": shown["problem"],
            "text": (shown["title"].fillna("") + " " + shown["text"].fillna("")).str.strip(),
            "link": shown["url"].map(safe_link),
        }
    ).iloc[::-1]
    st.dataframe(
        table,
        column_config={"link": st.column_config.LinkColumn("link", display_text="open")},
        hide_index=True,
        width="stretch",
    )
else:
    st.write("No complaint posts in this range.")

st.caption(
    "Official incident timelines: Chu et al., \"An Empirical Characterization of Outages and Incidents "
    "in Public Services for Large Language Models\", ICPE 2025 (atlarge-research/llm-service-analysis)."
)
