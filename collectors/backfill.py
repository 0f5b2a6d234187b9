"""Backfill: read a source's history between two dates, oldest first, resumably.

The range is walked in windows (each reader has a sensible size; a window the
API cannot page through is split in half). After every page, the page's items
and the position reached are written in one transaction, so a backfill killed
at any moment (SIGKILL included) resumes from the last stored page, with
nothing read twice and nothing skipped.

>>> from datetime import datetime, timedelta, timezone
>>> day = datetime(2023, 11, 8, tzinfo=timezone.utc)
>>> [str(w) for w in plan_windows(day, day + timedelta(hours=30), timedelta(hours=12))]  # doctest: +NORMALIZE_WHITESPACE
['2023-11-08T00:00:00+00:00..2023-11-08T12:00:00+00:00',
 '2023-11-08T12:00:00+00:00..2023-11-09T00:00:00+00:00',
 '2023-11-09T00:00:00+00:00..2023-11-09T06:00:00+00:00']
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import sqlite_utils
from tqdm import tqdm

from earshot.config import Config
from earshot.ingest import ingest
from earshot.store import load_backfill_job, save_backfill_job, writing
from earshot.timeutil import now_iso, utc_datetime, utc_iso
from earshot.words import counted

from .base import Reader, Window
from .http import FetchError


class BackfillError(Exception):
    """A backfill stopped; ``str(error)`` names the source, the window and the cause."""


def plan_windows(since: datetime, until: datetime, size: timedelta | None) -> list[Window]:
    """The windows covering ``[since, until)``, oldest first (``size`` None: one window)."""
    size = size or (until - since)
    windows, start = [], since
    while start < until:
        windows.append(Window(start, min(start + size, until)))
        start = windows[-1].end
    return windows


def plan_lines(
    name: str, since: datetime, until: datetime, size: timedelta | None, job: Job | None = None
) -> list[str]:
    """What ``backfill --dry-run`` prints: the windows, and the checkpoint if there is one.

    >>> from datetime import datetime, timezone
    >>> day = datetime(2023, 11, 8, tzinfo=timezone.utc)
    >>> print("\\n".join(plan_lines("hn", day, day + timedelta(days=2), timedelta(days=1))))
    hn: 2 windows of 1 day, 2023-11-08T00:00:00+00:00..2023-11-10T00:00:00+00:00
      2023-11-08T00:00:00+00:00..2023-11-09T00:00:00+00:00
      2023-11-09T00:00:00+00:00..2023-11-10T00:00:00+00:00
    """
    windows = plan_windows(since, until, size)
    lines = [f"{name}: {len(windows)} windows of {describe_span(size or (until - since))}, {Window(since, until)}"]
    if job:
        lines.append(f"{name}: checkpoint: {job.status}, done up to {job.done_until}, {job.new} stored")
    return lines + [f"  {window}" for window in windows]


def describe_span(span: timedelta) -> str:
    """``30 days``, ``6 hours``, ``90 minutes``: the largest unit that divides it.

    >>> describe_span(timedelta(minutes=90))
    '90 minutes'
    """
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return str(span)


@dataclass
class Job:
    """A backfill's checkpoint: everything before ``done_until`` is stored, and
    the window being read has reached ``cursor``."""

    source: str
    since: str
    until: str
    done_until: str
    window_end: str | None = None
    window_seconds: float | None = None
    cursor: str | None = None
    pages: int = 0
    windows: int = 0
    new: int = 0
    duplicates: int = 0
    status: str = "running"
    error: str | None = None
    started_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


def load_job(db: sqlite_utils.Database, source: str, since: datetime, until: datetime) -> Job | None:
    """The checkpoint of ``source``'s backfill of ``[since, until)``, if one was started."""
    row = load_backfill_job(db, source, since, until)
    return Job(**row) if row else None


def save_job(db: sqlite_utils.Database, job: Job) -> None:
    """Store the checkpoint; inside the caller's transaction it commits with the page it follows."""
    job.updated_at = now_iso()
    save_backfill_job(db, asdict(job))


class LogProgress:
    """Plain lines on stderr, one per finished window (for logs and pipes)."""

    def __init__(self, name: str, total_windows: float, done_windows: float, stream=None):
        self.name, self.total = name, total_windows
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.done_at_start = done_windows
        self.posts = 0

    def page(self, new: int, duplicates: int) -> None:
        self.posts += new

    def window(self, window: Window, new: int, duplicates: int, done_windows: float, job: Job) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = (done_windows - self.done_at_start) / elapsed
        eta = (self.total - done_windows) / rate if rate > 0 else 0
        self.say(
            f"{window}: {new} new, {duplicates} duplicates "
            f"({_windows(done_windows)}/{_windows(self.total)} windows, {job.new:,} stored, "
            f"{self.posts / elapsed:,.0f} stored/s, ETA {timedelta(seconds=round(eta))})"
        )

    def say(self, message: str) -> None:
        print(f"{self.name}: {message}", file=self.stream, flush=True)

    def retrying(self, message: str) -> None:
        """A request is being retried ("retrying in 4 s: HTTP 503, attempt 2/6"): a log line."""
        self.say(message)

    def close(self) -> None:
        pass


def _windows(count: float) -> str:
    """Whole windows as whole numbers, a window cut short to a tenth: "7", "2.5"."""
    return f"{count:.1f}".removesuffix(".0")


class _WindowBar(tqdm):
    """tqdm with ``{windows}`` for its format: "2/7", whole windows as whole numbers."""

    @property
    def format_dict(self):
        counts = super().format_dict
        return {**counts, "windows": f"{_windows(counts['n'])}/{_windows(counts['total'] or 0)}"}


class BarProgress(LogProgress):
    """A tqdm bar: windows done, items stored, rate and ETA."""

    def __init__(self, name: str, total_windows: float, done_windows: float, stream=None):
        super().__init__(name, total_windows, done_windows, stream)
        self.bar = _WindowBar(
            total=round(total_windows, 2),
            initial=round(done_windows, 2),
            desc=name,
            unit="window",
            file=self.stream,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {windows} windows [{elapsed}<{remaining}{postfix}]",
        )

    def page(self, new: int, duplicates: int) -> None:
        super().page(new, duplicates)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self.bar.set_postfix_str(f"{self.posts:,} stored, {self.posts / elapsed:,.0f} stored/s", refresh=True)

    def window(self, window: Window, new: int, duplicates: int, done_windows: float, job: Job) -> None:
        self.bar.n = round(done_windows, 2)
        self.bar.refresh()

    def say(self, message: str) -> None:
        self.bar.write(f"{self.name}: {message}", file=self.stream)

    def retrying(self, message: str) -> None:
        self.bar.set_postfix_str(message, refresh=True)

    def close(self) -> None:
        self.bar.close()


@dataclass
class BackfillReport:
    """What one run stored; ``total_new`` counts every run of the same range."""

    source: str
    new: int
    duplicates: int
    windows: int
    pages: int
    what: str = "posts"
    already_done: bool = False
    resumed_at: str | None = None
    total_new: int = 0

    def line(self) -> str:
        """
        >>> BackfillReport("hn", 781, 0, 3, 40, resumed_at="2023-11-02T00:00:00+00:00", total_new=1200).line()
        'hn: backfill done: 781 new posts, 0 duplicates skipped, 3 windows, 40 pages (resumed at 2023-11-02T00:00:00+00:00; 1,200 stored for this range in all)'
        """
        if self.already_done:
            return (
                f"{self.source}: this range was already backfilled "
                f"({counted(self.total_new, self.what.removesuffix('s'))} stored); "
                "use --restart to read it again"
            )
        line = (
            f"{self.source}: backfill done: {counted(self.new, 'new ' + self.what.removesuffix('s'))}, "
            f"{counted(self.duplicates, 'duplicate')} skipped, {counted(self.windows, 'window')}, "
            f"{counted(self.pages, 'page')}"
        )
        if self.resumed_at:
            line += f" (resumed at {self.resumed_at}; {self.total_new:,} stored for this range in all)"
        return line


def backfill(
    db: sqlite_utils.Database,
    config: Config,
    reader: Reader,
    classifier,
    since: datetime,
    until: datetime,
    window: timedelta | None = None,
    progress_factory=None,
    restart: bool = False,
    min_interval: float | None = None,
) -> BackfillReport:
    """Read the history of ``reader``'s source in ``[since, until)`` into
    ``db``, judging posts with ``classifier``, resuming a stopped run of the
    same range. Raises :class:`BackfillError` on a failure, keeping
    everything stored before it."""
    source = reader.source
    reader.require_history()
    if min_interval is not None:
        for host in reader.hosts():
            reader.client.limit_host(host, min_interval)
    size = window or reader.window or (until - since)
    job = None if restart else load_job(db, source.name, since, until)
    if job and job.status == "done":
        return BackfillReport(source.name, 0, 0, 0, 0, reader.what, already_done=True, total_new=job.new)
    resumed_at = job.done_until if job and (job.pages or job.windows) else None
    job = job or Job(source.name, utc_iso(since), utc_iso(until), done_until=utc_iso(since))
    before = (job.new, job.duplicates, job.windows, job.pages)
    job.status, job.error = "running", None
    with writing(db):
        save_job(db, job)

    total = (until - since) / size
    progress = (progress_factory or LogProgress)(source.name, total, (utc_datetime(job.done_until) - since) / size)
    if resumed_at:
        progress.say(f"resuming at {resumed_at} ({job.new:,} {reader.what} already stored for this range)")
    heard_retries, reader.client.on_retry = reader.client.on_retry, progress.retrying
    try:
        _walk(db, config, reader, classifier, job, until, size, progress)
    except KeyboardInterrupt:
        job.status = "stopped"
        with writing(db):
            save_job(db, job)
        raise
    except FetchError as error:
        job.status, job.error = "failed", str(error)
        with writing(db):
            save_job(db, job)
        window_text = f"{job.done_until}..{job.window_end}"
        kept = (
            f"The {job.new:,} {reader.what} stored before it are kept"
            if job.new
            else f"No {reader.what} of this range were stored before it"
        )
        raise BackfillError(
            f"{source.name}: window {window_text} failed: {error}. {kept}; run the same command again to resume."
        ) from None
    finally:
        reader.client.on_retry = heard_retries
        progress.close()
    job.status = "done"
    with writing(db):
        save_job(db, job)
    new, duplicates, windows, pages = (
        now - then for now, then in zip((job.new, job.duplicates, job.windows, job.pages), before, strict=True)
    )
    return BackfillReport(
        source.name, new, duplicates, windows, pages, reader.what, resumed_at=resumed_at, total_new=job.new
    )


def _walk(
    db, config: Config, reader: Reader, classifier, job: Job, until: datetime, default_size: timedelta, progress
) -> None:
    size = timedelta(seconds=job.window_seconds) if job.window_seconds else default_size
    start = utc_datetime(job.done_until)
    end = utc_datetime(job.window_end) if job.window_end else min(start + size, until)
    cursor = json.loads(job.cursor) if job.cursor else None
    since = utc_datetime(job.since)
    window_new = window_duplicates = 0
    while start < until:
        current = Window(start, end)
        job.window_end = utc_iso(end)
        page = reader.history(current, cursor)
        if page.overfull:
            first, _ = current.halves()
            progress.say(f"{current}: more results than the API pages through; splitting it in half")
            size = first.span
            end, cursor = first.end, None
            job.window_end, job.window_seconds, job.cursor = utc_iso(end), size.total_seconds(), None
            with writing(db):
                save_job(db, job)
            continue
        with writing(db):
            new, duplicates = ingest(db, config, reader.source, page.items, classifier)
            job.pages += 1
            job.new += new
            job.duplicates += duplicates
            if page.cursor is None:
                job.windows += 1
                job.done_until, job.cursor = utc_iso(end), None
                job.window_end = None
            else:
                job.cursor = json.dumps(page.cursor)
            save_job(db, job)
        window_new += new
        window_duplicates += duplicates
        progress.page(new, duplicates)
        if page.cursor is not None:
            cursor = page.cursor
            continue
        progress.window(current, window_new, window_duplicates, (end - since) / default_size, job)
        window_new = window_duplicates = 0
        if size < default_size and job.pages and len(page.items) == 0:
            size = min(size * 2, default_size)  # a quiet stretch after a split: widen again
            job.window_seconds = size.total_seconds()
        start, end, cursor = end, min(end + size, until), None
