"""earshot's dashboard: is the service down, the evidence, the history, and tuning.

Started by ``earshot dashboard`` / ``earshot demo``, which pass the database
and configuration in ``EARSHOT_DB`` and ``EARSHOT_CONFIG``. The pages are
listed once, in :mod:`dashboard.pages` (Overview is the first page when
there are several services); the page, service and range live in the URL query
(``?page=history&service=chatgpt&from=2023-11-01&to=2023-11-30``), so a view
can be shared. Post text is untrusted: it is only ever shown as plain text,
and only http(s) links are made clickable.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import data, history, now, overview, sources, tuning
from dashboard.pages import PAGES as CATALOGUE
from dashboard.view import View, collector_running
from earshot.config import ConfigError, default_db_path
from earshot.store import data_stamp

MODULES = {"overview": overview, "now": now, "history": history, "tuning": tuning, "sources": sources}
PAGES = {page.key: MODULES[page.key] for page in CATALOGUE}
TITLES = {page.key: page.title for page in CATALOGUE}
SHARED_KEYS = ("page", "service", "from", "to")
DEFAULT_DAYS = 365

st.set_page_config(page_title="earshot", page_icon="👂", layout="wide")


def seed_from_query(service_names: list[str]) -> None:
    """On a session's first run, take page and service from the URL query."""
    if "page" in st.session_state:
        return
    query = st.query_params
    first = "overview" if len(service_names) > 1 else "now"
    st.session_state.page = query.get("page") if query.get("page") in PAGES else first
    st.session_state.service = query.get("service") if query.get("service") in service_names else service_names[0]
    # A link with a typo must not pass for the page it asked for.
    unknown = []
    if query.get("page") and query.get("page") not in PAGES:
        unknown.append(f"no page {query.get('page')!r} (pages: {', '.join(PAGES)}); showing {st.session_state.page}")
    if query.get("service") and query.get("service") not in service_names:
        unknown.append(
            f"no service {query.get('service')!r} in this configuration (services: {', '.join(service_names)}); "
            f"showing {st.session_state.service}"
        )
    st.session_state.unknown_in_link = unknown


def seed_range(span: tuple[pd.Timestamp, pd.Timestamp] | None) -> tuple[dt.date, dt.date]:
    """The range's bounds (the stored posts' days), and its value from the URL
    query or, by default, the last :data:`DEFAULT_DAYS` days with posts."""
    today = pd.Timestamp.now(tz="UTC").date()
    first, last = (span[0].date(), span[1].date()) if span else (today, today)
    if "range" not in st.session_state or not all(first <= d <= last for d in st.session_state.range):
        query = st.query_params
        try:
            chosen = (dt.date.fromisoformat(query["from"]), dt.date.fromisoformat(query["to"]))
        except (KeyError, ValueError):
            chosen = (max(first, last - dt.timedelta(days=DEFAULT_DAYS)), last)
        st.session_state.range = (max(first, min(chosen[0], last)), min(last, max(chosen[1], first)))
    return first, last


db_path = os.environ.get("EARSHOT_DB") or str(default_db_path())
config_path = os.environ.get("EARSHOT_CONFIG") or None
try:
    config = data.config_at(config_path)
except ConfigError as error:
    st.error(f"Cannot read the configuration: {error}")
    st.stop()
if not Path(db_path).exists():
    st.error(f"No database at {db_path}. Run `earshot demo`, or `earshot collect` first.")
    st.stop()
db = data.connect(db_path)

service_names = [s.name for s in config.services]
seed_from_query(service_names)
with st.sidebar:
    st.header("earshot")
    page = st.radio("Page", list(PAGES), format_func=TITLES.get, key="page")
    service = st.selectbox(
        "Service", service_names, key="service", format_func=lambda name: config.service(name).display_name
    )
    stamp = data_stamp(db)
    first, last = seed_range(data.stored_span(db, db_path, stamp, service))
    chosen = st.date_input(
        "Range (UTC days)",
        key="range",
        min_value=first,
        max_value=last,
        help="History and Tuning look at these days (both ends included).",
    )
    start, end = (chosen[0], chosen[-1]) if len(chosen) else (first, last)
    live = collector_running(db)
    refresh = int(config.dashboard.get("refresh_seconds", 30))
    if live is not None:
        st.caption(
            f":material/sync: Collector running (last fetch {live:%H:%M:%S} UTC)"
            + (f"; Now and Sources refresh every {refresh} s." if refresh > 0 else ".")
        )
    st.caption(f"Database: `{db_path}`")

query = {"page": page, "service": service, "from": start.isoformat(), "to": end.isoformat()}
kept = {key: st.query_params[key] for key in PAGES[page].QUERY_KEYS if key in st.query_params}
if dict(st.query_params) != {**query, **kept}:
    st.query_params.from_dict({**query, **kept})

for notice in st.session_state.pop("unknown_in_link", []):  # once, on the run that read the link
    st.warning(f"The address asks for {notice}.", icon=":material/link_off:")

if data.is_demo(db, db_path, stamp):
    st.info(
        "**Demo database.** The official incidents are real (the provider's status page, "
        "2021-2024, from Chu et al., ICPE 2025); **the posts are simulated** around a few real "
        "incidents, bursting from each one's real onset. Run `earshot collect` for real posts.",
        icon=":material/info:",
    )

view = View(
    db=db,
    db_path=db_path,
    config_path=config_path,
    config=config,
    service=service,
    since=pd.Timestamp(start, tz="UTC"),
    until=pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1),
)
render = PAGES[page].render
if live is not None and PAGES[page].LIVE and refresh > 0:
    # Only the page body reruns on the timer; the sidebar keeps its state.
    render = st.fragment(render, run_every=refresh)
render(view)

st.caption(
    'Official incident timelines: Chu et al., "An Empirical Characterization of Outages and Incidents '
    'in Public Services for Large Language Models", ICPE 2025 (atlarge-research/llm-service-analysis).'
)
