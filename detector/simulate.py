"""Labelled scenarios for tuning and testing the detector: posts with known truth.

A scenario is days of ordinary chatter on several sources (a daily and weekly
rhythm, a steady trickle of complaints), with events laid on top:

- ``outage``: complaints from many people, shaped ``abrupt`` (full strength
  within minutes), ``ramp`` (growing over ``ramp_minutes``), at a ``size``
  (1.0: 12 complaints a minute at the height, over all sources) and spread
  over the sources by ``mix``;
- ``launch``: a surge of excited posts that are not complaints;
- ``flood``: one account posting the same complaint many times;
- ``gap``: a source not read for a while (no posts at all).

:func:`simulate` returns the posts (``created_at``, ``source``, ``author``,
``kind``, ``problem``, ``is_complaint``: the truth) and the labels (one row per
outage: ``onset``, ``end``, ``first_complaint``). It does no I/O and knows
no source by name: the caller says which sources post how much. ``earshot
simulate`` and the demo write scenarios to a database, with text, through
the classifier.

>>> night = {"days": 9, "events": [{"type": "outage", "at": "8d04:10", "minutes": 90, "size": 0.02}]}
>>> posts, labels = simulate(night, rates={"forum": 8.0, "reddit": 40.0}, seed=1, name="night")
>>> labels.loc[0, ["name", "shape"]].tolist()
['night', 'abrupt']
>>> sorted(posts["source"].unique())
['forum', 'reddit']
>>> int(posts.loc[posts["kind"] == "outage", "is_complaint"].sum()) > 10
True
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

COMPLAINT_SHARE = 0.03  # someone, somewhere, always has a broken session
PEAK_OUTAGE_PER_MINUTE = 12.0  # complaints a minute, all sources, at the height of an outage of size 1
DECAY_MINUTES = 12.0  # complaints fade this fast once it works again
START = pd.Timestamp("2024-03-04", tz="UTC")  # a Monday


def simulate(
    scenario: dict,
    rates: dict[str, float],
    seed: int = 0,
    start: pd.Timestamp = START,
    name: str = "scenario",
    mix: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The posts and the outage labels of one scenario.

    ``rates`` names the sources and their posts an hour at the busiest hour
    of a weekday; ``mix`` is how an outage's complaints spread over them
    when the event gives no ``mix`` of its own (default: as their rates).
    An event's ``at`` is a :class:`pandas.Timedelta` or ``"8d13:42"``
    (8 days, 13 hours and 42 minutes after ``start``).
    """
    rng = np.random.default_rng(seed)
    mix = mix or {source: rate / sum(rates.values()) for source, rate in rates.items()}
    minutes = pd.date_range(start, periods=int(scenario["days"] * 1440), freq="1min")
    rhythm = daily_rhythm(minutes)
    frames, labels = [], []
    for source, peak in rates.items():
        chatter = peak / 60.0 * rhythm
        frames.append(_posts(rng, minutes, chatter * (1 - COMPLAINT_SHARE), source, "chatter", False))
        frames.append(_posts(rng, minutes, chatter * COMPLAINT_SHARE, source, "complaint", True))
    for event in scenario.get("events", []):
        at = start + _offset(event["at"])
        kind = event["type"]
        if kind == "outage":
            rate = outage_rate(minutes, at, event) * PEAK_OUTAGE_PER_MINUTE * event["size"]
            new = [
                _posts(rng, minutes, rate * share, source, "outage", True, event.get("problems"))
                for source, share in event.get("mix", mix).items()
            ]
            frames += new
            firsts = [f["created_at"].min() for f in new if len(f)]
            labels.append(
                {
                    "name": name,
                    "shape": event.get("shape", "abrupt"),
                    "size": event["size"],
                    "onset": at,
                    "end": at + pd.Timedelta(minutes=event["minutes"]),
                    "first_complaint": min(firsts) if firsts else pd.NaT,
                }
            )
        elif kind == "launch":
            window = (minutes >= at) & (minutes < at + pd.Timedelta(hours=event["hours"]))
            share = {s: p / sum(rates.values()) for s, p in rates.items()}
            for source, part in share.items():
                frames.append(
                    _posts(rng, minutes, window * event["posts_per_hour"] / 60.0 * part, source, "launch", False)
                )
        elif kind == "flood":
            offsets = np.sort(rng.uniform(0, event["minutes"] * 60, event["posts"]))
            frames.append(
                pd.DataFrame(
                    {
                        "created_at": at + pd.to_timedelta(offsets, unit="s"),
                        "source": event["source"],
                        "author": "flooder",
                        "kind": "flood",
                        "problem": "down",
                        "is_complaint": True,
                    }
                )
            )
    posts = pd.concat(frames, ignore_index=True)
    for event in scenario.get("events", []):
        if event["type"] == "gap":
            at = start + _offset(event["at"])
            lost = (posts["source"] == event["source"]) & posts["created_at"].between(
                at, at + pd.Timedelta(hours=event["hours"]), inclusive="left"
            )
            posts = posts[~lost]
    posts = posts.sort_values("created_at", ignore_index=True)
    posts["created_at"] = posts["created_at"].dt.floor("s")
    return posts, pd.DataFrame(labels, columns=["name", "shape", "size", "onset", "end", "first_complaint"])


def _offset(text) -> pd.Timedelta:
    """``"8d13:42"``: 8 days, 13 hours and 42 minutes after the scenario's start."""
    if isinstance(text, pd.Timedelta):
        return text
    days, clock = text.split("d")
    hours, minutes = clock.split(":")
    return pd.Timedelta(days=int(days), hours=int(hours), minutes=int(minutes))


def daily_rhythm(minutes: pd.DatetimeIndex) -> np.ndarray:
    """Share of the peak activity: busiest at 17:00 UTC (US morning), quietest
    at 05:00 (a tenth of it), weekends at 80%."""
    hours = minutes.hour + minutes.minute / 60.0
    daily = 0.1 + 0.9 * ((1 + np.cos(2 * math.pi * (hours - 17) / 24)) / 2) ** 2
    return np.asarray(daily * np.where(minutes.day_of_week >= 5, 0.8, 1.0))


def outage_rate(minutes: pd.DatetimeIndex, onset: pd.Timestamp, event: dict) -> np.ndarray:
    """0 before the onset; up to 1 within 4 minutes (``abrupt``) or over
    ``ramp_minutes`` (``ramp``); held until the end; then fading."""
    since = np.asarray((minutes - onset).total_seconds() / 60.0)
    after_end = since - event["minutes"]
    rise = 4.0 if event.get("shape", "abrupt") == "abrupt" else float(event["ramp_minutes"])
    level = np.clip((since + 1) / rise, 0, 1)
    fade = np.where(after_end > 0, np.exp(-np.maximum(after_end, 0) / DECAY_MINUTES), 1.0)
    return np.where(since >= 0, level * fade, 0.0)


def _posts(rng, minutes, rate, source, kind, complaint, problems=None) -> pd.DataFrame:
    n = rng.poisson(np.maximum(rate, 0))
    stamps = np.repeat(minutes.as_unit("s").asi8, n) + rng.integers(0, 60, n.sum())
    count = len(stamps)
    if problems:
        names = list(problems)
        weights = np.array([problems[p] for p in names], dtype=float)
        problem = rng.choice(names, size=count, p=weights / weights.sum())
    else:
        problem = np.full(count, "down" if complaint else None, dtype=object)
    # Outage reporters are many different people; background posters a steady crowd.
    authors = rng.integers(0, 10**9 if kind == "outage" else 4000, count)
    return pd.DataFrame(
        {
            "created_at": pd.to_datetime(stamps, unit="s", utc=True),
            "source": source,
            "author": [f"{source}-user{a}" for a in authors],
            "kind": kind,
            "problem": problem,
            "is_complaint": complaint,
        }
    )


def mention_counts(days: int = 55, anomalies: int = 3, seed: int = 0, level: float = 60.0) -> tuple[pd.Series, list]:
    """A series of mention counts per 5 minutes, shaped like a social
    network's volume for one brand: a strong daily and weekly rhythm,
    overdispersed noise, short unlabelled blips, and ``anomalies`` labelled
    surges (returned as their peak times), none in the first 15%.

    >>> counts, surges = mention_counts(days=20, anomalies=2, seed=3)
    >>> len(counts), len(surges)
    (5760, 2)
    """
    rng = np.random.default_rng(seed)
    index = pd.date_range(START, periods=days * 288, freq="5min")
    rate = level * (0.3 + 1.4 * daily_rhythm(index))
    # Slow drift of interest, and negative-binomial noise around it.
    rate = rate * np.exp(np.cumsum(rng.normal(0, 0.01, len(index))) * 0.3)
    gamma = rng.gamma(1 / 0.08, 0.08, len(index))
    counts = rng.poisson(rate * gamma).astype(float)
    blips = rng.choice(len(index), size=days * 2, replace=False)
    counts[blips] *= rng.uniform(1.6, 3.0, len(blips))
    peaks = []
    spacing = (len(index) - int(0.2 * len(index))) // max(anomalies, 1)
    for k in range(anomalies):
        at = int(0.2 * len(index)) + k * spacing + int(rng.integers(spacing // 4, 3 * spacing // 4))
        width = int(rng.integers(6, 36))
        shape = np.exp(-0.5 * ((np.arange(len(index)) - at) / (width / 2)) ** 2)
        counts += rng.poisson(rate * rng.uniform(2.0, 6.0) * shape)
        peaks.append(index[at])
    return pd.Series(np.round(counts), index=index, name="mentions"), peaks
