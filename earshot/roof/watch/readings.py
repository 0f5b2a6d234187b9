"""What watch knows, in one read-only :class:`Snapshot` the server reads.

Watch's own thread takes a snapshot after a pass (at most once a second, and
at once when events were recorded) and swaps it in whole; the server only ever
reads the newest one. So serving never touches the database or watch's
objects, and a scrape costs the formatting of a few dozen numbers.

Counters (posts, complaints, events) start from what the database holds and
grow by what is stored after, so they only grow across restarts (until
``earshot prune`` deletes posts: Prometheus takes a smaller value as a reset).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from earshot.config import Config
from earshot.health import watch_status
from earshot.report import watch_episode_record
from earshot.store import event_tallies, latest_event_payloads, load_watch_episodes, post_tallies

LEVELS = {"possible": 1, "confirmed": 2}
# Watch's pass time: idle passes take milliseconds, a rebuild from history seconds.
PASS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TAKE_EVERY = 1.0


@dataclass(frozen=True)
class Snapshot:
    """Watch at one moment. ``status`` is ``earshot status --json``'s record;
    ``episodes`` are watch's episodes as records, oldest first; ``feed`` the
    newest events' payloads, newest first."""

    last_pass_at: float
    status: dict
    scores: dict[str, float]
    posts: dict[str, int]
    complaints: dict[tuple[str, str], int]
    events: dict[tuple[str, str], int]
    episodes: list[dict] = field(default_factory=list)
    feed: list[dict] = field(default_factory=list)


class Readings:
    """The newest :class:`Snapshot` of a watch over ``config``, and its Prometheus registry."""

    def __init__(self, config: Config):
        self.config = config
        self.registry = CollectorRegistry(auto_describe=True)
        self.pass_seconds = Histogram(
            "earshot_watch_pass_seconds",
            "Time one watch pass took (storing, detecting, recording; not the wait between passes).",
            buckets=PASS_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Families(self))
        self._snapshot: Snapshot | None = None
        self._taken = 0.0
        self._posts_after = 0
        self._posts: dict[tuple[str, str | None], list[int]] = {}
        self._events_after = 0
        self._events: dict[tuple[str, str], int] = {}
        self._feed: list[dict] = []

    def current(self) -> Snapshot | None:
        """The newest snapshot (None before watch's first)."""
        return self._snapshot

    def take(self, db, now: pd.Timestamp, scores: dict[str, float], force: bool = False) -> bool:
        """Read ``db`` into a new snapshot (on watch's thread), unless one was taken
        under :data:`TAKE_EVERY` seconds ago; ``scores`` are the services' newest scores."""
        if not force and time.monotonic() - self._taken < TAKE_EVERY:
            return False
        new_posts, self._posts_after = post_tallies(db, self._posts_after)
        for key, (posts, complaints) in new_posts.items():
            tally = self._posts.setdefault(key, [0, 0])
            tally[0] += posts
            tally[1] += complaints
        new_events, after = event_tallies(db, self._events_after)
        for key, n in new_events.items():
            self._events[key] = self._events.get(key, 0) + n
        if after != self._events_after or self._snapshot is None:
            self._feed = latest_event_payloads(db)
        self._events_after = after
        posts: dict[str, int] = {}
        complaints: dict[tuple[str, str], int] = {}
        for (source, service), (n, complained) in self._posts.items():
            posts[source] = posts.get(source, 0) + n
            if service is not None:
                complaints[(service, source)] = complained
        episodes = load_watch_episodes(db)
        self._snapshot = Snapshot(
            last_pass_at=now.timestamp(),
            status=watch_status(db, self.config, now, episodes),
            scores=dict(scores),
            posts=posts,
            complaints=complaints,
            events=dict(self._events),
            episodes=[watch_episode_record(e) for e in episodes],
            feed=list(self._feed),
        )
        self._taken = time.monotonic()
        return True


# The families /metrics serves: name (a counter's without its _total), kind, help, labels.
# Their names and labels are a contract: Prometheus rules and Grafana boards use them.
FAMILIES = {
    "earshot_source_up": ("gauge", "1 when the source's last fetch succeeded, else 0.", ["source"]),
    "earshot_source_last_success_timestamp_seconds": (
        "gauge",
        "When the source's last successful fetch ended (Unix time).",
        ["source"],
    ),
    "earshot_posts_stored": ("counter", "Posts stored, per source.", ["source"]),
    "earshot_complaints": (
        "counter",
        "Posts stored that the classifier took for complaints.",
        ["service", "source"],
    ),
    "earshot_score": ("gauge", "The detector's score of the service's newest bucket (-log10 p).", ["service"]),
    "earshot_alert_level": ("gauge", "0 normal, 1 possible outage, 2 confirmed outage.", ["service"]),
    "earshot_service_has_data": (
        "gauge",
        "1 when a post of the service was stored in the last 24 hours; 0: no data (a 0 level means nothing then).",
        ["service"],
    ),
    "earshot_events": ("counter", "Events recorded, per service and event.", ["service", "event"]),
    "earshot_notifications_pending": ("gauge", "Deliveries waiting to be sent, per channel.", ["channel"]),
    "earshot_watch_last_pass_timestamp_seconds": ("gauge", "When watch's last pass ended (Unix time).", []),
}
FAMILY_TYPES = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily}


class _Families:
    """The snapshot's numbers as Prometheus metric families, built at each scrape."""

    def __init__(self, readings: Readings):
        self.readings = readings

    def describe(self):
        return []  # which labels appear follows the config; nothing to check at registration

    def collect(self):
        families = {
            name: FAMILY_TYPES[kind](name, doc, labels=labels) for name, (kind, doc, labels) in FAMILIES.items()
        }
        snapshot = self.readings.current()
        if snapshot is not None:
            for name, labels, value in samples(snapshot, self.readings.config):
                families[name].add_metric(labels, value)
        yield from families.values()


def samples(snapshot: Snapshot, config: Config):
    """``(family, label values, value)`` for every number in ``snapshot``."""
    status = snapshot.status
    for source in status["sources"]:
        yield "earshot_source_up", [source["source"]], 1.0 if source["ok"] else 0.0
        if source["last_ok_at"]:
            stamp = pd.Timestamp(source["last_ok_at"]).timestamp()
            yield "earshot_source_last_success_timestamp_seconds", [source["source"]], stamp
    # Every configured source (0 before its first post), and any the store still holds.
    for name in sorted({s.name for s in config.sources} | set(snapshot.posts)):
        yield "earshot_posts_stored", [name], snapshot.posts.get(name, 0)
    for (service, source), n in sorted(snapshot.complaints.items()):
        yield "earshot_complaints", [service, source], n
    levels: dict[str, int] = {}
    for episode in status["open_episodes"]:
        levels[episode["service"]] = max(levels.get(episode["service"], 0), LEVELS[episode["level"]])
    for service in status["services"]:
        name = service["service"]
        yield "earshot_alert_level", [name], levels.get(name, 0)
        yield "earshot_service_has_data", [name], 0.0 if service["state"] == "no data" else 1.0
        if name in snapshot.scores:
            yield "earshot_score", [name], snapshot.scores[name]
    for (service, event), n in sorted(snapshot.events.items()):
        yield "earshot_events", [service, event], n
    backlog = {row["notifier"]: row["pending"] for row in status["notifications"]}
    for notifier in config.notify:
        yield "earshot_notifications_pending", [notifier.name], backlog.get(notifier.name, 0)
    yield "earshot_watch_last_pass_timestamp_seconds", [], snapshot.last_pass_at
