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

And the ways real chatter is rougher than a steady rhythm, for stress cases
of ordinary days (no outage):

- ``bursts``: news-driven surges of posts, ``per_day`` of them, their sizes
  drawn from a power law (Pareto, exponent ``alpha``, at least ``min_posts``),
  each fading over ``minutes``; ``complaint_share`` of their posts read as
  complaints (grumbling, jokes, and the classifier's own mistakes);
- ``threads``: self-exciting complaint threads (a Hawkes process): every
  complaint draws Poisson(``branching``) "same here" replies from other
  people, ``minutes`` later on average, and they draw their own;
- ``shift``: the community grows or shrinks: every rate times ``factor``
  from ``at`` on;
- ``drift``: the daily rhythm slides by ``hours_per_day`` each day;
- ``sporadic``: a source mostly silent (zero-inflated): active in a share
  ``active`` of hours only, busier then, the same posts on average;
- ``late``: a share of a source's posts appear ``minutes`` after they were
  written (``published_at``), as a slow feed or a moderation queue delivers them.

:func:`simulate` returns the posts (``created_at``, ``source``, ``author``,
``kind``, ``problem``, ``is_complaint``: the truth, and ``published_at``: when the
post could first be read) and the labels (one row per
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
# What ordinary complaints are about: mostly "down" and errors, rarely the API.
BACKGROUND_PROBLEMS = {"down": 0.4, "errors": 0.25, "slow": 0.13, "login": 0.09, "capacity": 0.08, "api": 0.05}
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
    events = scenario.get("events", [])
    drift = sum(e["hours_per_day"] for e in events if e["type"] == "drift")
    rhythm = daily_rhythm(minutes, drift) * _growth(minutes, start, events)
    frames, labels = [], []
    for source, peak in rates.items():
        chatter = peak / 60.0 * rhythm * _sporadic(rng, minutes, source, events)
        frames.append(_posts(rng, minutes, chatter * (1 - COMPLAINT_SHARE), source, "chatter", False))
        frames.append(_posts(rng, minutes, chatter * COMPLAINT_SHARE, source, "complaint", True, BACKGROUND_PROBLEMS))
    for event in events:
        if event["type"] == "bursts":
            frames += _bursts(rng, minutes, rates, event)
    threads = next((e for e in events if e["type"] == "threads"), None)
    if threads is not None:
        frames += [_replies(rng, frame, threads) for frame in frames if len(frame) and frame["is_complaint"].iloc[0]]
    for event in events:
        kind = event["type"]
        if kind not in ("outage", "launch", "flood"):
            continue
        at = start + _offset(event["at"])
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
    posts = posts[posts["created_at"] < minutes[-1] + pd.Timedelta(minutes=1)]
    posts = posts.sort_values("created_at", ignore_index=True)
    posts["created_at"] = posts["created_at"].dt.floor("s")
    posts["published_at"] = posts["created_at"]
    for event in scenario.get("events", []):
        if event["type"] == "late":
            late = (posts["source"] == event["source"]).to_numpy() & (rng.random(len(posts)) < event["share"])
            delay = pd.to_timedelta(rng.exponential(event["minutes"] * 60, late.sum()).round(), unit="s")
            posts.loc[late, "published_at"] = posts.loc[late, "created_at"] + delay
    return posts, pd.DataFrame(labels, columns=["name", "shape", "size", "onset", "end", "first_complaint"])


def _offset(text) -> pd.Timedelta:
    """``"8d13:42"``: 8 days, 13 hours and 42 minutes after the scenario's start."""
    if isinstance(text, pd.Timedelta):
        return text
    days, clock = text.split("d")
    hours, minutes = clock.split(":")
    return pd.Timedelta(days=int(days), hours=int(hours), minutes=int(minutes))


def daily_rhythm(minutes: pd.DatetimeIndex, drift: float = 0.0) -> np.ndarray:
    """Share of the peak activity: busiest at 17:00 UTC (US morning), quietest
    at 05:00 (a tenth of it), weekends at 80%; the peak sliding by ``drift``
    hours a day."""
    hours = minutes.hour + minutes.minute / 60.0
    days = np.asarray((minutes - minutes[0]).total_seconds() / 86400.0) if len(minutes) else 0.0
    daily = 0.1 + 0.9 * ((1 + np.cos(2 * math.pi * (hours - 17 - drift * days) / 24)) / 2) ** 2
    return np.asarray(daily * np.where(minutes.day_of_week >= 5, 0.8, 1.0))


def _growth(minutes: pd.DatetimeIndex, start: pd.Timestamp, events: list) -> np.ndarray:
    """The community's size over time: 1, times each ``shift``'s factor from its moment on."""
    size = np.ones(len(minutes))
    for event in events:
        if event["type"] == "shift":
            size[np.asarray(minutes >= start + _offset(event["at"]))] *= event["factor"]
    return size


def _sporadic(rng, minutes: pd.DatetimeIndex, source: str, events: list) -> np.ndarray:
    """1 for a steady source; for a ``sporadic`` one, 0 in most hours and ``1 / active`` in the rest."""
    for event in events:
        if event["type"] == "sporadic" and event["source"] == source:
            hours = np.asarray((minutes - minutes[0]).total_seconds() // 3600, dtype=int)
            on = rng.random(hours[-1] + 1) < event["active"]
            return np.where(on[hours], 1.0 / event["active"], 0.0)
    return np.ones(len(minutes))


def _bursts(rng, minutes: pd.DatetimeIndex, rates: dict, event: dict) -> list[pd.DataFrame]:
    """News-driven surges: Poisson many a day, power-law sizes, spread over the sources by their rates."""
    days = len(minutes) / 1440
    count = rng.poisson(event.get("per_day", 2.0) * days)
    at = rng.integers(0, len(minutes), count)
    # Pareto sizes: most bursts are small, a few are huge (alpha 1.5: a tenth exceed 4.6 x the smallest).
    sizes = event.get("min_posts", 10) * (1 + rng.pareto(event.get("alpha", 1.5), count))
    sizes = np.minimum(sizes, event.get("max_posts", 5000))
    fade = float(event.get("minutes", 30))
    rate = np.zeros(len(minutes))
    for where, size in zip(at, sizes, strict=True):
        span = np.arange(where, min(len(minutes), where + int(8 * fade)))
        rate[span] += size / fade * np.exp(-(span - where) / fade)
    share = event.get("complaint_share", 0.03)
    frames = []
    for source, peak in rates.items():
        part = rate * peak / sum(rates.values())
        frames.append(_posts(rng, minutes, part * (1 - share), source, "burst", False))
        frames.append(_posts(rng, minutes, part * share, source, "burst", True, BACKGROUND_PROBLEMS))
    return frames


def _replies(rng, complaints: pd.DataFrame, event: dict) -> pd.DataFrame:
    """Every complaint's "same here" replies, and theirs, generation by generation (a Hawkes cascade)."""
    branching, mean = event.get("branching", 0.5), event.get("minutes", 10.0) * 60
    generations, parents = [], complaints
    while len(parents) and len(generations) < 20:
        children = rng.poisson(branching, len(parents))
        if not children.any():
            break
        at = np.repeat(parents["created_at"].to_numpy(), children)
        delay = pd.to_timedelta(rng.exponential(mean, children.sum()), unit="s")
        parents = pd.DataFrame(
            {
                "created_at": pd.DatetimeIndex(at) + delay,
                "source": np.repeat(parents["source"].to_numpy(), children),
                "author": [f"reply-{a}" for a in rng.integers(0, 10**9, children.sum())],
                "kind": "thread",
                "problem": np.repeat(parents["problem"].to_numpy(), children),
                "is_complaint": True,
            }
        )
        generations.append(parents)
    return pd.concat(generations, ignore_index=True) if generations else complaints.iloc[:0]


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
