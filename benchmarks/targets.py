"""The detector's targets, end to end and live, over many random draws.

    python benchmarks/targets.py              # 10 seeds per scenario
    python benchmarks/targets.py --seeds 3

Each run plays a simulated scenario live against the local API emulator
(``tests/live.py``): posts appear minute by minute, ``collect`` reads every
source, ``detect`` runs on what is stored. Prints, per scenario, how long
after the outage's first complaint ``detect`` first showed the alert, and
for the ordinary days whether anything was raised at all (all ten days
stored and detected at once, then the launch evening and the flood live).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.live import hear_live

OUTAGES = {  # scenario: (target in minutes, minutes of the window before and after the first complaint)
    "major": (5, "20min", "20min"),
    "api-forum": (10, "20min", "30min"),
    "night-partial": (15, "20min", "60min"),
    "ramp": (None, "20min", "60min"),
    "partial-busy": (None, "20min", "40min"),
}
ORDINARY = [("launch evening", ("5D16h", "5D22h")), ("flood", ("7D14h30min", "7D16h30min"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("EARSHOT_REDDIT_CLIENT_ID", "earshot-app")
    os.environ.setdefault("EARSHOT_REDDIT_CLIENT_SECRET", "reddit-secret")
    with tempfile.TemporaryDirectory() as folder:
        for name, (target, before, after) in OUTAGES.items():
            delays = []
            for seed in range(args.seeds):
                heard = hear_live(Path(folder) / f"{name}{seed}.db", name, seed=seed, before=before, after=after)
                delays.append(heard.delay_minutes if heard.delay_minutes is not None else float("inf"))
            shown = ", ".join("missed" if d == float("inf") else f"{d:.0f}" for d in delays)
            met = "" if target is None else f"; within {target} min: {sum(d <= target for d in delays)}/{len(delays)}"
            print(f"{name:<14} minutes to alert: median {np.median(delays):.0f}{met}  [{shown}]")
        from earshot.analysis import detect
        from earshot.config import load_config
        from earshot.roof.simulate import write_scenarios
        from earshot.store import open_db

        # All ten ordinary days at once, written as `earshot simulate` writes them.
        raised = []
        for seed in range(args.seeds):
            path = Path(folder) / f"ordinary-days{seed}.db"
            write_scenarios(path, ["ordinary"], seed=seed)
            raised.append(len(detect(open_db(path), load_config(), "chatgpt")[1]))
        print(f"ordinary, all ten days     alerts raised: {sum(raised)} in {len(raised)} runs of ten days")
        for label, window in ORDINARY:
            alerts = [
                len(
                    hear_live(
                        Path(folder) / f"ordinary{seed}.db", "ordinary", seed=seed, window=window, step="5min"
                    ).episodes
                )
                for seed in range(args.seeds)
            ]
            print(f"ordinary, {label:<15} alerts raised: {sum(alerts)} in {len(alerts)} runs")


if __name__ == "__main__":
    main()
