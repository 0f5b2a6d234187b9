"""Altair charts for the dashboard: counts, baseline band, alert episodes, official stages."""

from __future__ import annotations

import altair as alt
import pandas as pd

STAGE_COLORS = {
    "investigating": "#d62728",
    "identified": "#ff7f0e",
    "monitoring": "#1f77b4",
    "resolved": "#2ca02c",
    "postmortem": "#7f7f7f",
}


def outage_chart(result: pd.DataFrame, found: pd.DataFrame, updates: pd.DataFrame, alert_level: pd.Series) -> alt.LayerChart:
    """Complaints per bucket against the baseline band (up to ``alert_level``,
    the count that would open an episode), alert episodes shaded, each
    official stage a labelled vertical rule. All times UTC."""
    frame = result.assign(upper=alert_level).reset_index(names="time")
    x = alt.X("time:T", title="time (UTC)", axis=alt.Axis(format="%b %d %H:%M"))
    layers = []
    if len(found):
        shaded = found.assign(
            alert_from=found["first_bucket"],
            alert_to=found["last_bucket"] + (frame["time"].diff().median() if len(frame) > 1 else pd.Timedelta("5min")),
            label="alert episode",
        )
        layers.append(
            alt.Chart(shaded)
            .mark_rect(opacity=0.18, color="#d62728")
            .encode(
                x="alert_from:T",
                x2="alert_to:T",
                tooltip=[alt.Tooltip("start:T", title="alert raised", format="%Y-%m-%d %H:%M"),
                         alt.Tooltip("peak_score:Q", format=".1f")],
            )
        )
    layers.append(
        alt.Chart(frame)
        .mark_area(opacity=0.25, color="#9ecae1")
        .encode(x=x, y=alt.Y("baseline:Q", title="complaints per bucket"), y2="upper:Q")
    )
    layers.append(
        alt.Chart(frame)
        .mark_line(color="#08519c", strokeDash=[4, 3])
        .encode(x=x, y="baseline:Q")
    )
    layers.append(
        alt.Chart(frame)
        .mark_line(color="#000000", interpolate="step-after")
        .encode(
            x=x,
            y="count:Q",
            tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), "count:Q",
                     alt.Tooltip("baseline:Q", format=".1f"), alt.Tooltip("score:Q", format=".1f")],
        )
    )
    if len(updates):
        stages = updates[["posted_at", "stage", "title"]].rename(columns={"posted_at": "time"})
        color = alt.Color(
            "stage:N",
            scale=alt.Scale(domain=list(STAGE_COLORS), range=list(STAGE_COLORS.values())),
            legend=alt.Legend(title="official stage", orient="top"),
        )
        layers.append(
            alt.Chart(stages)
            .mark_rule(strokeWidth=2)
            .encode(x="time:T", color=color,
                    tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), "stage:N", "title:N"])
        )
        layers.append(
            alt.Chart(stages)
            .mark_text(angle=270, align="right", baseline="bottom", dx=-6, dy=-3, fontSize=11)
            .encode(x="time:T", y=alt.value(4), text="stage:N", color=color)
        )
    return alt.layer(*layers).properties(height=380)


PROBLEM_COLORS = {
    "down": "#d62728",
    "errors": "#ff7f0e",
    "api": "#9467bd",
    "capacity": "#8c564b",
    "login": "#e377c2",
    "slow": "#17becf",
}


def problem_chart(by_problem: pd.DataFrame) -> alt.Chart:
    """Complaints per bucket stacked by problem type (one column per type,
    as :func:`detector.counts_by` gives them)."""
    frame = by_problem.reset_index(names="time").melt("time", var_name="problem", value_name="complaints")
    return (
        alt.Chart(frame[frame["complaints"] > 0])
        .mark_bar()
        .encode(
            x=alt.X("time:T", title="time (UTC)", axis=alt.Axis(format="%b %d %H:%M")),
            y=alt.Y("complaints:Q", stack="zero", title="complaints per bucket"),
            color=alt.Color("problem:N", scale=alt.Scale(domain=list(PROBLEM_COLORS), range=list(PROBLEM_COLORS.values())),
                            legend=alt.Legend(title="problem", orient="top")),
            tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), "problem:N", "complaints:Q"],
        )
        .properties(height=220)
    )
