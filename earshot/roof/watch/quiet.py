"""Quiet windows (``[[silence]]``): events recorded in one are held, not sent,
and each channel gets one ``silence_ended`` summing them up when it ends."""

from __future__ import annotations

import logging

import pandas as pd

from earshot.config import Config
from earshot.report import iso
from earshot.store import held_deliveries_ending, open_watch_episode, release_held

log = logging.getLogger("earshot.watch")


class QuietWindows:
    """The ``[[silence]]`` windows of ``config``, over the outbox in ``db``."""

    def __init__(self, db, config: Config):
        self.db = db
        self.config = config

    def held_until(self, service: str, now: pd.Timestamp) -> pd.Timestamp | None:
        """When the quiet windows ``service`` is in at ``now`` end (None: it is in none)."""
        ends = [s.end_of(now.to_pydatetime(), service) for s in self.config.silences]
        ends = [end for end in ends if end is not None]
        return pd.Timestamp(max(ends)) if ends else None

    def release(self, now: pd.Timestamp) -> int:
        """Record one ``silence_ended`` event per channel whose held events'
        quiet window is over; return how many."""
        held = held_deliveries_ending(self.db, now)
        groups: dict[tuple[str, str], list[dict]] = {}
        for row in held:
            groups.setdefault((row["notifier"], row["held_until"]), []).append(row)
        for (notifier, until), rows in groups.items():
            name = self._named(pd.Timestamp(until))
            lines = [f"{len(rows)} event{'s were' if len(rows) != 1 else ' was'} held while it lasted:"]
            lines += [
                f"  - {r['created_at'][:16].replace('T', ' ')} UTC  {r['episode']}: {r['event']} ({r['level']})"
                for r in rows
            ]
            open_now = {(open_watch_episode(self.db, svc) or {}).get("id") for svc in {r["service"] for r in rows}}
            still_open = sorted({r["episode"] for r in rows} & open_now)
            if still_open:
                lines.append(f"Still open now: {', '.join(still_open)}")
            payload = {
                "event": "silence_ended",
                "silence": name,
                "ended_at": until,
                "held": len(rows),
                "summary": "\n".join(lines),
                "created_at": iso(now),
            }
            event = {
                "key": f"silence/{notifier}/{until}",
                "created_at": iso(now),
                "payload": payload,
                "service": rows[0]["service"],
            }
            release_held(self.db, rows, event, notifier)
            log.info("quiet window %r ended: %d held event(s) summed up for %r", name, len(rows), notifier)
        return len(groups)

    def _named(self, until: pd.Timestamp) -> str:
        moment = (until - pd.Timedelta(microseconds=1)).to_pydatetime()
        for silence in self.config.silences:
            if silence.end_of(moment) == until.to_pydatetime():
                return silence.name
        return "quiet window"
