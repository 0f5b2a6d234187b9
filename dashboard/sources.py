"""Sources: is each source being read? Its last successful fetch, its last
error, how many posts an hour it brings, and whether a backfill is filling it in.
"""

from __future__ import annotations

import streamlit as st

from dashboard import data
from dashboard.view import View, collector_running

TITLE = "Sources"
QUERY_KEYS = ()
LIVE = True


def render(view: View) -> None:
    st.title("Sources")
    health = data.source_health(view.db, view.db_path, view.stamp, view.config_path)
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
