"""Write labelled scenarios (:mod:`detector.simulate`) to a database, for tuning.

Each scenario's posts get text (complaints, chatter, launch-day excitement,
vague "hello??" posts) and go through the same classifier and store as
collected posts. Each simulated outage becomes an official incident of the
service's provider: "investigating" ``ACK_MINUTES`` after its onset,
"resolved" at its end, so ``earshot evaluate`` and the dashboard work on the
database unchanged. Scenarios are laid two weeks apart; the database is
marked as simulated.

>>> sorted(SCENARIOS)[:3]
['api-forum', 'major', 'night-partial']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from collectors.collect import classify_posts
from detector.simulate import SCENARIOS, START, simulate

from .analysis import detect
from .config import Config, load_config
from .demo import CHATTER, COMPLAINTS, MODELS, VAGUE, VAGUE_SHARE
from .store import open_db, replace_alerts, set_meta, store_incident_updates, store_posts

ACK_MINUTES = 15  # a typical delay of the first official post
SPACING = pd.Timedelta(days=14)
LAUNCH = [
    "Launch day! {model} is finally here, so excited",
    "Just tried {model}, this is incredible",
    "{model} is out!!! Who else is staying up to play with it?",
    "The {model} launch stream was amazing",
    "First impressions of {model}: wow",
]


def write_scenarios(path: str | Path, names=None, config: Config | None = None, seed: int = 0) -> pd.DataFrame:
    """Simulate ``names`` (default: all of :data:`SCENARIOS`) into the database
    at ``path``, detect, and return the outage labels."""
    config = config or load_config()
    service = config.services[0]
    db = open_db(path)
    rng = np.random.default_rng(seed)
    all_labels = []
    for number, name in enumerate(names or SCENARIOS):
        if name not in SCENARIOS:
            raise ValueError(f"no scenario named {name!r} (known: {', '.join(SCENARIOS)})")
        posts, labels = simulate(SCENARIOS[name], seed=seed + number, start=START + number * SPACING, name=name)
        posts["text"] = post_texts(posts, rng)
        for source_name, group in posts.groupby("source"):
            rows = [
                {
                    "source": source_name,
                    "post_id": f"sim-{name}-{seed}-{i}",
                    "url": None,
                    "author": author,
                    "created_at": stamp.isoformat(),
                    "title": None,
                    "text": text,
                }
                for i, author, stamp, text in zip(
                    group.index, group["author"], group["created_at"], group["text"], strict=True
                )
            ]
            store_posts(db, classify_posts(config, config.source(source_name), rows))
        store_incident_updates(db, _official_updates(labels, service.provider or "simulated", seed))
        all_labels.append(labels)
    labels = pd.concat(all_labels, ignore_index=True)
    set_meta(
        db,
        "simulated",
        [
            {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in row.items()}
            for row in labels.to_dict("records")
        ],
    )
    for spec in config.services:
        replace_alerts(db, spec.name, detect(db, config, spec.name)[1])
    db.close()
    return labels


def post_texts(posts: pd.DataFrame, rng: np.random.Generator) -> list[str]:
    """A text for each simulated post, by its kind and problem type."""
    texts = []
    for kind, problem in zip(posts["kind"], posts["problem"], strict=True):
        if kind == "chatter":
            text = rng.choice(CHATTER)
        elif kind == "launch":
            text = rng.choice(LAUNCH)
        elif kind == "flood":
            text = "ChatGPT keeps erroring out on every prompt"
        elif rng.random() < VAGUE_SHARE:
            text = rng.choice(VAGUE)
        else:
            text = rng.choice(COMPLAINTS.get(problem, COMPLAINTS["down"]))
        texts.append(text.format(model=rng.choice(MODELS)))
    return texts


def _official_updates(labels: pd.DataFrame, provider: str, seed: int) -> list[dict]:
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
