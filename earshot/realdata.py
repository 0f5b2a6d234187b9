"""Real social counts with labelled anomalies: five of the Numenta Anomaly
Benchmark's realTweets series, shipped in ``earshot/data/nab-realtweets`` (MIT; see
its README), read as the detector reads counts: for the benchmark, the
calibration check and the tuning notebook.

>>> series = realtweets()
>>> sorted(series)
['AAPL', 'AMZN', 'CRM', 'CVS', 'FB']
>>> counts, windows = series["AMZN"]
>>> str(counts.index.tz), counts.index.freqstr, len(windows)
('UTC', '5min', 4)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .config import REALTWEETS_DIR


def realtweets(folder: Path = REALTWEETS_DIR) -> dict[str, tuple[pd.Series, list[tuple]]]:
    """Each series' tweets per 5-minute bucket (UTC: NAB's timestamps carry no
    zone) and its labelled anomaly windows, by ticker."""
    labels = json.loads((folder / "windows.json").read_text())
    out = {}
    for name, windows in labels.items():
        frame = pd.read_csv(folder / name, parse_dates=["timestamp"])
        index = pd.DatetimeIndex(frame["timestamp"]).tz_localize("UTC")
        counts = pd.Series(frame["value"].to_numpy(dtype=float), index=index, name="tweets").asfreq("5min")
        spans = [(pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")) for start, end in windows]
        out[name.removeprefix("Twitter_volume_").removesuffix(".csv")] = (counts, spans)
    return out


def ordinary_rows(results: list[pd.DataFrame], windows: list[list[tuple]], skip: int = 2 * 2016) -> pd.DataFrame:
    """The detector's rows outside every labelled window, the first ``skip``
    buckets of each series (warming up) left out, pooled on one 5-minute
    index: what :func:`detector.calibration` reads as ordinary buckets."""
    ordinary = []
    for result, spans in zip(results, windows, strict=True):
        result = result.iloc[skip:]
        outside = np.ones(len(result), dtype=bool)
        for start, end in spans:
            outside &= ~((result.index >= start) & (result.index <= end))
        ordinary.append(result[outside])
    pooled = pd.concat(ordinary).reset_index(drop=True)
    pooled.index = pd.date_range("2015-01-01", periods=len(pooled), freq="5min", tz="UTC")
    return pooled
