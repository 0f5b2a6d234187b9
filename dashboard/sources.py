"""Sources: is `earshot watch` running? Is each source being read? Its last
successful fetch, its last error, how many posts an hour it brings, and
whether a backfill is filling it in.
"""

from __future__ import annotations

import streamlit as st

from dashboard import data
from dashboard.view import View, collector_running
from earshot.report import watch_state
from earshot.store import load_heartbeat, outbox_backlog
from earshot.timeutil import utc_now

QUERY_KEYS = ()
LIVE = True


def render(view: View) -> None:
    st.title("Sources")
    health = data.source_health(view.db, view.db_path, view.stamp, view.config_path)
    watch_banner(view)
    live = collector_running(view.db)
    if live is not None:
        st.success(
            f"A collector is running: last stored a fetch at {live:%Y-%m-%d %H:%M:%S} UTC.", icon=":material/sync:"
        )
    else:
        st.warning(
            "No collector has stored a fetch in the last 10 minutes. `earshot collect --every 60` "
            "keeps polling, and keeps the Now page current.",
            icon=":material/pause_circle:",
        )
    error_at, ok_at = health["last error at"], health["last successful fetch"]
    failing = health[(health["last error"] != "") & (ok_at.isna() | (error_at > ok_at))]
    if len(failing):
        st.error(f"{len(failing)} source(s) failed on their last fetch: {', '.join(failing['source'])}.")
    st.caption(
        "Posts/hour: the 24 hours up to the newest stored post. For a status page, the newest post is "
        "its newest official update. Times are UTC; error messages are as the collector wrote them."
    )
    st.dataframe(
        health,
        hide_index=True,
        width="stretch",
        key="sources_table",
        column_config={
            "posts/hour": st.column_config.NumberColumn("posts/hour", format="%.1f"),
            **{
                c: st.column_config.DatetimeColumn(c, format="YYYY-MM-DD HH:mm:ss", timezone="UTC")
                for c in ("last successful fetch", "last error at", "newest post")
            },
        },
    )
    st.download_button(
        "Download this table (CSV)",
        health.to_csv(index=False),
        file_name="earshot-sources.csv",
        mime="text/csv",
        key="sources_csv",
    )


def watch_banner(view: View) -> None:
    """Whether `earshot watch` is running on this database, and notifications it could not deliver yet."""
    # Read afresh on each render (a row or two): the heartbeat moves every few seconds.
    state, line = watch_state(load_heartbeat(view.db), utc_now(), view.config.watch.stale_after)
    if state == "never":
        return
    text = line.removeprefix("watch: ")
    show = {"running": st.success, "stale": st.error, "stopped": st.info}[state]
    show(f"earshot watch is {text}" if state == "running" else f"earshot watch: {text}", icon=":material/radar:")
    for channel in outbox_backlog(view.db):
        error = f" (last error: {channel['last_error']})" if channel["last_error"] else ""
        st.warning(f"{channel['pending']} notification(s) waiting for {channel['notifier']!r}{error}.")
