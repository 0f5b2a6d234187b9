"""Now: is it down? The detector's verdict beside the provider's, the last
24 hours against the baseline, what people report, and their posts.

"Now" is the newest stored post, or the moment in ``?at=`` (replaying what
earshot knew then: the detector only ever looks backwards).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.charts import outage_chart, problem_bars
from dashboard.view import View, collector_running, minutes, post_table, replay_link

QUERY_KEYS = ("at",)
LIVE = True
WINDOW = pd.Timedelta(hours=24)
EVIDENCE_POSTS = 50
STALE_AFTER = pd.Timedelta(hours=1)
RECENT_ALERTS = 5


def as_of(view: View) -> tuple[pd.Timestamp | None, bool]:
    """The moment shown, and whether it is a replay: ``?at=`` if given and
    valid, else the newest stored post."""
    span = data.stored_span(view.db, view.db_path, view.stamp, view.service)
    wanted = st.query_params.get("at")
    if wanted:
        try:
            moment = pd.Timestamp(wanted)
            return (moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")), True
        except ValueError:
            st.warning("The `at` in the address is not a time; showing the newest data instead.")
    return (span[1] if span else None), False


def render(view: View) -> None:
    spec, stamp = view.spec, view.stamp
    moment, replaying = as_of(view)
    st.title(f"Is {spec.display_name} down?")
    if moment is None:
        st.warning(f"No posts stored for {spec.display_name} yet. Run `earshot collect`.")
        return
    until = moment + pd.Timedelta(seconds=1)  # the newest post itself is in view
    since = until - WINDOW
    result, found, level = data.detection(
        view.db, view.db_path, stamp, view.config_path, view.service, since, until, band=True, exact=True
    )
    incidents = data.incidents(
        view.db, view.db_path, stamp, view.config_path, view.service, since - pd.Timedelta(days=14), until
    )
    updates = data.official_updates(view.db, view.db_path, stamp, spec.provider, since - pd.Timedelta(days=14), until)
    updates = updates[updates["incident_id"].isin(incidents["incident_id"])]

    age = pd.Timestamp.now(tz="UTC") - moment
    if replaying:
        st.caption(f"Replaying {moment:%Y-%m-%d %H:%M} UTC: what earshot knew then.")
    elif age > STALE_AFTER:
        why = (
            "the collector is running but has stored nothing newer"
            if collector_running(view.db)
            else "no collector is storing posts now"
        )
        st.caption(f"As of the newest stored post, {moment:%Y-%m-%d %H:%M} UTC ({_ago(age)}): {why}.")
    else:
        st.caption(f"As of {moment:%Y-%m-%d %H:%M} UTC.")

    left, right = st.columns([3, 2])
    with left:
        verdict(result, found, spec.display_name, view.freq)
    with right:
        official_status(updates, incidents, spec.provider)

    earlier = data.stored_alerts(view.db, view.db_path, stamp, view.service)
    earlier = earlier[earlier["start"] < since].head(RECENT_ALERTS)
    if len(earlier):
        links = " · ".join(
            f"[{start:%Y-%m-%d %H:%M}]({replay_link(view.service, start + pd.Timedelta(minutes=15))})"
            for start in earlier["start"]
        )
        st.markdown(f"Earlier alerts (replay each as it was heard, 15 minutes in): {links}")

    st.subheader(f"Complaints per {view.freq} bucket, last 24 hours")
    if len(result) and result["count"].notna().any():
        shown = updates[updates["posted_at"] >= since]
        st.altair_chart(outage_chart(result, found, shown, level), width="stretch")
        st.caption(
            "Black: complaints per bucket, all sources. Blue dashes: the expected count (each source's "
            "seasonal baseline, added up); the band above it reaches the threshold, the count one bucket "
            "would need to alert on its own. Red shading: alert episodes. Vertical lines: official status posts."
        )
        st.download_button(
            "Download these counts (CSV)",
            result.assign(alert_level=level).rename_axis("time").to_csv(),
            file_name=f"earshot-{view.service}-{moment:%Y%m%dT%H%M}.csv",
            mime="text/csv",
            key="now_csv",
        )
    elif len(result):
        st.write("No source stored any post in the last 24 hours.")
    else:
        st.write("No complaints in the last 24 hours.")

    problems = data.problem_counts(view.db, view.db_path, stamp, view.service, since, until)
    posts = data.latest_complaints(view.db, view.db_path, stamp, view.service, since, until, EVIDENCE_POSTS)
    st.subheader("What users report")
    if len(problems):
        breakdown = pd.DataFrame(
            {
                "problem": problems.index,
                "complaints": problems.to_numpy(),
                "share": (problems / problems.sum()).to_numpy(),
            }
        )
        table, chart = st.columns([1, 2])
        table.dataframe(
            breakdown,
            hide_index=True,
            width="stretch",
            column_config={
                "share": st.column_config.ProgressColumn("share", format="percent", min_value=0.0, max_value=1.0)
            },
        )
        chart.altair_chart(problem_bars(breakdown), width="stretch")
        st.caption(f"Latest {len(posts)} complaint posts of the last 24 hours, newest first (of {problems.sum():,}).")
        st.dataframe(
            post_table(posts),
            hide_index=True,
            width="stretch",
            key="now_posts",
            column_config={"link": st.column_config.LinkColumn("link", display_text="open")},
        )
    else:
        st.write("No complaint posts in the last 24 hours.")


def verdict(result: pd.DataFrame, found: pd.DataFrame, name: str, freq: str) -> None:
    """The detector's banner: no data, normal, possible or confirmed, in the last bucket."""
    if data.heard_nothing(result):
        # Grey, not green: silence here is missing data, not a healthy service.
        with st.container(border=True):
            st.markdown(
                f":material/help: :gray-background[**No data**]: no source stored any post about {name} for "
                "this moment, so earshot cannot tell whether it is up. Collect or backfill that day, or pick "
                "a moment with posts."
            )
        return
    last = result.iloc[-1]
    state = str(last["state"])
    open_episodes = found[found["end"].isna()]
    if state in ("possible", "confirmed") and len(open_episodes):
        episode = open_episodes.iloc[-1]
        lasting = minutes(result.index[-1] + pd.Timedelta(freq) - episode["start"])
        text = (
            f"since {episode['start']:%H:%M} UTC ({lasting}): peak score {episode['peak_score']:.0f}, "
            f"heard on {len(episode['sources'])} source(s)."
        )
        if state == "confirmed":
            st.error(f"**Confirmed outage signal**: users report {name} failing {text}", icon=":material/error:")
        else:
            st.warning(
                f"**Possible outage**: complaints about {name} above the baseline {text}", icon=":material/warning:"
            )
        return
    st.success(
        f"**Normal**: complaints about {name} are within the expected range "
        f"({int(last['count']) if pd.notna(last['count']) else 0} in the last bucket, "
        f"about {last['baseline']:.1f} expected).",
        icon=":material/check_circle:",
    )


def official_status(updates: pd.DataFrame, incidents: pd.DataFrame, provider: str | None) -> None:
    """The provider's latest word: its open incident's newest stage, else operational."""
    with st.container(border=True):
        if not provider:
            st.metric("Official status", "not configured")
            return
        latest = data.open_incident_update(updates, incidents)
        if latest is not None:
            st.metric(f"Official status ({provider})", str(latest["stage"]).capitalize())
            # The provider's words are shown as text, never as markdown.
            st.text(f"{latest['title']}\nposted {latest['posted_at']:%Y-%m-%d %H:%M} UTC")
        else:
            st.metric(f"Official status ({provider})", "Operational")
            if len(incidents):
                last = incidents.iloc[-1]
                st.text(f"last incident: {last['title']}\nresolved {last['resolved']:%Y-%m-%d %H:%M} UTC")


def _ago(age: pd.Timedelta) -> str:
    return f"{age.days} days ago" if age.days >= 2 else f"{minutes(age)} ago"
