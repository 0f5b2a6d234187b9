"""Overview: every configured service on one page, as StatusGator and IsDown
show every dependency. Each row: earshot's verdict, the provider's official
status, complaints in the last hour against the expected number, the last
24 hours as a sparkline; its name opens that service's Now page.

Each service is shown as of its own newest stored post.
"""

from __future__ import annotations

import re

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.view import View

QUERY_KEYS = ()
LIVE = True
WINDOW = pd.Timedelta(hours=24)
HOUR = pd.Timedelta(hours=1)
STATES = {"none": "Normal", "possible": "Possible outage", "confirmed": "Confirmed outage"}


def service_state(view: View, service: str) -> dict:
    """What the overview says of one service (see the module docstring)."""
    spec = view.config.service(service)
    span = data.stored_span(view.db, view.db_path, view.stamp, service)
    row = {"service": service, "name": spec.display_name, "state": "No data", "as_of": None, "official": None}
    row.update({"last_hour": None, "expected": None, "counts": pd.Series(dtype=float)})
    if spec.provider:
        row["official"] = official_stage(view, service, span[1] if span else pd.Timestamp.now(tz="UTC"))
    if span is None:
        return row
    until = span[1] + pd.Timedelta(seconds=1)
    result, _, _ = data.detection(
        view.db, view.db_path, view.stamp, view.config_path, service, until - WINDOW, until, band=True, exact=True
    )
    row["as_of"] = span[1]
    if data.heard_nothing(result):
        return row
    recent = result[result.index >= until - HOUR]
    row.update(
        state=STATES.get(str(result["state"].iloc[-1]), "Normal"),
        last_hour=int(recent["count"].fillna(0).sum()),
        expected=float(recent["baseline"].fillna(0).sum()),
        counts=result["count"].fillna(0),
    )
    return row


def official_stage(view: View, service: str, moment: pd.Timestamp) -> str:
    """The provider's word at ``moment``: its open incident's newest stage, else operational."""
    spec = view.config.service(service)
    since = moment - pd.Timedelta(days=14)
    until = moment + pd.Timedelta(seconds=1)
    incidents = data.incidents(view.db, view.db_path, view.stamp, view.config_path, service, since, until)
    updates = data.official_updates(view.db, view.db_path, view.stamp, spec.provider, since, until)
    latest = data.open_incident_update(updates, incidents)
    return "Operational" if latest is None else str(latest["stage"]).capitalize()


def open_now(service: str) -> None:
    """Show ``service``'s Now page on the next run (a button's callback, run
    before the sidebar's widgets are drawn again)."""
    st.session_state.page = "now"
    st.session_state.service = service


def sparkline(counts: pd.Series) -> alt.Chart:
    frame = counts.rename("complaints").rename_axis("time").reset_index()
    return (
        alt.Chart(frame)
        .mark_area(line=True, opacity=0.3)
        .encode(x=alt.X("time:T", axis=None), y=alt.Y("complaints:Q", axis=None))
        .properties(height=40)
    )


def render(view: View) -> None:
    st.title("Every service")
    st.caption("Each service as of its newest stored post; click a name for its Now page.")
    for service in view.config.services:
        row = service_state(view, service.name)
        with st.container(border=True):
            name, state, official, hour, chart = st.columns([2, 2, 2, 2, 3])
            # A button, not a link: the page and service change in this session.
            name.button(
                f"**{row['name']}**",
                key=f"open_{row['service']}",
                on_click=open_now,
                args=(row["service"],),
                type="tertiary",
                help=f"Open {row['name']}'s Now page",
            )
            if row["as_of"] is not None:
                name.caption(f"as of {row['as_of']:%Y-%m-%d %H:%M} UTC")
            _badge(state, row["state"])
            # Words, not a figure: shown at text size so they wrap instead of being cut ("Operati…").
            official.caption("Official status")
            official.markdown(f"**{literal(row['official'] or 'not configured')}**")
            if row["last_hour"] is None:
                hour.metric("Complaints, last hour", "no data")
            else:
                hour.metric(
                    "Complaints, last hour",
                    f"{row['last_hour']:,}",
                    f"{row['expected']:.1f} expected",
                    delta_color="off",
                )
            if len(row["counts"]):
                chart.altair_chart(sparkline(row["counts"]), width="stretch", key=f"spark_{row['service']}")


def _badge(column, state: str) -> None:
    if state == "Confirmed outage":
        column.error(f"**{state}**", icon=":material/error:")
    elif state == "Possible outage":
        column.warning(f"**{state}**", icon=":material/warning:")
    elif state == "Normal":
        column.success(f"**{state}**", icon=":material/check_circle:")
    else:  # grey: no data is not a verdict
        column.markdown(f":material/help: :gray-background[**{state}**]")


def literal(text: str) -> str:
    r"""``text`` with Markdown's special characters escaped, so a status page's
    words are shown as written and never read as markup.

    >>> literal("Degraded *performance* [link](x)")
    'Degraded \\*performance\\* \\[link\\]\\(x\\)'
    """
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~:$])", r"\\\1", text)
