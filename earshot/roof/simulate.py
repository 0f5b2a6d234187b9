"""Write simulated posts to a database: the labelled scenarios for tuning, and the demo.

Posts come from :func:`detector.simulate.simulate` (the one simulator) with
the bundled world's sources (:mod:`earshot.roof.scenarios`); each gets a text
by its kind and problem type and goes through :func:`earshot.ingest.ingest`
like a collected post. For the scenarios, each simulated outage becomes an
official incident of the service's provider: "investigating"
``ACK_MINUTES`` after its onset, "resolved" at its end, so ``earshot
evaluate`` and the dashboard work on the database unchanged. Scenarios are
laid two weeks apart; the database is marked as simulated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import sqlite_utils

from detector.simulate import START, simulate
from earshot.analysis import detect_and_store
from earshot.complaints.trained import default_classifier
from earshot.config import Config, load_config
from earshot.ingest import ingest
from earshot.store import open_db, set_meta, store_incident_updates

from .scenarios import (
    CHATTER,
    COMPLAINTS,
    FLOOD,
    LAUNCH,
    MODELS,
    OUTAGE_MIX,
    SCENARIOS,
    SOURCE_RATES,
    VAGUE,
    VAGUE_SHARE,
    reworded,
)

ACK_MINUTES = 15  # a typical delay of the first official post
SPACING = pd.Timedelta(days=14)


def simulate_scenario(name: str, seed: int = 0, start: pd.Timestamp = START) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`detector.simulate.simulate` of the named scenario on the bundled sources.

    >>> posts, labels = simulate_scenario("night-partial", seed=1)
    >>> labels.loc[0, ["name", "shape"]].tolist()
    ['night-partial', 'abrupt']
    """
    if name not in SCENARIOS:
        raise ValueError(f"no scenario named {name!r} (known: {', '.join(SCENARIOS)})")
    return simulate(SCENARIOS[name], rates=SOURCE_RATES, seed=seed, start=start, name=name, mix=OUTAGE_MIX)


def write_scenarios(
    path: str | Path, names=None, config: Config | None = None, seed: int = 0, classifier=None
) -> pd.DataFrame:
    """Simulate ``names`` (default: all of :data:`SCENARIOS`) into the database
    at ``path``, detect, and return the outage labels."""
    config = config or load_config()
    classifier = classifier or default_classifier()
    provider = config.services[0].provider or "simulated"
    db = open_db(path)
    rng = np.random.default_rng(seed)
    all_labels = []
    for number, name in enumerate(names or SCENARIOS):
        posts, labels = simulate_scenario(name, seed=seed + number, start=START + number * SPACING)
        store_simulated(db, config, posts, rng, f"sim-{name}-{seed}", classifier)
        store_incident_updates(db, official_updates(labels, provider, seed))
        all_labels.append(labels)
    labels = pd.concat(all_labels, ignore_index=True)
    records = labels.to_dict("records")
    set_meta(
        db,
        "simulated",
        [{k: v.isoformat() if isinstance(v, pd.Timestamp) else v for k, v in row.items()} for row in records],
    )
    for service in config.services:
        detect_and_store(db, config, service.name)
    db.close()
    return labels


def store_simulated(
    db: sqlite_utils.Database, config: Config, posts: pd.DataFrame, rng: np.random.Generator, prefix: str, classifier
) -> int:
    """Give simulated ``posts`` their texts and ingest them per source; return how many were new."""
    posts = posts.assign(text=post_texts(posts, rng))
    new = 0
    for source_name, group in posts.groupby("source", sort=True):
        source = config.source(source_name)
        texts = [reworded(text, source.service) for text in group["text"]] if source.service else group["text"]
        rows = [
            {
                "source": source_name,
                "post_id": f"{prefix}-{i}",
                "url": None,
                "author": author,
                "created_at": stamp.isoformat(),
                "title": None,
                "text": text,
            }
            for i, author, stamp, text in zip(group.index, group["author"], group["created_at"], texts, strict=True)
        ]
        new += ingest(db, config, source, rows, classifier)[0]
    return new


def post_texts(posts: pd.DataFrame, rng: np.random.Generator) -> list[str]:
    """A text for each simulated post, by its kind and problem type."""
    texts = []
    for kind, problem, complaint in zip(posts["kind"], posts["problem"], posts["is_complaint"], strict=True):
        if kind in ("chatter", "burst") and not complaint:
            text = rng.choice(CHATTER)
        elif kind == "launch":
            text = rng.choice(LAUNCH)
        elif kind == "flood":
            text = FLOOD
        elif rng.random() < VAGUE_SHARE:
            text = rng.choice(VAGUE)
        else:
            text = rng.choice(COMPLAINTS.get(problem, COMPLAINTS["down"]))
        texts.append(text.format(model=rng.choice(MODELS)))
    return texts


def official_updates(labels: pd.DataFrame, provider: str, seed: int) -> list[dict]:
    """An official incident per simulated outage: investigating, then resolved."""
    updates = []
    for row in labels.itertuples():
        incident = f"sim-{row.name}-{seed}-{row.Index}"
        title = f"Simulated: {row.name} ({row.shape}, size {row.size:g})"
        for stage, moment in (("investigating", row.onset + pd.Timedelta(minutes=ACK_MINUTES)), ("resolved", row.end)):
            updates.append(
                {
                    "provider": provider,
                    "incident_id": incident,
                    "update_id": f"{incident}-{stage}",
                    "title": title,
                    "impact": "major",
                    "components": "ChatGPT,API",
                    "stage": stage,
                    "posted_at": moment.isoformat(),
                    "text": f"{stage} (simulated)",
                    "url": None,
                }
            )
    return updates
