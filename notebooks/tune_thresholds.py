# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tuning the alert threshold
#
# Sweep `RollingBaselineDetector`'s `threshold` on a database (the demo one by
# default), and see how recall, precision and lead time against the official
# timeline move. Set `DB` to your own database to tune on real posts.
#
# Edit `notebooks/tune_thresholds.py`; the `.ipynb` is its Jupytext pair
# (`jupytext --sync notebooks/tune_thresholds.py`).

# %%
import os
import tempfile
from pathlib import Path

import pandas as pd

from earshot.analysis import detect, detector_from_config, service_incidents, covered_days
from earshot.config import load_config
from earshot.demo import build_demo
from earshot.store import open_db
from detector import match_incidents, summarize

config = load_config()
DB = os.environ.get("EARSHOT_DB")
if not DB:
    DB = Path(tempfile.mkdtemp()) / "demo.db"
    build_demo(DB, config)
db = open_db(DB)

# %% [markdown]
# The official incidents on days we hold posts for:

# %%
incidents = service_incidents(db, config, "chatgpt")
days = covered_days(db, "chatgpt")
incidents = incidents[incidents["first_post"].dt.strftime("%Y-%m-%d").isin(days)].reset_index(drop=True)
incidents[["first_post", "title"]]

# %%
rows = []
for threshold in [3, 4, 6, 8, 12, 16, 24]:
    _, found = detect(db, config, "chatgpt", detector=detector_from_config(config, threshold=threshold))
    summary = summarize(match_incidents(found, incidents), found)
    rows.append({"threshold": threshold, **summary})
sweep = pd.DataFrame(rows).set_index("threshold")
sweep

# %%
import altair as alt

long = sweep.reset_index().melt("threshold", ["precision", "recall"], var_name="measure")
alt.Chart(long, title="precision and recall against the threshold").mark_line(point=True).encode(
    x="threshold:Q", y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1])), color="measure:N"
)

# %% [markdown]
# The bundled default must still catch the 2023-11-08 outage before OpenAI's
# first status post (the demo's seed case), and a higher threshold must never
# find more incidents than a lower one.

# %%
default = config.detector["threshold"]
assert sweep.loc[default, "median_lead_minutes"] > 0
assert sweep["recall"].is_monotonic_decreasing
