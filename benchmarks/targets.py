"""The detector's targets, end to end and live, over many random draws.

    python benchmarks/targets.py              # 10 seeds per scenario
    python benchmarks/targets.py --seeds 3
    python benchmarks/targets.py --only api-busy night-partial bursty

Each run plays a simulated scenario live against the local API emulator
(``tests/live.py``): posts appear minute by minute, ``collect`` reads every
source, ``detect`` runs on what is stored. Prints, per scenario, how long
after the outage's first complaint ``detect`` first showed the alert, and
for the ordinary days whether anything was raised at all (all ten days
stored and detected at once, and the stress cases of rough ordinary chatter
likewise; then the launch evening and the flood live).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from earshot.roof.scenarios import SCENARIOS, STRESS
from tests.live import hear_live

OUTAGES = {  # scenario: (target in minutes, minutes of the window before and after the first complaint)
    "major": (5, "20min", "20min"),
    "api-busy": (15, "20min", "40min"),
    "night-partial": (15, "20min", "60min"),
    "api-forum": (10, "20min", "30min"),
    "ramp": (None, "20min", "60min"),
    "partial-busy": (None, "20min", "40min"),
}
ORDINARY = [("launch evening", ("5D16h", "5D22h")), ("flood", ("7D14h30min", "7D16h30min"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--only", nargs="+", metavar="SCENARIO", help="play only these (outages and ordinary days)")
    args = parser.parse_args()
    wanted = set(args.only or [*OUTAGES, "ordinary", *STRESS, *(label for label, _ in ORDINARY)])
    os.environ.setdefault("EARSHOT_REDDIT_CLIENT_ID", "earshot-app")
    os.environ.setdefault("EARSHOT_REDDIT_CLIENT_SECRET", "reddit-secret")
    with tempfile.TemporaryDirectory() as folder:
        for name, (target, before, after) in OUTAGES.items():
            if name not in wanted:
                continue
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

        # All the ordinary days at once, written as `earshot simulate` writes them.
        for name in ("ordinary", *STRESS):
            if name not in wanted:
                continue
            raised, days = [], SCENARIOS[name]["days"]
            for seed in range(args.seeds):
                path = Path(folder) / f"{name}-days{seed}.db"
                write_scenarios(path, [name], seed=seed)
                raised.append(len(detect(open_db(path), load_config(), "chatgpt")[1]))
            print(f"{name + ', all ' + str(days) + ' days':<26} alerts raised: {sum(raised)} in {len(raised)} runs")
        for label, window in ORDINARY:
            if label not in wanted:
                continue
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
