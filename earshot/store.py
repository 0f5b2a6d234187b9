"""earshot's SQLite store, through sqlite-utils.

Tables:

- ``posts``: one row per public post, keyed by ``(source, post_id)``.
- ``incident_updates``: official status-page updates, one row per posted update.
- ``collector_state``: per source, the conditional-GET validators, cursor and
  the last success or error.
- ``alerts``: alert episodes found by ``earshot detect`` (tier and confirmation time included).
- ``backfill_jobs``: per source and range, how far a backfill got.
- ``meta``: key/value facts about the database (for example that it is a demo).

This module owns every table: all of earshot's SQL is here and in
:mod:`earshot.aggregates`. Writes are idempotent: storing the same rows
twice stores them once.

>>> db = open_db(":memory:")
>>> store_posts(db, [{"source": "r", "post_id": "1", "created_at": "2023-11-08T13:45:00Z",
...                   "text": "is chatgpt down?"}])
(1, 0)
>>> store_posts(db, [{"source": "r", "post_id": "1", "created_at": "2023-11-08T13:45:00Z",
...                   "text": "is chatgpt down?"}])
(0, 1)
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pandas as pd
import sqlite_utils
from sqlite_utils.migrations import Migrations

from .timeutil import now_iso, utc_iso

migrations = Migrations("earshot")

POST_COLUMNS = {
    "source": str,
    "post_id": str,
    "url": str,
    "author_hash": str,
    "created_at": str,
    "title": str,
    "text": str,
    "service": str,
    "is_complaint": int,
    "problem": str,
    "collected_at": str,
}
UPDATE_COLUMNS = {
    "provider": str,
    "incident_id": str,
    "update_id": str,
    "title": str,
    "impact": str,
    "components": str,
    "stage": str,
    "posted_at": str,
    "text": str,
    "url": str,
    "collected_at": str,
}


@migrations()
def m001_posts_incidents_state(db: sqlite_utils.Database) -> None:
    db["posts"].create(POST_COLUMNS, pk=("source", "post_id"), not_null={"created_at"})
    db["incident_updates"].create(UPDATE_COLUMNS, pk=("provider", "incident_id", "update_id"), not_null={"posted_at"})
    db["collector_state"].create(
        {
            "source": str,
            "etag": str,
            "last_modified": str,
            "cursor": str,
            "last_ok_at": str,
            "last_error": str,
            "last_error_at": str,
        },
        pk="source",
    )
    db["meta"].create({"key": str, "value": str}, pk="key")


@migrations()
def m002_alerts_and_time_indexes(db: sqlite_utils.Database) -> None:
    db["alerts"].create(
        {
            "service": str,
            "start": str,
            "end": str,
            "peak_score": float,
            "sources": str,
            "detected_at": str,
        },
        pk=("service", "start"),
    )
    db["posts"].create_index(["service", "created_at"], if_not_exists=True)
    db["incident_updates"].create_index(["provider", "posted_at"], if_not_exists=True)


@migrations()
def m003_backfill_jobs(db: sqlite_utils.Database) -> None:
    # One row per backfill range: its checkpoint, so a stopped run resumes.
    db["backfill_jobs"].create(
        {
            "source": str,
            "since": str,
            "until": str,
            "done_until": str,
            "window_end": str,
            "window_seconds": float,
            "cursor": str,
            "pages": int,
            "windows": int,
            "new": int,
            "duplicates": int,
            "status": str,
            "error": str,
            "started_at": str,
            "updated_at": str,
        },
        pk=("source", "since", "until"),
    )


@migrations()
def m004_alert_levels(db: sqlite_utils.Database) -> None:
    # Episodes have two tiers now: the highest reached, and when it was confirmed.
    db["alerts"].add_column("level", str)
    db["alerts"].add_column("confirmed_at", str)


@migrations()
def m005_covering_indexes(db: sqlite_utils.Database) -> None:
    # The dashboard's counts read only these columns: answering from the index
    # alone is ten times faster than visiting a million rows.
    db["posts"].create_index(
        ["service", "is_complaint", "created_at", "source", "author_hash"],
        index_name="idx_posts_complaints",
        if_not_exists=True,
    )
    # Per source: its newest post, and whether it stored anything on a given day.
    db["posts"].create_index(
        ["source", "created_at", "service"], index_name="idx_posts_source_created_at", if_not_exists=True
    )


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) an earshot database and bring its schema up to date.

    WAL lets the dashboard read while a collector writes; the busy timeout makes
    a writer wait for a lock instead of failing at once.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(sqlite3.connect(str(path), timeout=30, check_same_thread=False))
    db.execute("PRAGMA busy_timeout = 30000")
    if str(path) != ":memory:":
        db.enable_wal()
    migrations.apply(db)
    return db


def schema_version(db: sqlite_utils.Database) -> int:
    """How many of earshot's migrations this database has applied."""
    return len(migrations.applied(db))


def author_hash(source: str, author: str | None) -> str | None:
    """A stable pseudonym for an author, so reporters can be counted without storing names.

    >>> author_hash("reddit", "alice") == author_hash("reddit", "alice")
    True
    """
    if not author:
        return None
    return hashlib.blake2b(f"{source}\0{author}".encode(), digest_size=8).hexdigest()


def store_posts(db: sqlite_utils.Database, posts: list[dict]) -> tuple[int, int]:
    """Insert posts not yet stored; return ``(new, duplicates)``.

    A post already stored under the same ``(source, post_id)`` is left as it is.
    """
    rows = []
    stamp = now_iso()
    for post in posts:
        row = {column: post.get(column) for column in POST_COLUMNS}
        row["post_id"] = str(row["post_id"])
        row["created_at"] = utc_iso(row["created_at"])
        row["collected_at"] = row["collected_at"] or stamp
        if row["is_complaint"] is not None:
            row["is_complaint"] = int(bool(row["is_complaint"]))
        rows.append(row)
    return _insert_new(db, "posts", rows, ("source", "post_id"))


def store_incident_updates(db: sqlite_utils.Database, updates: list[dict]) -> tuple[int, int]:
    """Insert official updates not yet stored; return ``(new, duplicates)``."""
    rows = []
    stamp = now_iso()
    for update in updates:
        row = {column: update.get(column) for column in UPDATE_COLUMNS}
        row["posted_at"] = utc_iso(row["posted_at"])
        row["collected_at"] = row["collected_at"] or stamp
        rows.append(row)
    return _insert_new(db, "incident_updates", rows, ("provider", "incident_id", "update_id"))


def _insert_new(db, table: str, rows: list[dict], pk: tuple[str, ...]) -> tuple[int, int]:
    # Plain executemany: sqlite-utils' insert_all spends most of its time
    # inspecting each value, and these rows already have the table's columns.
    unique = {tuple(row[k] for k in pk): row for row in rows}
    if not unique:
        return 0, 0
    columns = list(next(iter(unique.values())))
    sql = "INSERT OR IGNORE INTO [{}] ({}) VALUES ({})".format(
        table, ", ".join(f"[{c}]" for c in columns), ", ".join("?" for _ in columns)
    )
    with db.atomic():
        before = db.conn.total_changes
        db.conn.executemany(sql, [tuple(row[c] for c in columns) for row in unique.values()])
        new = db.conn.total_changes - before
    return new, len(rows) - new


def post_span(
    db: sqlite_utils.Database, service: str, complaints_only: bool = False
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """When the first and the newest stored post of ``service`` were made (None: no post).

    >>> db = open_db(":memory:")
    >>> _ = store_posts(db, [{"source": "r", "post_id": "1", "created_at": "2023-11-08T13:45:00Z", "service": "chatgpt"}])
    >>> post_span(db, "chatgpt")
    (Timestamp('2023-11-08 13:45:00+0000', tz='UTC'), Timestamp('2023-11-08 13:45:00+0000', tz='UTC'))
    >>> post_span(db, "chatgpt", complaints_only=True) is None
    True
    """
    sql = "SELECT min(created_at), max(created_at) FROM posts WHERE service = ?"
    if complaints_only:
        sql += " AND is_complaint = 1"
    first, last = db.execute(sql, [service]).fetchone()
    return None if first is None else (pd.Timestamp(first), pd.Timestamp(last))


def get_state(db: sqlite_utils.Database, source: str) -> dict:
    """The stored collector state of ``source`` (empty dict if none)."""
    rows = list(db["collector_state"].rows_where("source = ?", [source]))
    return rows[0] if rows else {}


def save_state(db: sqlite_utils.Database, source: str, **fields) -> None:
    """Update some fields of ``source``'s collector state, keeping the others."""
    db["collector_state"].upsert({"source": source, **fields}, pk="source")


def collector_states(db: sqlite_utils.Database) -> dict[str, dict]:
    """Every source's collector state, by source name."""
    return {row["source"]: row for row in db["collector_state"].rows}


def last_activity(db: sqlite_utils.Database) -> pd.Timestamp | None:
    """When a collector last stored a fetch (or its error), or a running backfill a page."""
    last = db.execute(
        "SELECT max(t) FROM (SELECT max(last_ok_at) AS t FROM collector_state"
        " UNION ALL SELECT max(last_error_at) FROM collector_state"
        " UNION ALL SELECT max(updated_at) FROM backfill_jobs WHERE status = 'running')"
    ).fetchone()[0]
    return None if last is None else pd.Timestamp(last)


def data_stamp(db: sqlite_utils.Database) -> tuple:
    """Changes whenever a post, an official update, a fetch, a backfill step or an alert is stored.

    ``max(rowid)`` is a single index probe, so asking costs microseconds.
    """
    return db.execute(
        "SELECT (SELECT max(rowid) FROM posts), (SELECT max(rowid) FROM incident_updates),"
        " (SELECT max(max(coalesce(last_ok_at, '')), max(coalesce(last_error_at, ''))) FROM collector_state),"
        " (SELECT max(updated_at) FROM backfill_jobs), (SELECT max(detected_at) FROM alerts)"
    ).fetchone()


def load_backfill_job(db: sqlite_utils.Database, source: str, since, until) -> dict | None:
    """The checkpoint of ``source``'s backfill of ``[since, until)``, if one was started."""
    rows = list(
        db["backfill_jobs"].rows_where(
            "source = ? AND since = ? AND until = ?", [source, utc_iso(since), utc_iso(until)]
        )
    )
    return rows[0] if rows else None


def save_backfill_job(db: sqlite_utils.Database, job: dict) -> None:
    """Write a backfill checkpoint; inside the caller's ``db.atomic()`` it commits with the page it follows."""
    db["backfill_jobs"].upsert(job, pk=("source", "since", "until"))


def load_backfill_jobs(db: sqlite_utils.Database) -> pd.DataFrame:
    """Every backfill checkpoint, least recently updated first."""
    columns = list(db["backfill_jobs"].columns_dict)
    return pd.DataFrame(list(db["backfill_jobs"].rows_where(order_by="updated_at")), columns=columns)


def newest_official_update(db: sqlite_utils.Database, provider: str) -> pd.Timestamp | None:
    """When ``provider``'s newest stored official update was posted."""
    newest = db.execute("SELECT max(posted_at) FROM incident_updates WHERE provider = ?", [provider]).fetchone()[0]
    return None if newest is None else pd.Timestamp(newest)


def post_texts_after(db: sqlite_utils.Database, rowid: int, limit: int) -> list[dict]:
    """Up to ``limit`` stored posts after ``rowid`` (``rowid``, ``title``, ``text``,
    ``is_complaint``, ``problem``), in rowid order: for classifying them again."""
    return list(
        db.query(
            "SELECT rowid, title, text, is_complaint, problem FROM posts WHERE rowid > ? ORDER BY rowid LIMIT ?",
            [rowid, limit],
        )
    )


def set_verdicts(db: sqlite_utils.Database, verdicts: list[tuple[int, str | None, int]]) -> None:
    """Rewrite ``(is_complaint, problem, rowid)`` of stored posts, in one transaction."""
    with db.atomic():
        db.conn.executemany("UPDATE posts SET is_complaint = ?, problem = ? WHERE rowid = ?", verdicts)


def set_meta(db: sqlite_utils.Database, key: str, value) -> None:
    db["meta"].upsert({"key": key, "value": json.dumps(value)}, pk="key")


def get_meta(db: sqlite_utils.Database, key: str, default=None):
    rows = list(db["meta"].rows_where("key = ?", [key]))
    return json.loads(rows[0]["value"]) if rows else default


def replace_alerts(db: sqlite_utils.Database, service: str, episodes: pd.DataFrame) -> None:
    """Make the stored alerts of ``service`` exactly ``episodes`` (rerunning is safe)."""
    stamp = now_iso()
    rows = [
        {
            "service": service,
            "start": utc_iso(row.start),
            "end": None if pd.isna(row.end) else utc_iso(row.end),
            "level": getattr(row, "level", None),
            "confirmed_at": None if pd.isna(getattr(row, "confirmed_at", pd.NaT)) else utc_iso(row.confirmed_at),
            "peak_score": float(row.peak_score),
            "sources": json.dumps(list(row.sources)),
            "detected_at": stamp,
        }
        for row in episodes.itertuples()
    ]
    with db.atomic():
        db.execute("DELETE FROM alerts WHERE service = ?", [service])
        if rows:
            db["alerts"].insert_all(rows, pk=("service", "start"))


def load_posts(
    db: sqlite_utils.Database,
    service: str | None = None,
    since=None,
    until=None,
    complaints_only: bool = False,
    limit: int | None = None,
) -> pd.DataFrame:
    """Stored posts as a DataFrame with a tz-aware ``created_at`` column, oldest first."""
    equal = {"service": service, "is_complaint": 1 if complaints_only else None}
    return _load_between(db, "posts", POST_COLUMNS, "created_at", equal, since, until, limit)


def load_incident_updates(
    db: sqlite_utils.Database, provider: str | None = None, since=None, until=None
) -> pd.DataFrame:
    """Stored official updates with a tz-aware ``posted_at`` column, oldest first."""
    return _load_between(db, "incident_updates", UPDATE_COLUMNS, "posted_at", {"provider": provider}, since, until)


def _load_between(db, table, columns, time_column, equal, since, until, limit=None) -> pd.DataFrame:
    """Rows of ``table`` matching ``equal`` (None values ignored) with
    ``since <= time_column < until``, oldest first. Column names are ours;
    every value is a parameter."""
    where, params = [], []
    for column, value in equal.items():
        if value is not None:
            where.append(f"[{column}] = ?")
            params.append(value)
    if since is not None:
        where.append(f"[{time_column}] >= ?")
        params.append(utc_iso(since))
    if until is not None:
        where.append(f"[{time_column}] < ?")
        params.append(utc_iso(until))
    sql = f"SELECT * FROM [{table}]"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY [{time_column}]"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    frame = pd.DataFrame(list(db.query(sql, params)), columns=list(columns))
    frame[time_column] = pd.to_datetime(frame[time_column], utc=True, format="ISO8601")
    return frame


def load_alerts(db: sqlite_utils.Database, service: str | None = None) -> pd.DataFrame:
    """Stored alert episodes with tz-aware ``start`` / ``end`` columns."""
    columns = ["service", "start", "end", "level", "confirmed_at", "peak_score", "sources", "detected_at"]
    sql, params = "SELECT * FROM alerts", []
    if service is not None:
        sql += " WHERE service = ?"
        params.append(service)
    frame = pd.DataFrame(list(db.query(sql + " ORDER BY start", params)), columns=columns)
    for column in ("start", "end", "confirmed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    frame["sources"] = frame["sources"].map(json.loads)
    return frame
