"""History: every alert episode and every official incident of a range, with
lead times, and one incident's chart on click (what was heard, when earshot
alerted, when the provider acknowledged).

The chosen row is kept in the URL (``?incident=...``), so it can be shared.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.charts import outage_chart
from dashboard.view import View, replay_link
from earshot.report import summary_text

QUERY_KEYS = ("incident",)
LIVE = False
# Around one incident, the chart shows from this long before the first sign...
MARGIN_BEFORE = pd.Timedelta(hours=3)
# ...to this long after its resolution (or its first post, if never resolved), at most MAX_SPAN.
MARGIN_AFTER = pd.Timedelta(hours=2)
MAX_SPAN = pd.Timedelta(days=2)


def history_table(matches: pd.DataFrame, found: pd.DataFrame) -> pd.DataFrame:
    """One row per official incident (heard or missed) and per episode no incident
    matched, oldest first; ``key`` names the row in ``?incident=``.

    ``lead (min)`` is the official first post minus earshot's alert: positive
    when earshot was first.
    """
    rows = [
        {
            "key": str(m.incident_id),
            "when": min(m.first_post, m.alert_start) if pd.notna(m.alert_start) else m.first_post,
            "what": ("heard first" if m.lead_minutes > 0 else "heard after") if m.detected else "missed",
            "incident": m.title,
            "earshot alert": m.alert_start,
            "official first post": m.first_post,
            "acknowledged": m.acknowledged,
            "resolved": m.resolved,
            "lead (min)": m.lead_minutes,
        }
        for m in matches.itertuples()
    ]
    matched = set(matches["alert_start"].dropna()) if len(matches) else set()
    rows += [
        {
            "key": f"alert-{e.start:%Y%m%dT%H%M}",
            "when": e.start,
            "what": "alert, no incident",
            "incident": None,
            "earshot alert": e.start,
            "official first post": pd.NaT,
            "acknowledged": pd.NaT,
            "resolved": e.end,
            "lead (min)": float("nan"),
        }
        for e in found.itertuples()
        if e.start not in matched
    ]
    columns = [
        "key",
        "when",
        "what",
        "lead (min)",
        "incident",
        "earshot alert",
        "official first post",
        "acknowledged",
        "resolved",
    ]
    table = pd.DataFrame(rows, columns=columns)
    for column in ("when", "earshot alert", "official first post", "acknowledged", "resolved"):
        table[column] = pd.to_datetime(table[column], utc=True)
    return table.sort_values("when", ignore_index=True)


def render(view: View) -> None:
    spec, stamp = view.spec, view.stamp
    last_day = view.until - pd.Timedelta(days=1)
    st.title(f"{spec.display_name}: alerts and incidents, {view.since:%Y-%m-%d} to {last_day:%Y-%m-%d}")
    found, matches, summary = data.scored(
        view.db, view.db_path, stamp, view.config_path, view.service, view.since, view.until
    )
    table = history_table(matches, found)
    unheard = len(
        data.incidents(view.db, view.db_path, stamp, view.config_path, view.service, view.since, view.until)
    ) - len(matches)

    shown = summary_text(summary)
    heard, precision, lead, alarms = st.columns(4)
    heard.metric("Incidents heard", f"{summary['detected']} of {summary['incidents']}")
    precision.metric(
        "Precision", shown["precision"], help="Share of alert episodes that fell inside an official incident's window."
    )
    lead.metric(
        "Median lead",
        shown["median_lead_minutes"],
        help="Official first post minus earshot's alert, over the incidents heard.",
    )
    alarms.metric("False alarms / week", shown["false_alarms_per_week"])
    if unheard > 0:
        st.caption(
            f"{unheard} more official incident(s) fell on days with no stored posts "
            "(nobody was listening), and are left out."
        )

    if not len(table):
        span = data.stored_span(view.db, view.db_path, stamp, view.service)
        if span is None or span[1] < view.since or span[0] >= view.until:
            # Nothing heard is not "no outage".
            st.markdown(
                f":material/help: :gray-background[**No data**]: no post about {spec.display_name} is stored "
                "for this range, so earshot can say nothing of it."
            )
        else:
            st.write("No alert episode and no official incident in this range.")
        return
    st.caption(
        "Click a row to see that incident's chart. Alerts are timed at the end of the count bucket that "
        "crossed the threshold; the Now page and `earshot detect` time them to the post that raised them."
    )
    event = st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key="history_table",
        on_select="rerun",
        selection_mode="single-row",
        # Widths that fit the page at 1400 px: the row's date once, then times
        # of day (each row's moments fall within hours of its date).
        column_config={
            "key": None,
            "when": st.column_config.DatetimeColumn("when", format="YYYY-MM-DD HH:mm", timezone="UTC", width=125),
            "what": st.column_config.TextColumn("what", width=95),
            "lead (min)": st.column_config.NumberColumn("lead (min)", format="%+.0f", width=70),
            "incident": st.column_config.TextColumn("incident", width=230),
            **{
                c: st.column_config.DatetimeColumn(c, format="MM-DD HH:mm", timezone="UTC", width=90)
                for c in ("earshot alert", "official first post", "acknowledged", "resolved")
            },
        },
    )
    st.download_button(
        "Download this table (CSV)",
        table.drop(columns="key").to_csv(index=False),
        file_name=f"earshot-{view.service}-history.csv",
        mime="text/csv",
        key="history_csv",
    )

    rows = event.selection.rows if event is not None else []
    if rows:
        st.query_params["incident"] = table.loc[rows[0], "key"]
    chosen = table[table["key"] == st.query_params.get("incident")]
    if len(chosen):
        incident_chart(view, chosen.iloc[0])


def incident_chart(view: View, row: pd.Series) -> None:
    """What was heard around one row of :func:`history_table`, against the official stages."""
    first = min(t for t in (row["earshot alert"], row["official first post"]) if pd.notna(t))
    last = row["resolved"] if pd.notna(row["resolved"]) else first + pd.Timedelta(hours=2)
    since = (first - MARGIN_BEFORE).floor("h")
    until = min(last + MARGIN_AFTER, since + MAX_SPAN).ceil("h")
    stamp = view.stamp
    result, found, level = data.detection(
        view.db, view.db_path, stamp, view.config_path, view.service, since, until, band=True
    )
    updates = data.official_updates(view.db, view.db_path, stamp, view.spec.provider, since, until)
    if row["what"] != "alert, no incident":
        updates = updates[updates["incident_id"] == row["key"]]
    if pd.notna(row["incident"]):
        st.subheader("The incident, as heard and as acknowledged")
        st.text(str(row["incident"]))  # the provider's words: text, never markdown
    else:
        st.subheader(f"Alert at {row['when']:%Y-%m-%d %H:%M} UTC, no official incident")
    heard = f"{row['earshot alert']:%H:%M} UTC" if pd.notna(row["earshot alert"]) else "no alert"
    said = f"{row['official first post']:%H:%M} UTC" if pd.notna(row["official first post"]) else "never"
    lead = f", lead {row['lead (min)']:+.0f} min" if pd.notna(row["lead (min)"]) else ""
    st.caption(
        f"earshot alerted {heard}; the provider first posted {said}{lead}. "
        f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC."
    )
    if len(result):
        st.altair_chart(outage_chart(result, found, updates, level), width="stretch", key="incident_chart")
    else:
        st.write("No posts stored around this incident.")
    moment = (row["official first post"] if pd.notna(row["official first post"]) else row["when"]) + pd.Timedelta(
        minutes=5
    )
    st.markdown(
        f"[Replay the Now page at {moment:%Y-%m-%d %H:%M} UTC]({replay_link(view.service, moment)}): what earshot showed "
        "just after the provider's first post."
    )
