"""What every source kind provides, and the pieces they share.

A *reader* knows one kind of place (Hacker News, a Discourse forum, ...). It
answers two questions:

- ``latest(state)``: what is new since the last poll (live collection);
- ``history(window, cursor)``: one page of what was posted inside a time
  window, and where the next page starts (backfill).

Readers only fetch and translate; storing, checkpoints, progress and error
reports belong to :mod:`collectors.collect` and :mod:`collectors.backfill`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from earshot.config import Source
from earshot.kinds import Kind
from earshot.timeutil import utc_iso

from .http import FetchError, HttpClient


class NoHistory(Exception):
    """This kind of source cannot be read back in time (a plain feed, say)."""


@dataclass(frozen=True)
class Window:
    """A half-open time range ``[start, end)`` in UTC.

    >>> from datetime import datetime, timezone
    >>> w = Window(datetime(2023, 11, 8, tzinfo=timezone.utc), datetime(2023, 11, 9, tzinfo=timezone.utc))
    >>> str(w)
    '2023-11-08T00:00:00+00:00..2023-11-09T00:00:00+00:00'
    >>> [str(half.end) for half in w.halves()]
    ['2023-11-08 12:00:00+00:00', '2023-11-09 00:00:00+00:00']
    """

    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{utc_iso(self.start)}..{utc_iso(self.end)}"

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    def halves(self) -> tuple[Window, Window]:
        middle = self.start + (self.span // 2)
        return Window(self.start, middle), Window(middle, self.end)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass
class Page:
    """One page of a window's history.

    ``cursor`` is where the next page starts (JSON-serialisable), or None when
    the window is done. ``overfull`` says the window holds more than the API
    will page through, so it must be split and ``items`` are not used.
    """

    items: list[dict]
    cursor: Any = None
    overfull: bool = False


@dataclass
class Batch:
    """What a live poll found, and the collector state to save with it."""

    items: list[dict]
    state: dict = field(default_factory=dict)
    not_modified: bool = False
    warning: str | None = None
    # Posts their authors deleted (ids, as stored): their text is removed.
    deleted: list = field(default_factory=list)


class Reader:
    """Base of every source kind. Subclasses set ``facts`` (from :data:`earshot.kinds.KINDS`) and
    implement :meth:`latest` and, where the service keeps history, :meth:`history`."""

    # What is true of the kind (earshot.kinds): its name, rate, home, backfill.
    facts: ClassVar[Kind]
    # Derived from ``facts`` when a subclass is made, for the code that reads them.
    kind: ClassVar[str]
    default_base_url: ClassVar[str | None] = None
    min_interval: ClassVar[float] = 1.0
    has_history: ClassVar[bool] = True
    # What the items are: "posts" or "official updates".
    what: ClassVar[str] = "posts"
    # Backfill window; readers that hit result caps split it further.
    window: ClassVar[timedelta] = timedelta(days=1)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        facts = cls.__dict__.get("facts")
        if facts is not None:
            cls.kind, cls.default_base_url, cls.min_interval = facts.name, facts.default_base_url, facts.min_interval
            cls.has_history = facts.backfill
            cls.what = "official updates" if facts.official else "posts"

    def __init__(self, source: Source, client: HttpClient):
        self.source = source
        self.client = client
        self.base_url = (source.base_url or self.default_base_url or "").rstrip("/")
        interval = source.options.get("min_interval", self.min_interval)
        for url in self.hosts():
            client.limit_host(url, float(interval))

    def hosts(self) -> list[str]:
        """Every address this reader talks to (each gets the rate limit)."""
        return [self.source.url or self.base_url]

    def option(self, key: str, default=None):
        return self.source.options.get(key, default)

    def latest(self, state: dict) -> Batch:
        raise NotImplementedError

    def history(self, window: Window, cursor) -> Page:
        self.require_history()
        raise NotImplementedError

    def require_history(self) -> None:
        """Raise :class:`NoHistory`, saying why, when this kind cannot be read back in time."""
        if not self.has_history:
            raise NoHistory(
                f"source {self.source.name!r} is an {self.kind} feed, which serves only its newest entries; "
                "it has no history to backfill"
            )


def secret(name: str) -> str | None:
    """A credential from the environment (never from config, never stored)."""
    value = os.environ.get(name, "").strip()
    return value or None


def refused(error: FetchError, *names: str) -> FetchError:
    """``error`` from a login, saying which variables hold the credentials
    when the server refused them (never their values)."""
    if error.status not in (400, 401, 403):
        return error
    return FetchError(f"{error}: the server refused the credentials in {' and '.join(names)}", error.response)


def need(value, what: str, source: Source):
    if value in (None, "", []):
        raise FetchError(f"source {source.name!r} needs {what} in its config")
    return value


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())
