"""UTC inside, ISO 8601 at the edges.

Every timestamp earshot stores is a string of one shape,
``YYYY-MM-DDTHH:MM:SS+00:00``, so that SQLite compares them correctly as text.

>>> utc_iso("2023-11-08 05:54:00-08:00")
'2023-11-08T13:54:00+00:00'
>>> utc_iso(1699451040)
'2023-11-08T13:44:00+00:00'
"""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime

import pandas as pd


def utc_iso(value) -> str:
    """Normalise a datetime, ISO string, epoch seconds or ``struct_time`` to UTC ISO 8601.

    Naive datetimes and strings without an offset are taken to be UTC.
    """
    if isinstance(value, str) and len(value) == 25 and value.endswith("+00:00") and value[10] == "T":
        return value  # already earshot's own shape: most stored rows
    return utc_datetime(value).replace(microsecond=0).isoformat()


def _fromisoformat(value: str) -> datetime | None:
    """The standard library's parser: much faster than pandas for the common shapes."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def utc_now() -> pd.Timestamp:
    """The current time, as a tz-aware UTC timestamp (the watch's default clock)."""
    return pd.Timestamp.now(tz="UTC")


def now_iso() -> str:
    """The current time as UTC ISO 8601."""
    return utc_iso(datetime.now(UTC))


def utc_datetime(value) -> datetime:
    """A tz-aware UTC datetime from what :func:`utc_iso` accepts, keeping fractions of a second.

    >>> utc_datetime("2023-11-08T13:44:00.250Z")
    datetime.datetime(2023, 11, 8, 13, 44, 0, 250000, tzinfo=datetime.timezone.utc)
    """
    if isinstance(value, time.struct_time):
        # feedparser's *_parsed fields are UTC; mktime would read them as local time.
        value = calendar.timegm(value)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, str) and (moment := _fromisoformat(value)) is not None:
        pass
    else:
        stamp = pd.Timestamp(value)
        moment = (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).to_pydatetime()
    return moment.astimezone(UTC)
