"""Hear a simulated scenario live, end to end: posts appear on the emulated
services as the clock moves, `collect` reads every source after each step,
`detect` runs on what has been stored.

The days before the live window are stored first, as a backfill would have
left them; then the clock advances ``step`` at a time through the window.
Used by ``tests/test_live.py`` and ``benchmarks/targets.py``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from collectors.collect import collect_all
from collectors.http import HttpClient
from detector.simulate import simulate
from earshot.analysis import detect
from earshot.complaints.trained import default_classifier
from earshot.config import load_config, parse_config
from earshot.ingest import ingest
from earshot.roof.scenarios import SOURCE_RATES
from earshot.roof.simulate import post_texts, simulate_scenario
from earshot.store import open_db
from tests.emulator import Emulator, Item, config_toml, serve

# Where each simulated source's posts appear, and the config source that reads them.
PLATFORM = {
    "reddit-chatgpt": "reddit",
    "reddit-openai": "reddit",
    "hackernews": "hn",
    "openai-forum": "discourse",
    "mastodon-chatgpt": "mastodon",
}
SOURCE = {"reddit": "reddit", "hn": "hackernews", "discourse": "forum", "mastodon": "mastodon"}


def live_config(base: str, keep: tuple[str, ...] = (), extra: str = ""):
    """The emulator's sources that `collect` reads live here (and those named
    in ``keep``), polled with no pause, the bundled detector settings, and the
    TOML ``extra`` ([watch], [[notify]]...) on top."""
    config = parse_config(tomllib.loads(config_toml(base) + extra), "live.toml")
    sources = tuple(
        replace(source, options={**source.options, "min_interval": 0})
        for source in config.sources
        if source.name in SOURCE.values() or source.name in keep
    )
    return replace(config, sources=sources, detector=dict(load_config().detector))


def scenario_posts(name: str, seed: int, start: pd.Timestamp | None = None):
    """A simulated scenario's posts, worded, and its outage labels (days of
    plain chatter from ``start`` for ``name = "chatter:3"``)."""
    if name.startswith("chatter:"):
        days = float(name.split(":")[1])
        posts, labels = simulate({"days": days, "events": []}, rates=SOURCE_RATES, seed=seed, start=start)
    else:
        posts, labels = simulate_scenario(name, seed=seed, **({"start": start} if start is not None else {}))
    posts["text"] = post_texts(posts, np.random.default_rng(seed))
    return posts, labels


def store_past(db, config, posts: pd.DataFrame, classifier) -> None:
    """Store ``posts`` as a backfill would have left them, each under the config source that reads its platform."""
    for source_name, group in posts.groupby(posts["source"].map(PLATFORM).map(SOURCE)):
        rows = [
            {"source": source_name, "post_id": f"past-{i}", "author": a, "created_at": t.isoformat(), "text": x}
            for i, a, t, x in zip(group.index, group["author"], group["created_at"], group["text"], strict=True)
        ]
        ingest(db, config, config.source(source_name), rows, classifier)


def publish(emulator: Emulator, posts: pd.DataFrame) -> None:
    """Make ``posts`` appear on the emulated platforms, each on its own."""
    emulator.extend(
        [
            Item(len(emulator.corpus) + n, t.to_pydatetime(), a, x, n % 2 == 0, PLATFORM[s])
            for n, (t, a, x, s) in enumerate(
                zip(posts["created_at"], posts["author"], posts["text"], posts["source"], strict=True)
            )
        ]
    )


@dataclass
class Heard:
    first_complaint: pd.Timestamp | None  # the outage's first complaint (None: no outage)
    alerted_at: pd.Timestamp | None  # when `detect` first showed the episode
    episodes: pd.DataFrame  # what `detect` shows at the end of the window
    collected: int  # posts stored by `collect` in the window

    @property
    def delay_minutes(self) -> float | None:
        if self.first_complaint is None or self.alerted_at is None:
            return None
        return (self.alerted_at - self.first_complaint).total_seconds() / 60


def hear_live(db_path, name: str, seed: int = 0, before="30min", after="60min", step="1min", window=None) -> Heard:
    """Play scenario ``name`` live around its outage (or over ``window``, a
    ``(start, end)`` pair of offsets from the scenario start, for one without)."""
    posts, labels = scenario_posts(name, seed)
    classifier = default_classifier()
    if len(labels):
        first = labels.loc[0, "first_complaint"]
        start, end = first.floor("min") - pd.Timedelta(before), first + pd.Timedelta(after)
    else:
        first = None
        start, end = (posts["created_at"].min().floor("D") + pd.Timedelta(w) for w in window)

    emulator = Emulator([], incidents=0)
    with serve(emulator) as base:
        config = live_config(base)
        db = open_db(db_path)
        store_past(db, config, posts[posts["created_at"] < start], classifier)

        live = posts[(posts["created_at"] >= start) & (posts["created_at"] < end)]
        alerted_at, collected, clock = None, 0, start
        fresh = pd.DataFrame()
        with HttpClient(timeout=10, attempts=2, min_interval=0) as client:
            while clock < end:
                clock += pd.Timedelta(step)
                # A post appears when it is published, which for a slow feed is after it was written.
                shown = live["published_at"] if "published_at" in live else live["created_at"]
                publish(emulator, live[(shown >= clock - pd.Timedelta(step)) & (shown < clock)])
                reports = collect_all(db, config, client, classifier)
                assert all(r.ok for r in reports), [r.line() for r in reports]
                collected += sum(r.new for r in reports)
                _, found = detect(db, config, "chatgpt", until=clock)
                fresh = found[found["first_bucket"] >= start - pd.Timedelta("5min")]
                if alerted_at is None and len(fresh):
                    alerted_at = clock
    return Heard(first, alerted_at, fresh, collected)


def polled_sources_toml(base: str, names: tuple[str, ...] = ("hackernews", "forum", "reddit", "mastodon")) -> str:
    """``[[sources]]`` blocks for the emulator's polled platforms, about ChatGPT, polled with no pause."""
    blocks = {
        "hackernews": ("hackernews", f'base_url = "{base}/hn"\nquery = "chatgpt"'),
        "forum": ("discourse", f'base_url = "{base}/forum"'),
        "reddit": (
            "reddit",
            f'base_url = "{base}/reddit"\noauth_url = "{base}/reddit-oauth"\nsubreddit = "ChatGPT"',
        ),
        "mastodon": ("mastodon", f'instances = ["{base}/mastodon-a"]\ntag = "chatgpt"'),
    }
    return "".join(
        f'''
[[sources]]
name = "{name}"
kind = "{blocks[name][0]}"
service = "chatgpt"
min_interval = 0
{blocks[name][1]}
'''
        for name in names
    )


def stalled_source_toml(stall_url: str) -> str:
    """A ``[[sources]]`` feed at ``stall_url`` (see :func:`stalling`), given up on after 3 s."""
    return f'''
[[sources]]
name = "stalled-feed"
kind = "rss"
url = "{stall_url}/feed"
service = "chatgpt"
deadline = 3
'''


def stalling(release):
    """A WSGI app that answers nothing for 90 s (or until ``release`` is set): a source that hangs."""

    def app(environ, start_response):
        release.wait(90)
        start_response("200 OK", [("Content-Type", "application/rss+xml")])
        return [b"<rss version='2.0'><channel><title>late</title></channel></rss>"]

    return app


def wait_for(what, condition, seconds=90.0, process=None):
    """``condition()``'s first true value, polled; the test fails after ``seconds`` or when ``process`` exits."""
    import time

    import pytest

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"a process exited with {process.returncode} while waiting for {what}")
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"no {what} within {seconds:.0f} s")


def feed_config(url: str, **watch):
    """A config watching ChatGPT through one plain feed at ``url``, polled every five minutes."""
    return parse_config(
        {
            "services": [{"name": "chatgpt", "terms": ["chatgpt"]}],
            "sources": [{"name": "feed", "kind": "rss", "url": url, "interval": 300}],
            "watch": {"stale_after": 60, **watch},
        },
        "feed.toml",
    )
