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


def outage_chart(
    result: pd.DataFrame, found: pd.DataFrame, updates: pd.DataFrame, alert_level: pd.Series
) -> alt.LayerChart:
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
                tooltip=[
                    alt.Tooltip("start:T", title="alert raised", format="%Y-%m-%d %H:%M"),
                    alt.Tooltip("peak_score:Q", format=".1f"),
                ],
            )
        )
    layers.append(
        alt.Chart(frame)
        .mark_area(opacity=0.25, color="#9ecae1")
        .encode(x=x, y=alt.Y("baseline:Q", title="complaints per bucket"), y2="upper:Q")
    )
    layers.append(alt.Chart(frame).mark_line(color="#08519c", strokeDash=[4, 3]).encode(x=x, y="baseline:Q"))
    layers.append(
        alt.Chart(frame)
        .mark_line(color="#000000", interpolate="step-after")
        .encode(
            x=x,
            y="count:Q",
            tooltip=[
                alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"),
                "count:Q",
                alt.Tooltip("baseline:Q", format=".1f"),
                alt.Tooltip("score:Q", format=".1f"),
            ],
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
            .encode(
                x="time:T", color=color, tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), "stage:N", "title:N"]
            )
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


def problem_bars(breakdown: pd.DataFrame) -> alt.Chart:
    """Complaints per problem type, one bar each (``problem``, ``complaints`` columns)."""
    return (
        alt.Chart(breakdown)
        .mark_bar()
        .encode(
            x=alt.X("complaints:Q", title="complaints"),
            y=alt.Y("problem:N", sort="-x", title=None),
            color=alt.Color(
                "problem:N",
                scale=alt.Scale(domain=[*PROBLEM_COLORS, "unknown"], range=[*PROBLEM_COLORS.values(), "#bbbbbb"]),
                legend=None,
            ),
            tooltip=["problem:N", "complaints:Q", alt.Tooltip("share:Q", format=".0%")],
        )
        .properties(height=max(150, 40 * len(breakdown)))
    )


def score_chart(scores: pd.DataFrame, found: pd.DataFrame, incidents: pd.DataFrame, threshold: float) -> alt.LayerChart:
    """The detector's score over a long range (``scores``: one row per hour with
    ``time`` and ``score``, the hour's highest), the threshold as a horizontal
    rule, episodes as red ticks along the top, official incidents as grey rules."""
    x = alt.X("time:T", title="time (UTC)")
    layers = [
        alt.Chart(scores)
        .mark_line(color="#000000", strokeWidth=1)
        .encode(
            x=x,
            y=alt.Y(
                "score:Q",
                title="score (hour's highest, -log10 p)",
                scale=alt.Scale(type="symlog"),
                axis=alt.Axis(values=[0, 2, 5, 10, 30, 100, 300]),
            ),
            tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), alt.Tooltip("score:Q", format=".1f")],
        ),
        alt.Chart(pd.DataFrame({"threshold": [threshold]}))
        .mark_rule(color="#d62728", strokeDash=[6, 3])
        .encode(y="threshold:Q"),
    ]
    if len(incidents):
        layers.append(
            alt.Chart(incidents[["first_post", "title"]])
            .mark_rule(color="#7f7f7f", opacity=0.5)
            .encode(
                x="first_post:T",
                tooltip=[alt.Tooltip("first_post:T", title="official", format="%Y-%m-%d %H:%M"), "title:N"],
            )
        )
    if len(found):
        layers.append(
            alt.Chart(found[["start", "peak_score", "level"]])
            .mark_point(shape="triangle-down", color="#d62728", filled=True, size=80)
            .encode(
                x="start:T",
                y=alt.value(6),
                tooltip=[
                    alt.Tooltip("start:T", title="alert", format="%Y-%m-%d %H:%M"),
                    "level:N",
                    alt.Tooltip("peak_score:Q", format=".0f"),
                ],
            )
        )
    return alt.layer(*layers).properties(height=300)
