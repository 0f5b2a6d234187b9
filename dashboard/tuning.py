"""Tuning: move the detector's main settings and see the score, the episodes
and the evaluation against the official record change; write the chosen
settings into a config file.

Every run reuses :func:`dashboard.data.scored` (cached per setting), so going
back to a setting already tried is instant.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.charts import score_chart
from dashboard.view import View
from earshot.config import default_config_path, with_detector_settings
from earshot.report import summary_text

QUERY_KEYS = ()
LIVE = False
MIN_RATES = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
WINDOWS = ["3D", "7D", "14D", "28D"]


def sliders(defaults: dict) -> dict:
    """The detector settings as the sliders have them (starting at the config's)."""
    one, two, three = st.columns(3)
    settings = {
        "threshold": one.slider(
            "threshold: score that opens an episode",
            2.0,
            15.0,
            float(defaults.get("threshold", 5.0)),
            0.5,
            key="tune_threshold",
        ),
        "confirm_threshold": one.slider(
            "confirm_threshold: score that confirms at once",
            2.0,
            30.0,
            float(defaults.get("confirm_threshold", 8.0)),
            0.5,
            key="tune_confirm",
        ),
        "min_rate": two.select_slider(
            "min_rate: floor of complaints an hour and source",
            MIN_RATES,
            _nearest(MIN_RATES, float(defaults.get("min_rate", 0.05))),
            key="tune_min_rate",
        ),
        "window": two.select_slider(
            "window: what the level is learned from",
            WINDOWS,
            str(defaults.get("window", "7D")) if str(defaults.get("window", "7D")) in WINDOWS else "7D",
            key="tune_window",
        ),
        "single_source_penalty": three.slider(
            "single_source_penalty",
            0.0,
            4.0,
            float(defaults.get("single_source_penalty", 1.0)),
            0.25,
            key="tune_penalty",
        ),
        "close_after": three.slider(
            "close_after: quiet buckets that close an episode",
            1,
            24,
            int(defaults.get("close_after", 3)),
            key="tune_close_after",
        ),
    }
    return settings


def render(view: View) -> None:
    stamp = view.stamp
    last_day = view.until - pd.Timedelta(days=1)
    st.title(f"Tuning the detector: {view.since:%Y-%m-%d} to {last_day:%Y-%m-%d}")
    st.caption(
        "Each change reruns the detector over the range (the sidebar's) and scores it against the "
        "official incidents of the days with posts. The deltas compare with the config's settings."
    )
    defaults = view.config.detector
    settings = sliders(defaults)
    # Only what differs from the config: the config's own settings share one cached run.
    params = tuple(sorted((k, v) for k, v in settings.items() if v != defaults.get(k)))
    found, matches, summary = data.scored(
        view.db, view.db_path, stamp, view.config_path, view.service, view.since, view.until, params
    )
    _, _, before = data.scored(view.db, view.db_path, stamp, view.config_path, view.service, view.since, view.until)

    shown = summary_text(summary)
    precision, recall, lead, alarms = st.columns(4)
    precision.metric("Precision", shown["precision"], _delta(summary, before, "precision", 100, "pp"))
    recall.metric(
        "Recall",
        shown["recall"],
        _delta(summary, before, "recall", 100, "pp"),
        help=f"{summary['detected']} of {summary['incidents']} official incidents heard.",
    )
    lead.metric("Median lead", shown["median_lead_minutes"], _delta(summary, before, "median_lead_minutes", 1, "min"))
    alarms.metric(
        "False alarms / week",
        shown["false_alarms_per_week"],
        _delta(summary, before, "false_alarms_per_week", 1, ""),
        delta_color="inverse",
    )

    result, _, _ = data.detection(
        view.db, view.db_path, stamp, view.config_path, view.service, view.since, view.until, params
    )
    if len(result):
        # Hours without data stay empty (a gap in the line), not zero.
        hourly = result["score"].resample("1h").max().rename_axis("time").reset_index()
        st.altair_chart(score_chart(hourly, found, matches, settings["threshold"]), width="stretch", key="tune_chart")
        st.caption(
            "Black: the highest score of each hour. Red dashes: the threshold. Red triangles: alert "
            "episodes. Grey lines: official incidents on days with posts."
        )
    episodes_table = pd.DataFrame(
        {
            "start": found["start"],
            "end": found["end"],
            "level": found["level"],
            "peak score": found["peak_score"].round(1),
            "sources": found["sources"].map(", ".join),
        }
    )
    st.subheader(f"{len(found)} alert episode(s) with these settings")
    st.dataframe(
        episodes_table,
        hide_index=True,
        width="stretch",
        key="tune_episodes",
        column_config={
            c: st.column_config.DatetimeColumn(c, format="YYYY-MM-DD HH:mm", timezone="UTC") for c in ("start", "end")
        },
    )
    st.download_button(
        "Download these episodes (CSV)",
        episodes_table.to_csv(index=False),
        file_name=f"earshot-{view.service}-episodes.csv",
        mime="text/csv",
        key="tune_csv",
    )

    st.subheader("Keep these settings")
    target = st.text_input(
        "Config file to write",
        value=default_target(view.config_path, view.db_path),
        key="tune_target",
        help="Its [detector] table gets these values; everything else in it is kept. "
        "A new file starts as a copy of the config in use.",
    )
    if st.button("Write settings to config", key="tune_write", type="primary"):
        try:
            written = write_settings(Path(target), view.config_path, settings)
        except (OSError, ValueError) as error:
            st.error(f"Could not write {target}: {error}")
        else:
            st.success(f"Wrote {len(settings)} settings to {written}. Use it with `--config {written}`.")


def default_target(config_path: str | None, db_path: str) -> str:
    """Where the button writes: the config in use, unless that is the bundled one
    (which belongs to the installed package), then ``earshot.toml`` beside the
    database, not wherever the server happened to be started.

    >>> default_target(None, "/srv/earshot/data/earshot.db"), default_target("/etc/my.toml", "x.db")
    ('/srv/earshot/data/earshot.toml', '/etc/my.toml')
    """
    if config_path:
        return str(config_path)
    return str(Path(db_path).resolve().parent / "earshot.toml")


def write_settings(target: Path, config_path: str | None, settings: dict) -> Path:
    """Write ``settings`` into ``target``'s ``[detector]`` (a copy of the config in use if it is new)."""
    source = target if target.exists() else Path(config_path or default_config_path())
    text = with_detector_settings(source.read_text(encoding="utf-8"), settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def _nearest(options: list[float], value: float) -> float:
    return min(options, key=lambda option: abs(option - value))


def _delta(now: dict, before: dict, key: str, scale: float, unit: str) -> str | None:
    if now[key] is None or before[key] is None or now[key] == before[key]:
        return None
    return f"{(now[key] - before[key]) * scale:+.{0 if scale != 1 or unit == 'min' else 2}f} {unit}".strip()
