"""What every page is handed: the database, the config, the service and range chosen.

Pages read their data through :mod:`dashboard.data` with these values, so two
pages asking the same question share one cached answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import pandas as pd
import sqlite_utils

from earshot.config import Config, Service
from earshot.report import safe_link
from earshot.store import data_stamp, last_activity

# A collector that stored a fetch (or an error) this recently is running: pages refresh.
LIVE_WITHIN = pd.Timedelta(minutes=10)


@dataclass(frozen=True)
class View:
    db: sqlite_utils.Database
    db_path: str
    config_path: str | None
    config: Config
    service: str
    since: pd.Timestamp  # the sidebar's range, for History and Tuning
    until: pd.Timestamp

    @property
    def spec(self) -> Service:
        return self.config.service(self.service)

    @property
    def stamp(self) -> tuple:
        """Read afresh on every call, so an auto-refresh sees new data."""
        return data_stamp(self.db)

    @property
    def freq(self) -> str:
        return self.config.counts.bucket


def replay_link(service: str, moment: pd.Timestamp) -> str:
    """The address of the Now page as it was at ``moment``.

    >>> replay_link("chatgpt", pd.Timestamp("2023-11-08T14:00Z"))
    '?page=now&service=chatgpt&at=2023-11-08T14%3A00%3A00Z'
    """
    return "?" + urlencode({"page": "now", "service": service, "at": moment.strftime("%Y-%m-%dT%H:%M:%SZ")})


def collector_running(db: sqlite_utils.Database, now: pd.Timestamp | None = None) -> pd.Timestamp | None:
    """When a collector or backfill last stored something, if within :data:`LIVE_WITHIN` of ``now``."""
    now = now or pd.Timestamp.now(tz="UTC")
    last = last_activity(db)
    return last if last is not None and now - last <= LIVE_WITHIN else None


def post_table(posts: pd.DataFrame) -> pd.DataFrame:
    """Posts as the dashboard shows them: plain text, and a link only for http(s)
    URLs (no link column when no post has one, as in the demo: not a column of "None")."""
    table = pd.DataFrame(
        {
            "time (UTC)": posts["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "source": posts["source"],
            "problem": posts["problem"].fillna("unknown"),
            "text": (posts["title"].fillna("") + " " + posts["text"].fillna("")).str.strip(),
            "link": posts["url"].map(safe_link).astype("string"),
        }
    )
    return table if table["link"].notna().any() else table.drop(columns="link")


def minutes(delta: pd.Timedelta) -> str:
    """A duration as people say it.

    >>> minutes(pd.Timedelta(minutes=95)), minutes(pd.Timedelta(minutes=9))
    ('1 h 35 min', '9 min')
    """
    total = int(delta.total_seconds() // 60)
    return f"{total // 60} h {total % 60} min" if total >= 60 else f"{total} min"
