"""Watch's heartbeat: when it last passed and how each source fared, stored
for ``earshot status`` (another process) to read."""

from __future__ import annotations

import os
import socket
import time

import pandas as pd

from earshot.config import Config
from earshot.report import iso
from earshot.store import collector_states, save_heartbeat

HEARTBEAT_EVERY = 5.0


class Heartbeat:
    """Stores ``db``'s heartbeat at most every :data:`HEARTBEAT_EVERY` seconds (or when forced)."""

    def __init__(self, db, config: Config, started_at: pd.Timestamp):
        self.db = db
        self.config = config
        self.started_at = iso(started_at)
        self._at = 0.0

    def beat(self, now: pd.Timestamp, passes: int, in_flight: dict, force: bool = False, **extra) -> bool:
        """Store it, unless one was stored moments ago; return whether it was."""
        if not force and time.monotonic() - self._at < HEARTBEAT_EVERY:
            return False
        states = collector_states(self.db)
        sources = {}
        for source in self.config.sources:
            state = states.get(source.name, {})
            sources[source.name] = {
                "interval": self.config.watch.interval_for(source),
                "last_ok_at": state.get("last_ok_at"),
                "last_error": state.get("last_error"),
                "last_error_at": state.get("last_error_at"),
                "fetching_since": iso(in_flight.get(source.name)),
            }
        save_heartbeat(
            self.db,
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=self.started_at,
            last_pass_at=iso(now),
            passes=passes,
            sources=sources,
            **{"stopped_at": None, **extra},
        )
        self._at = time.monotonic()
        return True
