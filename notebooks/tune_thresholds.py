# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tuning the detector
#
# Sweep `RollingBaselineDetector`'s `threshold` over labelled scenarios and
# see how recall, precision, detection delay and false alarms per week move;
# score the same settings on real chatter (five of NAB's realTweets series,
# `earshot/data/nab-realtweets`) and on NAB-style simulated mention counts; then, at the chosen
# threshold, the floor `min_rate` and the scan windows `scales`; write the
# choice to a config file.
#
# By default the scenarios are `earshot simulate`'s (ordinary days with a
# launch surge, a 40-post flood and a gap; major, night-time, API-only,
# ramping and partial outages), three random draws of each, written to
# temporary databases and read back through the classifier, exactly as
# `earshot detect` would. Set `EARSHOT_DB` to tune on your own database
# instead (its official incidents are the labels), and
# `EARSHOT_TUNED_CONFIG` to choose where the result goes.
#
# Edit `notebooks/tune_thresholds.py`; the `.ipynb` is its Jupytext pair
# (`jupytext --sync notebooks/tune_thresholds.py`).

# %%
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import altair as alt
import pandas as pd

from detector import anomaly_windows, calibration, match_incidents, nab_raw_score, nab_score, summarize
from detector.simulate import START, mention_counts
from earshot.analysis import covered_days, detect, detector_from_config, service_incidents, stored_episodes
from earshot.config import default_config_path, load_config, with_detector_settings
from earshot.realdata import realtweets
from earshot.roof.scenarios import SCENARIOS, STRESS
from earshot.roof.simulate import SPACING, write_scenarios
from earshot.store import get_meta, open_db

config = load_config()
folder = Path(tempfile.mkdtemp())
if os.environ.get("EARSHOT_DB"):
    paths = [Path(os.environ["EARSHOT_DB"])]
else:
    seeds = (0, 10, 20)
    paths = [folder / f"simulated-{seed}.db" for seed in seeds]
    # One database per core at a time: simulating and classifying is most of this notebook's time.
    with ProcessPoolExecutor(max_workers=min(len(paths), os.cpu_count() or 1)) as pool:
        list(pool.map(write_scenarios, paths, [None] * len(paths), [config] * len(paths), seeds))
TUNED = Path(os.environ.get("EARSHOT_TUNED_CONFIG") or folder / "tuned.toml")

# %% [markdown]
# Per database: the official incidents (for simulated scenarios, one per
# outage) on the days it holds posts for, and, where it says, when each
# outage's first complaint came.

# %%
labelled = []
for path in paths:
    db = open_db(path)
    days = covered_days(db, "chatgpt")
    incidents = service_incidents(db, config, "chatgpt")
    incidents = incidents[incidents["first_post"].dt.strftime("%Y-%m-%d").isin(days)].reset_index(drop=True)
    labelled.append((db, incidents, pd.DataFrame(get_meta(db, "simulated", [])), len(days) / 7))
pd.concat([truth for *_, truth, _ in labelled], ignore_index=True)

# %% [markdown]
# One function scores a setting everywhere: recall, precision and false
# alarms per week against the incidents; `delay`, how long after an outage's
# first complaint the alert came (simulated scenarios only); `lead`, how long
# before the first official post; and the NAB-style score on mention counts
# (one busy, overdispersed series per brand, surges labelled, windows 10% of
# the series, scored like the Numenta Anomaly Benchmark's standard profile
# with `onset` as the detection: 0 for never flagging, 100 for flagging
# every window's start).

# %%
series = [mention_counts(days=50, anomalies=3, seed=seed) for seed in range(6)]
real = realtweets()


def delays(found: pd.DataFrame, truth: pd.DataFrame) -> list[float]:
    out = []
    for row in truth.itertuples():
        first = pd.Timestamp(row.first_complaint)
        hits = found[(found["start"] >= first) & (found["start"] <= pd.Timestamp(row.end) + pd.Timedelta("1h"))]
        out.append((hits["start"].min() - first).total_seconds() / 60 if len(hits) else float("nan"))
    return out


pool = ProcessPoolExecutor(max_workers=min(len(paths), os.cpu_count() or 1))


def evaluate(**settings) -> dict:
    settings.setdefault("confirm_threshold", max(settings.get("threshold", 0), config.detector["confirm_threshold"]))
    detector = detector_from_config(config, **settings)
    totals = {"incidents": 0, "detected": 0, "episodes": 0, "false_alarms": 0}
    leads, late, weeks = [], [], 0.0
    # The databases are detected one per core (a worker opens its own connection).
    each = pool.map(stored_episodes, paths, [config] * len(paths), ["chatgpt"] * len(paths), [detector] * len(paths))
    for (_, incidents, truth, span), found in zip(labelled, each, strict=True):
        matches = match_incidents(found, incidents)
        summary = summarize(matches, found)
        totals = {key: value + summary[key] for key, value in totals.items()}
        leads += matches.loc[matches["detected"], "lead_minutes"].tolist()
        late += delays(found, truth)
        weeks += span
    late = pd.Series(late, dtype=float)
    return {
        **totals,
        "recall": totals["detected"] / totals["incidents"] if totals["incidents"] else None,
        "precision": 1 - totals["false_alarms"] / totals["episodes"] if totals["episodes"] else None,
        "false_alarms_per_week": totals["false_alarms"] / weeks,
        "median_lead_minutes": pd.Series(leads).median(),
        "mean_delay_minutes": late.mean(),
        "max_delay_minutes": late.max(),
        "nab_style_score": nab_score(
            [
                nab_raw_score(detector.fit_predict(counts)["onset"], anomaly_windows(counts.index, surges))
                for counts, surges in series
            ]
        ),
        **on_real(detector),
    }


def on_real(detector) -> dict:
    """The real series: NAB's score, windows hit, false detections a week a series."""
    scored = [nab_raw_score(detector.fit_predict(counts)["onset"], windows) for counts, windows in real.values()]
    return {
        "real_nab_score": nab_score(scored),
        "real_windows_hit": sum(s["hit"] for s in scored) / sum(s["windows"] for s in scored),
        "real_false_per_week": sum(s["false_positives"] for s in scored) / sum(s["weeks"] for s in scored),
    }


def best(rows: pd.DataFrame, tie: str, tie_ascending: bool) -> pd.Series:
    """At most one false alarm in four weeks on the simulated days, and at
    most one false detection in two weeks a real series; then the most
    outages heard, the most real windows hit, the best real NAB score, the
    shortest delay; on a tie, by ``tie``."""
    allowed = rows[(rows["false_alarms_per_week"] <= 0.25) & (rows["real_false_per_week"] <= 0.5)]
    order = ["recall", "real_windows_hit", "real_nab_score", "mean_delay_minutes", tie]
    return allowed.sort_values(order, ascending=[False, False, False, True, tie_ascending]).iloc[0]


# %% [markdown]
# The threshold sweep:

# %%
sweep = pd.DataFrame([{"threshold": t, **evaluate(threshold=t)} for t in [3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 8.0, 10.0]])
sweep = sweep.set_index("threshold")
sweep[
    [
        "episodes",
        "recall",
        "precision",
        "false_alarms_per_week",
        "median_lead_minutes",
        "mean_delay_minutes",
        "max_delay_minutes",
        "nab_style_score",
        "real_nab_score",
        "real_windows_hit",
        "real_false_per_week",
    ]
]

# %%
long = sweep.reset_index().melt("threshold", ["precision", "recall"], var_name="measure")
quality = (
    alt.Chart(long, title="precision and recall")
    .mark_line(point=True)
    .encode(x="threshold:Q", y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1])), color="measure:N")
)
alarms = (
    alt.Chart(sweep.reset_index(), title="false alarms per week")
    .mark_line(point=True, color="firebrick")
    .encode(x="threshold:Q", y=alt.Y("false_alarms_per_week:Q", title="false alarms / week"))
)
lead = (
    alt.Chart(sweep.reset_index(), title="lead and delay (minutes)")
    .mark_line(point=True)
    .encode(x="threshold:Q", y=alt.Y("value:Q", title="minutes"), color="measure:N")
    .transform_fold(["median_lead_minutes", "mean_delay_minutes", "max_delay_minutes"], as_=["measure", "value"])
)
nab = (
    alt.Chart(sweep.reset_index(), title="NAB-style score")
    .mark_line(point=True, color="seagreen")
    .encode(x="threshold:Q", y=alt.Y("nab_style_score:Q", scale=alt.Scale(domain=[0, 100])))
)
quality | alarms | lead | nab

# %%
# On a tie, the lower threshold: it alerts sooner.
chosen = float(best(sweep.reset_index(), "threshold", True)["threshold"])
print(chosen)

# %% [markdown]
# At that threshold, the floor of the expected rate (`min_rate`, posts an
# hour per source) and the scan windows (`scales`, in buckets): a lower floor
# hears a quiet night sooner and costs false alarms in the day; a one-bucket
# window hears a burst sooner and costs false alarms on a noisy series.

# %%
floors = pd.DataFrame([{"min_rate": r, **evaluate(threshold=chosen, min_rate=r)} for r in (0.02, 0.05, 0.1, 0.5)])
windows = pd.DataFrame(
    [{"scales": s, **evaluate(threshold=chosen, scales=s)} for s in ((1, 3, 6, 12), (3, 6, 12), (6, 12))]
)
pd.concat([floors, windows], ignore_index=True)[
    [
        "min_rate",
        "scales",
        "recall",
        "false_alarms_per_week",
        "mean_delay_minutes",
        "max_delay_minutes",
        "nab_style_score",
        "real_nab_score",
        "real_false_per_week",
    ]
]

# %% [markdown]
# Calibration: a score is `-log10` of a tail probability, so on days with no
# outage a bucket should reach a score `t` at most `10**-t` of the time. Per
# family of ordinary days (the plain ones and the stress cases: news bursts
# and threads, a growing community, sparse and late sources), the share of
# buckets that reached each score (`observed`) against that promise
# (`nominal`), with the chosen settings, the first two days of each family
# (warming up) left out.

# %%
calibrated = detector_from_config(config, threshold=chosen)
rows = []
if not os.environ.get("EARSHOT_DB"):
    for number, name in enumerate(SCENARIOS):
        if name != "ordinary" and name not in STRESS:
            continue
        begin = START + number * SPACING + pd.Timedelta("2D")
        end = START + number * SPACING + pd.Timedelta(days=SCENARIOS[name]["days"])
        scored = pd.concat(
            [detect(db, config, "chatgpt", detector=calibrated)[0].loc[begin:end] for db, *_ in labelled]
        )
        table = calibration(
            scored.reset_index(drop=True).set_axis(pd.date_range(START, periods=len(scored), freq="5min"))
        )
        rows.append(table.assign(family=name))
calibrations = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
calibrations.pivot(index="threshold", columns="family", values="ratio") if rows else calibrations

# %% [markdown]
# On the plain ordinary days the promise holds from a score of 4 up (at 3,
# the launch surge and the flood bring it to about 1.6 times the promise);
# on the stress cases buckets reach the higher scores several times more
# often than promised (bursts and long threads have a heavier tail than the
# count model's), which is why the threshold is chosen on false alarms, not
# on the promise alone.

# %%
if rows:
    plain = calibrations[(calibrations["family"] == "ordinary") & (calibrations["threshold"] >= 4)]
    assert (plain["observed"] <= plain["nominal"]).all(), plain

# %% [markdown]
# The choice, written to a config file (the bundled one with these values).
# On a tie, the higher floor (where the scenarios cannot tell them apart,
# the one less ready to take a handful of posts for an outage) and the
# longer shortest window.

# %%
windows["shortest"] = windows["scales"].map(min)
settings = {
    "threshold": chosen,
    "confirm_threshold": max(chosen, config.detector["confirm_threshold"]),
    "min_rate": float(best(floors, "min_rate", False)["min_rate"]),
    "scales": list(best(windows, "shortest", False)["scales"]),
}
TUNED.write_text(with_detector_settings(default_config_path().read_text(), settings))
print(f"chosen {settings}; written to {TUNED}")

# %% [markdown]
# The file reads back as a configuration with the chosen values; a higher
# threshold never hears more outages; the choice hears most of them; and on
# the simulated scenarios the choice is what earshot ships with.

# %%
tuned = load_config(TUNED)
assert {key: tuned.detector[key] for key in settings} == settings
if not os.environ.get("EARSHOT_DB"):
    shipped = {key: config.detector[key] for key in settings}
    assert shipped == settings, f"earshot/chatgpt.toml has {shipped}; this notebook chooses {settings}"
assert sweep.loc[chosen, "recall"] >= 0.8
assert sweep["recall"].is_monotonic_decreasing
pool.shutdown()
