"""Each service's detector, advanced incrementally from state kept in the database.

A bucket's count is final once its slowest source has had time to report on
it (the *settle* time). The persisted state moves only over final buckets
(:meth:`RollingBaselineDetector.update`, not a refit); the newest, unsettled
buckets are scored on a copy. A state whose settings, code or libraries no
longer match, or that cannot be read, is rebuilt once from the stored posts.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import pickle
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata

import pandas as pd

from detector import RollingBaselineDetector
from earshot import __version__
from earshot.aggregates import source_days
from earshot.analysis import detector_from_config, service_counts, service_sources, without_gaps
from earshot.config import Config
from earshot.events import track
from earshot.store import load_detector_state, open_watch_episode, post_span, save_detector_state

log = logging.getLogger("earshot.watch")
# State format: bump when what is pickled changes shape.
STATE_VERSION = 3
STATE_LIBRARIES = {
    "python": platform.python_version(),
    "earshot": __version__,
    **{name: metadata.version(name) for name in ("numpy", "pandas", "scikit-learn", "scipy")},
}


@dataclass
class Step:
    """One service's detection at one moment: the scored rows since its last
    step, the episode changes they make (``(episode, event names)``), and the
    detector to store once those changes are recorded."""

    service: str
    settled: pd.Timestamp
    rows: pd.DataFrame
    changes: list[tuple[dict, list[str]]] = field(default_factory=list)
    detector: RollingBaselineDetector | None = None  # None: the stored state did not move


class Detection:
    """The detectors of ``config``'s services over the posts in ``db``."""

    def __init__(self, db, config: Config):
        self.db = db
        self.config = config
        self.step = pd.Timedelta(config.counts.bucket)

    def settle_seconds(self, service: str) -> float:
        """How long after a bucket ends its count is taken as final: the
        slowest of the service's sources' interval plus deadline, unless set."""
        if self.config.watch.settle is not None:
            return float(self.config.watch.settle)
        names = set(service_sources(self.config, service))
        sources = [s for s in self.config.sources if s.name in names]
        watch = self.config.watch
        return max((watch.interval_for(s) + watch.deadline_for(s) for s in sources), default=60.0)

    def settled_until(self, service: str, now: pd.Timestamp) -> pd.Timestamp:
        """The end of the newest bucket that is final at ``now``."""
        return (now - pd.Timedelta(seconds=self.settle_seconds(service))).floor(self.step)

    def settled_moved(self, last: pd.Timestamp | None, now: pd.Timestamp) -> bool:
        """Whether a bucket of any service became final between ``last`` and ``now``."""
        return last is not None and any(
            self.settled_until(s.name, now) > self.settled_until(s.name, last) for s in self.config.services
        )

    def fingerprint(self, service: str) -> str:
        """What the persisted state depends on: when it changes, the state is rebuilt."""
        facts = {
            "version": STATE_VERSION,
            # A pickle is only as good as the code that wrote it: an upgrade of any of
            # these rebuilds the state instead of unpickling it into different classes.
            "libraries": STATE_LIBRARIES,
            "detector": detector_from_config(self.config).get_params(),
            "counts": asdict(self.config.counts),
            "sources": service_sources(self.config, service),
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def advance(self, service: str, now: pd.Timestamp) -> Step | None:
        """``service``'s detection at ``now`` (None for a service no source reports on)."""
        if not service_sources(self.config, service):
            return None
        settled = self.settled_until(service, now)
        detector, since, rows, heard, advanced = self._settled_rows(service, settled)
        for attribute in ("result_", "baseline_"):  # a refit's whole result is not state
            detector.__dict__.pop(attribute, None)
        # The newest buckets, the one still filling included, scored on a copy:
        # the persisted state moves only over buckets that are final.
        tail_counts = service_counts(self.db, self.config, service, settled, now + pd.Timedelta(microseconds=1))
        if len(tail_counts):
            tail = copy.deepcopy(detector).update(tail_counts, until=now)
            rows = pd.concat([rows, tail]) if len(rows) else tail
            heard.update(_heard(tail_counts))
        open_episode = open_watch_episode(self.db, service)
        rows = rows[rows.index >= since] if len(rows) else rows
        changes = track(service, open_episode, rows, heard, settled, now, self.step) if len(rows) else []
        if open_episode is not None and not changes:
            changes = [(open_episode, [])]
        return Step(service, settled, rows, changes, detector if advanced else None)

    def keep(self, step: Step) -> None:
        """Store the state ``step`` moved to (after its changes are recorded: a
        crash in between replays the buckets, and recording is idempotent)."""
        if step.detector is not None:
            state = pickle.dumps(step.detector)
            save_detector_state(self.db, step.service, self.fingerprint(step.service), step.settled, state)

    def _settled_rows(self, service: str, settled: pd.Timestamp):
        """The detector advanced to ``settled``; where its new rows start; the
        new rows; who complained in each of their buckets; and whether the
        state moved (and must be stored)."""
        stored = load_detector_state(self.db, service)
        fingerprint = self.fingerprint(service)
        detector = _unpickled(service, stored["state"]) if stored and stored["fingerprint"] == fingerprint else None
        if detector is not None:
            since = pd.Timestamp(stored["settled_until"])
            if settled <= since:
                return detector, since, pd.DataFrame(), {}, False
            counts = service_counts(self.db, self.config, service, since, settled)
            return detector, since, detector.update(counts), _heard(counts), True
        # No state yet, or settings changed: read the stored history once.
        detector = detector_from_config(self.config)
        span = post_span(self.db, service)
        previous = pd.Timestamp(stored["settled_until"]) if stored is not None else None
        if stored is not None and stored["fingerprint"] != fingerprint:
            log.info(
                "%s: detector settings or library versions changed; rebuilding its state from the stored posts", service
            )
        if span is None or span[0].floor(self.step) >= settled:
            return detector, previous or settled, pd.DataFrame(), {}, True
        # Only what the state at `settled` depends on (twice over): a year of
        # backfilled posts would otherwise be counted and scored whole.
        first = max(span[0], settled - 2 * detector.history_needed(self.step)).floor(self.step)
        counts = service_counts(self.db, self.config, service, first, settled)
        result = detector.fit_predict(without_gaps(counts, source_days(self.db, service, first, settled)))
        if previous is None:
            # First start: only an episode still open now is news, from its first bucket.
            quiet = result.index[~result["alert"].to_numpy()]
            previous = quiet[-1] + self.step if len(quiet) else result.index[0]
        return detector, previous, result, _heard(counts[counts.index >= previous]), True


def _unpickled(service: str, state: bytes) -> RollingBaselineDetector | None:
    """The stored detector, or None (said once in the log) when it cannot be
    loaded: a damaged row, or classes that moved since it was written. The
    caller then rebuilds it from the stored posts; watch never dies of it."""
    try:
        detector = pickle.loads(state)
    except Exception as error:  # whatever unpickling raises, the posts are still there
        log.warning(
            "%s: stored detector state unreadable (%s: %s); rebuilding it from the stored posts",
            service,
            type(error).__name__,
            error,
        )
        return None
    if not isinstance(detector, RollingBaselineDetector):
        log.warning(
            "%s: stored detector state is a %s, not a detector; rebuilding it from the stored posts",
            service,
            type(detector).__name__,
        )
        return None
    return detector


def _heard(counts: pd.DataFrame) -> dict[pd.Timestamp, list[str]]:
    """Per bucket, the sources with a complaint in it."""
    heard = {}
    if counts.columns.nlevels > 1:  # (source, problem) columns
        counts = counts.T.groupby(level=0).sum().T
    for bucket, row in counts.iterrows():
        names = [name for name, value in row.items() if value and value > 0]
        if names:
            heard[bucket] = names
    return heard
