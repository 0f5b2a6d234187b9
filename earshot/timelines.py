"""Import the bundled official incident timelines (2021-2024) into a database.

The data is the artifact of Chu et al., "An Empirical Characterization of
Outages and Incidents in Public Services for Large Language Models" (ICPE 2025),
shipped under ``earshot/data/official-incidents/``: one row per incident with the UTC
time each stage (investigating, identified, monitoring, resolved, postmortem)
was posted.

>>> updates = read_official_timelines(providers=["openai"])
>>> seed = [u for u in updates if u["incident_id"] == "00fpy0yxrx1q" and u["stage"] == "investigating"]
>>> seed[0]["posted_at"], seed[0]["title"]
('2023-11-08T13:54:00+00:00', 'Major Outage across ChatGPT and API')
"""

from __future__ import annotations

import csv
from pathlib import Path

from detector.evaluation import STAGES

from .config import TIMELINES_CSV
from .timeutil import utc_iso

COMPONENT_COLUMNS = (
    "ChatGPT",
    "API",
    "Playground",
    "Labs",
    "api.anthropic.com",
    "claude.ai",
    "console.anthropic.com",
    "Character.AI",
)
INCIDENT_PAGES = {"openai": "https://status.openai.com/incidents/"}


def read_official_timelines(path: str | Path = TIMELINES_CSV, providers=None) -> list[dict]:
    """Incident-update rows from an ``incident_stages.csv`` file, one per posted stage.

    A provider in ``providers`` that the file does not hold is a ``ValueError``
    (a typo must not look like a provider with no incidents).
    """
    wanted = {p.lower() for p in providers} if providers else None
    updates = []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    held = {row["provider"].lower() for row in rows}
    if wanted and wanted - held:
        raise ValueError(
            f"no provider {', '.join(sorted(wanted - held))} in {path} (it holds: {', '.join(sorted(held))})"
        )
    for row in rows:
        provider = row["provider"].lower()
        if wanted and provider not in wanted:
            continue
        components = ",".join(c for c in COMPONENT_COLUMNS if row.get(c) == "1")
        page = INCIDENT_PAGES.get(provider)
        for stage in STAGES:
            if row.get(f"{stage}_flag") != "1" or not row.get(f"{stage}_timestamp"):
                continue
            updates.append(
                {
                    "provider": provider,
                    "incident_id": row["incident_id"],
                    "update_id": stage,
                    "title": row["Incident_Title"],
                    "impact": row["incident_impact_level"],
                    "components": components,
                    "stage": stage,
                    "posted_at": utc_iso(row[f"{stage}_timestamp"]),
                    "text": row[f"{stage}_description"],
                    "url": page + row["incident_id"] if page else None,
                }
            )
    return updates
