"""One `earshot collect` (and `watch --once`) pass over every broken source at once: wall time and peak memory.

    python benchmarks/faults.py            # 3 runs of each case
    python benchmarks/faults.py --runs 5

The misbehaving local server of ``tests/faults`` serves one healthy feed
beside twenty broken sources (5xx, 429 with a day's Retry-After, HTML block
page, a stall, a drip, a 200 MB body, a gzip bomb, an entity bomb, resets,
...; see ``tests/faults/test_collect_faults.py``). Each case runs the real
console script as a new process, under a 3 s fetch deadline; the peak
resident memory is the child's own (``getrusage``), start-up included. The
first run caches the complaint scorer, as any first run would, and is not
counted. ``watch --once`` also detects, so it loads scikit-learn.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomlkit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.faults.server import FaultServer
from tests.faults.test_collect_faults import DEADLINE, faulty_raw

EARSHOT = shutil.which("earshot") or str(Path(sys.executable).parent / "earshot")


def one_pass(command: list[str], config: Path, db: Path) -> tuple[float, float, int]:
    """Seconds, peak MB and exit status of one `earshot COMMAND` in a process of its own."""
    db.unlink(missing_ok=True)
    started = time.perf_counter()
    # A child of its own, so RUSAGE_CHILDREN's peak is this process alone.
    ran = subprocess.run(
        [sys.executable, "-c", _CHILD, EARSHOT, *command, "--db", str(db), "--config", str(config)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    peak_kb = int(ran.stderr.strip().splitlines()[-1])
    return seconds, peak_kb / 1024, int(ran.stdout.strip().splitlines()[-1])


# Runs the command, then says its own peak (KB) on stderr and its exit status on stdout.
_CHILD = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
print(code)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    server = FaultServer()
    folder = Path(tempfile.mkdtemp(prefix="earshot-faults-"))
    try:
        raw = faulty_raw(server)
        healthy = {**raw, "sources": [s for s in raw["sources"] if s["name"] == "healthy"]}
        cases = {
            "collect, every broken source": (["collect"], raw),
            "collect, the healthy feed alone": (["collect"], healthy),
            "watch --once, every broken source": (["watch", "--once"], raw),
            "watch --once, the healthy feed": (["watch", "--once"], healthy),
        }
        print(f"fetch deadline {DEADLINE:g} s, {args.runs} runs each (median, worst):")
        for name, (command, case) in cases.items():
            config = folder / "faults.toml"
            config.write_text(tomlkit.dumps(case))
            one_pass(command, config, folder / "warm.db")  # caches the scorer, as a first run would
            runs = [one_pass(command, config, folder / "f.db") for _ in range(args.runs)]
            seconds, peaks, codes = zip(*runs, strict=True)
            print(
                f"  {name:34} {len(case['sources']):2} sources: "
                f"{statistics.median(seconds):5.2f} s wall (worst {max(seconds):.2f}), "
                f"peak RSS {statistics.median(peaks):4.0f} MB (worst {max(peaks):.0f}), exit {set(codes)}"
            )
        print(f"  (this benchmark's own process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
