"""Build the offline demo database: real official timelines, simulated posts.

The official side is real: every incident of the configured services'
providers from the bundled timelines (OpenAI and Anthropic with
``earshot/llms.toml``, the demo's configuration). The public side is
simulated, because no machine here can fetch years of posts: for each
incident of ``earshot/data/demo/incidents.toml`` whose service is configured, the
days around it are one scenario of :func:`detector.simulate.simulate`
(ordinary chatter with a daily and weekly rhythm on that service's five
sources) with one outage starting at the incident's real onset (for example
05:42 PT on 2023-11-08, from OpenAI's own postmortem). The posts are classified and stored as collected ones are,
and the database is marked as a demo so the dashboard can say the posts are
simulated.

>>> incidents = load_incidents()
>>> incidents[0]["onset"], incidents[0]["service"], sorted({i["service"] for i in incidents})
(Timestamp('2023-11-08 13:42:00+0000', tz='UTC'), 'chatgpt', ['chatgpt', 'claude'])
>>> start, scenario = demo_scenario(incidents[0])
>>> str(start), scenario["days"], scenario["events"][0]["at"]
('2023-11-05 00:00:00+00:00', 4, Timedelta('3 days 13:42:00'))
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from detector.simulate import simulate
from earshot.analysis import detect_and_store
from earshot.complaints.trained import default_classifier
from earshot.config import DEMO_INCIDENTS, Config, default_config_path, load_config
from earshot.store import open_db, set_meta, store_incident_updates
from earshot.timelines import read_official_timelines

from .scenarios import CLAUDE_SOURCE_RATES, SOURCE_RATES
from .simulate import store_simulated

DAYS_BEFORE, DAYS_AFTER = 3, 1
SEED = 20231108
# How much each service's sources post, by service.
RATES = {"chatgpt": SOURCE_RATES, "claude": CLAUDE_SOURCE_RATES}


def demo_config_path():
    """The demo's configuration: ChatGPT and Claude together."""
    return default_config_path().parent / "llms.toml"


def load_incidents(path: Path = DEMO_INCIDENTS) -> list[dict]:
    """The incidents the demo simulates, with tz-aware ``onset`` and ``recovered``."""
    incidents = tomllib.loads(Path(path).read_text(encoding="utf-8"))["incidents"]
    for incident in incidents:
        incident.setdefault("service", "chatgpt")
        incident["onset"] = pd.Timestamp(incident["onset"])
        incident["recovered"] = pd.Timestamp(incident["recovered"])
    return incidents


def demo_scenario(incident: dict) -> tuple[pd.Timestamp, dict]:
    """Where the days around ``incident`` start, and their scenario: one outage
    from its real onset to its recovery, at its size, where its users complain."""
    start = incident["onset"].floor("D") - pd.Timedelta(days=DAYS_BEFORE)
    outage = {
        "type": "outage",
        "at": incident["onset"] - start,
        "minutes": (incident["recovered"] - incident["onset"]).total_seconds() / 60,
        "size": incident["size"],
        "mix": incident["sources"],
        "problems": incident["problems"],
    }
    return start, {"days": DAYS_BEFORE + DAYS_AFTER, "events": [outage]}


def build_demo(path: str | Path, config: Config | None = None, seed: int = SEED, classifier=None) -> dict:
    """Create the demo database at ``path`` for ``config``'s services
    (default: :func:`demo_config_path`), with its alert episodes detected;
    return how much it holds."""
    config = config or load_config(demo_config_path())
    classifier = classifier or default_classifier()
    db = open_db(path)
    rng = np.random.default_rng(seed)
    providers = sorted({s.provider for s in config.services if s.provider})
    new_updates, _ = store_incident_updates(db, read_official_timelines(providers=providers))
    served = {s.name for s in config.services}
    incidents = [incident for incident in load_incidents() if incident["service"] in served]
    posts = 0
    for number, incident in enumerate(incidents):
        start, scenario = demo_scenario(incident)
        simulated, _ = simulate(
            scenario, rates=RATES[incident["service"]], seed=seed + number, start=start, name=incident["incident_id"]
        )
        posts += store_simulated(db, config, simulated, rng, f"demo{number}", classifier)
    set_meta(db, "demo", True)
    for service in config.services:
        detect_and_store(db, config, service.name)
    db.close()
    return {"posts": posts, "official_updates": new_updates, "incidents": len(incidents)}
