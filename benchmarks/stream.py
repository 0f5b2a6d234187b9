"""A streaming `earshot watch` against a local Jetstream at ten times the real rate.

The public Jetstream carries about 2.2 million posts a day: 25 a second on
average. Here a local Jetstream (tests/jetstream.py, the real event shape)
sends RATE posts a second (default 250), one in 200 about a configured
service (ordinary chatter that names ChatGPT, mostly not complaints), to a
real `earshot watch` process pinned to one core (taskset), with three days of
ordinary history stored so the detector has a baseline. After a warm-up, 60
people complain in one minute. This process polls the database every 25 ms
from the other core to see when each complaint is stored and when the
`opened` event is recorded. Printed:

- complaint posted (its time_us) -> stored: median and 95th percentile;
- the episode's start (the evidence was in) -> `opened` recorded, and the
  burst's first post -> `opened` (what the detector's need for evidence adds);
- over the run: the stream's lag (now minus the stored cursor), watch's CPU
  share of its core, its peak RSS at the start and end (flat memory or not),
  and the bytes a second the subscription takes;
- then a ramp (RATE x 2, x 4, ...) for --ramp-seconds each, until watch falls
  behind (cursor lag over 5 s at the end of a step): the highest sustained rate.

    python benchmarks/stream.py                   # 10 minutes at 250/s, then the ramp
    python benchmarks/stream.py --minutes 2       # a shorter run
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from earshot.complaints.trained import default_classifier
from earshot.config import load_config, parse_config
from earshot.store import open_db, save_state
from tests.jetstream import JetstreamServer, complaint_burst, post_event, store_history, stream_toml

EARSHOT = str(Path(sys.executable).with_name("earshot"))
CHATTER = [
    "chatgpt wrote my cover letter and it's better than mine",
    "asked chatgpt for a recipe, it invented a vegetable",
    "openai's new model is wild",
    "chatgpt as a rubber duck works surprisingly well",
]
OTHER = ["good morning everyone", "the cat knocked over my coffee again", "new blog post: gardening in winter"]


class Generator(threading.Thread):
    """Publishes ``rate`` posts a second in 20 ms ticks; one in ``every`` names the service."""

    def __init__(self, server: JetstreamServer, rate: float, every: int = 200):
        super().__init__(daemon=True)
        self.server, self.rate, self.every = server, rate, every
        self.stop = threading.Event()
        self.sent = 0
        self.rng = random.Random(7)

    def run(self):
        tick, carry = 0.02, 0.0
        while not self.stop.is_set():
            started = time.monotonic()
            carry += self.rate * tick
            n, carry = int(carry), carry - int(carry)
            now = time.time_ns() // 1000
            events = []
            for i in range(n):
                k = self.sent + i
                text = self.rng.choice(CHATTER) if k % self.every == 0 else self.rng.choice(OTHER)
                events.append(post_event(f"did:plc:g{k % 50000}", f"g{k}", text, time_us=now + i))
            self.server.publish(events)
            self.sent += n
            self.stop.wait(max(0.0, tick - (time.monotonic() - started)))


def proc_stats(pid: int) -> tuple[float, int]:
    """CPU seconds used so far and peak RSS in bytes of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    peak = next(
        int(line.split()[1]) * 1024
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmHWM")
    )
    return cpu, peak


def cursor_lag(db: sqlite3.Connection) -> float:
    row = db.execute("SELECT cursor FROM collector_state WHERE source = 'bsky-stream'").fetchone()
    return time.time() - int(row[0]) / 1e6 if row and row[0] else float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=250.0, help="posts a second (the real average is about 25)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to sustain --rate")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before the burst")
    parser.add_argument("--ramp-seconds", type=float, default=40.0, help="seconds at each higher rate (0: no ramp)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="earshot-stream-"))
    classifier = default_classifier()
    with JetstreamServer() as server:
        config_path = folder / "stream.toml"
        config_path.write_text(stream_toml(server.url, services=["chatgpt"], extra="\n[watch]\nsettle = 10\n"))
        config = parse_config(tomllib.loads(config_path.read_text()), str(config_path))
        config = replace(config, detector=dict(load_config().detector))
        db_path = folder / "stream.db"
        db = open_db(db_path)
        stored = store_history(db, config, "bsky-stream", classifier)
        save_state(db, "bsky-stream", cursor=str(time.time_ns() // 1000))
        db.close()
        print(f"{stored:,} posts of ordinary history stored; watch pinned to one core; {args.rate:g} posts/s")

        generator = Generator(server, args.rate)
        generator.start()
        core = ["taskset", "-c", str(os.cpu_count() - 1)] if os.cpu_count() > 1 else []
        watch = subprocess.Popen(
            [*core, EARSHOT, "watch", "--db", str(db_path), "--config", str(config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        reader = sqlite3.connect(db_path, timeout=30)
        try:
            time.sleep(args.warmup)
            cpu0, peak_start = proc_stats(watch.pid)
            wall0, frames0, bytes0 = time.monotonic(), server.frames_sent, server.bytes_sent

            # The burst: 60 people in one minute, while the stream goes on.
            burst = complaint_burst(60, time.time_ns() // 1000 + 500_000, 1_000_000)
            ids = {f"at://{e['did']}/app.bsky.feed.post/{e['commit']['rkey']}": e["time_us"] for e in burst}
            first_us = min(ids.values())
            pending = list(burst)
            seen: dict[str, float] = {}
            opened_seen = None
            lags = []
            ends = time.monotonic() + args.minutes * 60
            next_lag = time.monotonic()
            while time.monotonic() < ends:
                now_us = time.time_ns() // 1000
                due = [e for e in pending if e["time_us"] <= now_us]
                if due:
                    server.publish(due)
                    pending = [e for e in pending if e["time_us"] > now_us]
                waiting = [i for i in ids if i not in seen]
                if waiting:
                    marks = ",".join("?" * len(waiting))
                    for (post_id,) in reader.execute(f"SELECT post_id FROM posts WHERE post_id IN ({marks})", waiting):
                        seen[post_id] = time.time()
                if opened_seen is None:
                    row = reader.execute(
                        "SELECT e.created_at, w.start FROM events e JOIN watch_episodes w ON w.id = e.episode WHERE e.event = 'opened'"
                    ).fetchone()
                    if row:
                        opened_seen = (time.time(), row[1])
                if time.monotonic() >= next_lag:
                    lags.append(cursor_lag(reader))
                    next_lag += 5
                time.sleep(0.025)
            cpu1, peak_end = proc_stats(watch.pid)
            wall = time.monotonic() - wall0
            frames, sent_bytes = server.frames_sent - frames0, server.bytes_sent - bytes0

            stored_latency = [seen[i] - ids[i] / 1e6 for i in seen]
            print(f"\nburst: {len(seen)}/60 complaints stored")
            if stored_latency:
                print(
                    f"posted -> stored: median {statistics.median(stored_latency):.2f} s, "
                    f"95th percentile {percentile(stored_latency, 0.95):.2f} s (target under 2 s)"
                )
            if opened_seen is not None:
                recorded, start = opened_seen
                # The post that tipped it: the newest complaint already stored when `opened` was.
                tipped = max((ids[i] for i, at in seen.items() if at <= recorded), default=None)
                if tipped is not None:
                    print(
                        f"the post that tipped it posted -> opened recorded: {recorded - tipped / 1e6:.2f} s "
                        f"(target median under 5 s; watch's episode start, the pass that saw it, is {start})"
                    )
                print(
                    f"burst's first post -> opened recorded: {recorded - first_us / 1e6:.1f} s (the detector's need for evidence)"
                )
            else:
                print("no episode opened")
            print(
                f"\n{wall / 60:.1f} min at {frames / wall:.0f} frames/s: watch used {100 * (cpu1 - cpu0) / wall:.0f}% of one core; "
                f"peak RSS {peak_start / 2**20:.0f} MiB after the warm-up, {peak_end / 2**20:.0f} MiB at the end"
            )
            finite = [lag for lag in lags if lag == lag]
            if finite:
                print(
                    f"cursor lag (now - stored cursor): median {statistics.median(finite):.2f} s, worst {max(finite):.2f} s"
                )
            print(
                f"subscription: {sent_bytes / wall / 1024:.0f} KiB/s of JSON at this rate "
                f"({sent_bytes / max(frames, 1):.0f} bytes a post); at the real average of 25 posts/s: "
                f"{25 * sent_bytes / max(frames, 1) / 1024:.0f} KiB/s, {25 * sent_bytes / max(frames, 1) * 86400 / 2**30:.1f} GiB a day"
            )

            rate = args.rate
            while args.ramp_seconds > 0:
                rate *= 2
                generator.rate = rate
                cpu_a, frames_a, at = proc_stats(watch.pid)[0], server.frames_sent, time.monotonic()
                time.sleep(args.ramp_seconds)
                lag = cursor_lag(reader)
                took = time.monotonic() - at
                share = 100 * (proc_stats(watch.pid)[0] - cpu_a) / took
                served = (server.frames_sent - frames_a) / took
                kept = lag < 5
                print(
                    f"ramp: asked {rate:.0f} posts/s, the local server sent {served:.0f}/s for {took:.0f} s: "
                    f"lag {lag:.1f} s, watch {share:.0f}% of a core: {'kept up' if kept else 'fell behind'}"
                )
                if not kept or served < 0.8 * rate:
                    if kept:
                        print(f"the local server tops out at about {served:.0f} posts/s here; watch kept up with that")
                    break
        finally:
            generator.stop.set()
            watch.send_signal(signal.SIGTERM)
            watch.wait(timeout=60)
            reader.close()


if __name__ == "__main__":
    main()
