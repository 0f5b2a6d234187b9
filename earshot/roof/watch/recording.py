"""An episode's changes become events, each recorded once with one delivery
per channel that wants it, in the transaction that stores the episode's new
state (the outbox a :class:`earshot.notify.Sender` delivers from)."""

from __future__ import annotations

import logging

import pandas as pd

from earshot.analysis import service_incidents
from earshot.config import Config
from earshot.events import acknowledgment, event_key, event_payload, lead_minutes, reminder_due
from earshot.report import iso
from earshot.store import count_complaints, load_incident_updates, record_episode_events, sample_complaints

from .quiet import QuietWindows

log = logging.getLogger("earshot.watch")


class Recorder:
    """Records the events of ``config``'s services into ``db``, held in ``quiet`` windows."""

    def __init__(self, db, config: Config, quiet: QuietWindows):
        self.db = db
        self.config = config
        self.quiet = quiet

    def later_events(self, service: str, episode: dict, now: pd.Timestamp) -> list[str]:
        """Acknowledgment and reminder of an open episode (they follow the clock, not the rows)."""
        if episode["end"] is not None:
            return []
        names = []
        provider = self.config.provider_of(service)
        if provider:
            since = pd.Timestamp(episode["first_bucket"]) - pd.Timedelta("2h")
            incidents = service_incidents(self.db, self.config, service, since=since)
            official = acknowledgment(episode, incidents, load_incident_updates(self.db, provider, since=since))
            if official is not None:
                episode["official"] = official
                if episode["acknowledged_at"] is None:
                    episode["acknowledged_at"] = official["first_post"]
                    episode["lead_minutes"] = lead_minutes(episode, official)
                    names.append("acknowledged")
        if reminder_due(episode, now, self.config.watch.remind_every):
            episode["reminders"] += 1
            episode["last_reminder_at"] = iso(now)
            names.append("reminder")
        return names

    def record(self, service, episode, names, reports, expected, now) -> list[int]:
        """Store ``episode``'s state and its events ``names``; return the new events' ids."""
        label = self.config.service(service).display_name
        until = pd.Timestamp(episode["end"]) if episode["end"] else now + pd.Timedelta(microseconds=1)
        samples = sample_complaints(self.db, service, pd.Timestamp(episode["first_bucket"]), until) if names else []
        events, deliveries = [], []
        held_until = self.quiet.held_until(service, now) if names else None
        for name in names:
            recent = None
            if name == "reminder":  # is it dying down? what the last stretch brought
                window = pd.Timedelta(minutes=self.config.watch.remind_every)
                recent = count_complaints(self.db, service, now - window, now + pd.Timedelta(microseconds=1))
            payload = event_payload(
                name,
                episode,
                label=label,
                reports=reports,
                expected=expected,
                samples=samples,
                dashboard_url=self.config.watch.dashboard_url,
                created_at=now,
                recent=recent,
                recent_minutes=self.config.watch.remind_every if recent is not None else None,
            )
            level = "possible" if name == "opened" else episode["level"]
            payload["level"] = level
            key = event_key(episode["id"], name, episode["reminders"])
            events.append({"key": key, "event": name, "level": level, "created_at": iso(now), "payload": payload})
            for notifier in self.config.notify:
                if notifier.wants(name, service, level):
                    status = "held" if held_until else "pending"
                    deliveries.append(
                        {"key": key, "notifier": notifier.name, "status": status, "held_until": iso(held_until)}
                    )
            log.info(
                "%s: %s (%s, peak score %.1f)%s",
                episode["id"],
                name,
                level,
                episode["peak_score"],
                f"; held until {held_until:%H:%M} UTC (quiet window)" if held_until else "",
            )
        return record_episode_events(self.db, episode, events, deliveries)
