"""earshot's SQLite store, through sqlite-utils.

Tables:

- ``posts``: one row per public post, keyed by ``(source, post_id)``.
- ``incident_updates``: official status-page updates, one row per posted update.
- ``collector_state``: per source, the conditional-GET validators, cursor and
  the last success or error.
- ``alerts``: alert episodes found by ``earshot detect`` (tier and confirmation time included).
- ``backfill_jobs``: per source and range, how far a backfill got.
- ``meta``: key/value facts about the database (for example that it is a demo).
- ``watch_episodes``, ``events``, ``deliveries``: what ``earshot watch`` saw
  happen to each episode, every event it recorded, and each event's delivery
  to each notifier (the outbox: written in the same transaction as the event).
- ``detector_states``: per service, the watch's incremental detector state.
- ``watch_heartbeat``: when the watch last passed, and how each source fared.

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

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Callable
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


@migrations()
def m006_watch(db: sqlite_utils.Database) -> None:
    db["watch_episodes"].create(
        {
            "id": str,
            "service": str,
            "first_bucket": str,
            "start": str,
            "level": str,
            "confirmed_at": str,
            "end": str,
            "acknowledged_at": str,
            "official": str,
            "lead_minutes": float,
            "reminders": int,
            "last_reminder_at": str,
            "peak_score": float,
            "peak_count": int,
            "reports": int,
            "expected": float,
            "sources": str,
            "updated_at": str,
        },
        pk="id",
    )
    db["watch_episodes"].create_index(["service", "end"])
    # One row per event; ``key`` (episode/event[/n]) makes recording it twice impossible.
    db["events"].create(
        {
            "id": int,
            "key": str,
            "episode": str,
            "service": str,
            "event": str,
            "level": str,
            "created_at": str,
            "payload": str,
        },
        pk="id",
    )
    db["events"].create_index(["key"], unique=True)
    db["deliveries"].create(
        {
            "event_id": int,
            "notifier": str,
            "status": str,
            "attempts": int,
            "next_attempt_at": str,
            "held_until": str,
            "last_error": str,
            "delivered_at": str,
        },
        pk=("event_id", "notifier"),
        foreign_keys=[("event_id", "events", "id")],
    )
    db["deliveries"].create_index(["notifier", "status", "next_attempt_at"])
    db["detector_states"].create(
        {"service": str, "fingerprint": str, "settled_until": str, "state": bytes, "updated_at": str}, pk="service"
    )
    db["watch_heartbeat"].create(
        {
            "name": str,
            "pid": int,
            "host": str,
            "started_at": str,
            "last_pass_at": str,
            "stopped_at": str,
            "passes": int,
            "sources": str,
        },
        pk="name",
    )


@migrations()
def m007_problem_counts(db: sqlite_utils.Database) -> None:
    # The detector counts complaints per problem type too: the covering index carries it.
    db["posts"].create_index(
        ["service", "is_complaint", "created_at", "source", "author_hash", "problem"],
        index_name="idx_posts_complaints_by_problem",
        if_not_exists=True,
    )
    db.execute("DROP INDEX IF EXISTS idx_posts_complaints")
    db["watch_episodes"].add_column("problems", str)


@migrations()
def m008_retry_at(db: sqlite_utils.Database) -> None:
    # When a source's server asked not to be asked again before (a long Retry-After).
    db["collector_state"].add_column("retry_at", str)


@contextlib.contextmanager
def writing(db: sqlite_utils.Database):
    """A write transaction that takes the write lock at once (``BEGIN IMMEDIATE``);
    inside another, a savepoint of it.

    In WAL mode a transaction that reads first and writes later fails at once
    with "database is locked" when another connection (watch's sender, a
    collector, the dashboard's writes) committed in between: its snapshot is
    stale and SQLite cannot wait that out. Taking the lock first makes it wait
    (the busy timeout) like any other writer.

    >>> db = open_db(":memory:")
    >>> with writing(db):
    ...     save_state(db, "hn", cursor="7")
    >>> get_state(db, "hn")["cursor"]
    '7'
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def open_db(path: str | Path, on_upgrade: Callable[[str], None] | None = None) -> sqlite_utils.Database:
    """Open (creating if needed) an earshot database and bring its schema up to date.

    WAL lets the dashboard read while a collector writes; the busy timeout makes
    a writer wait for a lock instead of failing at once. ``on_upgrade`` hears
    a line naming the migrations applied to a database made by an older
    earshot (not those that make a new one).
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(sqlite3.connect(str(path), timeout=30, check_same_thread=False))
    db.execute("PRAGMA busy_timeout = 30000")
    if str(path) != ":memory:":
        db.enable_wal()
    older = [m.name for m in migrations.pending(db)] if schema_version(db) else []
    migrations.apply(db)
    if older and on_upgrade is not None:
        on_upgrade(f"upgraded the database at {path}: {', '.join(older)}")
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


def forget_posts(db: sqlite_utils.Database, source: str, post_ids: list[str]) -> int:
    """Remove the text (and title) of posts their authors deleted; return how
    many stored posts lost theirs. The row stays, so counts and episodes made
    from it do not change; what the person withdrew is no longer kept."""
    changed = 0
    for post_id in post_ids:
        changed += db.execute(
            "UPDATE posts SET text = '', title = NULL WHERE source = ? AND post_id = ? AND (text != '' OR title IS NOT NULL)",
            [source, str(post_id)],
        ).rowcount
    return changed


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
    with writing(db):
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
    where = "service = :service" + (" AND is_complaint = 1" if complaints_only else "")
    # Two subqueries: SQLite reads a lone min() or max() off the index's end,
    # but min() and max() together from every row (0.2 s on a million posts).
    sql = f"SELECT (SELECT min(created_at) FROM posts WHERE {where}), (SELECT max(created_at) FROM posts WHERE {where})"
    first, last = db.execute(sql, {"service": service}).fetchone()
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
    """Changes whenever a post, an official update, a fetch, a backfill step or an alert is stored,
    or anything is pruned.

    ``max(rowid)`` is a single index probe, so asking costs microseconds.
    """
    return db.execute(
        "SELECT (SELECT max(rowid) FROM posts), (SELECT max(rowid) FROM incident_updates),"
        " (SELECT max(max(coalesce(last_ok_at, '')), max(coalesce(last_error_at, ''))) FROM collector_state),"
        " (SELECT max(updated_at) FROM backfill_jobs), (SELECT max(detected_at) FROM alerts),"
        " (SELECT value FROM meta WHERE key = 'pruned_at')"
    ).fetchone()


def prune(db: sqlite_utils.Database, before, alerts: bool = False, official: bool = False) -> dict[str, int]:
    """Delete the posts made before ``before`` (and, if asked, the alert
    episodes that started and the official updates posted before it), in one
    transaction; return how many rows of each went. The file keeps its size
    until it is vacuumed (:func:`backup` writes a compact copy).

    >>> db = open_db(":memory:")
    >>> _ = store_posts(db, [{"source": "r", "post_id": str(i), "created_at": f"2023-11-0{i}T00:00:00Z"}
    ...                      for i in (1, 2, 3)])
    >>> prune(db, "2023-11-03")
    {'posts': 2}
    >>> prune(db, "2023-11-03")
    {'posts': 0}
    """
    cutoff = utc_iso(before)
    tables = {"posts": "created_at"} | ({"alerts": "start"} if alerts else {})
    tables |= {"incident_updates": "posted_at"} if official else {}
    gone = {}
    with writing(db):
        for table, column in tables.items():
            gone[table] = db.execute(f"DELETE FROM [{table}] WHERE [{column}] < ?", [cutoff]).rowcount
        if any(gone.values()):
            db["meta"].upsert({"key": "pruned_at", "value": now_iso()}, pk="key")
    return gone


def backup(source, path) -> Path:
    """A consistent, compact copy of the database at ``source`` at ``path``
    (SQLite's ``VACUUM INTO``: safe while collectors write; readers and
    writers carry on). Refuses to overwrite a file. The copy is of the
    database as it is: its schema is not upgraded first, so a backup taken
    before an upgrade restores what the older earshot wrote."""
    target = Path(path)
    if target.exists():
        raise FileExistsError(f"{target} exists; backups never overwrite a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(source, timeout=30)) as conn:
        conn.execute("VACUUM INTO ?", [str(target)])
    return target


def integrity(path) -> str:
    """SQLite's own check of the database file at ``path``: ``"ok"``, else
    what it found wrong (``PRAGMA integrity_check``'s first line)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def load_backfill_job(db: sqlite_utils.Database, source: str, since, until) -> dict | None:
    """The checkpoint of ``source``'s backfill of ``[since, until)``, if one was started."""
    rows = list(
        db["backfill_jobs"].rows_where(
            "source = ? AND since = ? AND until = ?", [source, utc_iso(since), utc_iso(until)]
        )
    )
    return rows[0] if rows else None


def save_backfill_job(db: sqlite_utils.Database, job: dict) -> None:
    """Write a backfill checkpoint; inside the caller's ``writing(db)`` it commits with the page it follows."""
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
    ``service``, ``is_complaint``, ``problem``), in rowid order: for classifying them again."""
    return list(
        db.query(
            "SELECT rowid, title, text, service, is_complaint, problem FROM posts WHERE rowid > ? ORDER BY rowid LIMIT ?",
            [rowid, limit],
        )
    )


def set_verdicts(db: sqlite_utils.Database, verdicts: list[tuple[int, str | None, int]]) -> None:
    """Rewrite ``(is_complaint, problem, rowid)`` of stored posts, in one transaction."""
    with writing(db):
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
    with writing(db):
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


# -- earshot watch: episodes, events and their outbox ------------------------------


def open_watch_episode(db: sqlite_utils.Database, service: str) -> dict | None:
    """The episode of ``service`` the watch has open (at most one), or None."""
    rows = list(db["watch_episodes"].rows_where("service = ? AND [end] IS NULL", [service], order_by="start desc"))
    return _episode_row(rows[0]) if rows else None


def load_watch_episodes(db: sqlite_utils.Database, service: str | None = None) -> list[dict]:
    """Every episode the watch has seen, oldest first."""
    where, params = ("service = ?", [service]) if service else (None, [])
    return [_episode_row(row) for row in db["watch_episodes"].rows_where(where, params, order_by="start")]


def _episode_row(row: dict) -> dict:
    return {
        **row,
        "sources": json.loads(row["sources"] or "[]"),
        "problems": json.loads(row.get("problems") or "[]"),
        "official": json.loads(row["official"] or "null"),
    }


def record_episode_events(
    db: sqlite_utils.Database, episode: dict, events: list[dict], deliveries: list[dict]
) -> list[int]:
    """Store an episode's new state, its new events and their deliveries in
    one transaction, so an event can be neither lost nor recorded twice;
    return the ids of the events that were new.

    Each event is ``{"key", "event", "level", "created_at", "payload"}``; each
    delivery ``{"key", "notifier", "status", "held_until"}`` names its event by key.
    """
    row = {
        **episode,
        "sources": json.dumps(episode.get("sources", [])),
        "problems": json.dumps(episode.get("problems", [])),
        "official": json.dumps(episode.get("official")),
        "updated_at": now_iso(),
    }
    new_ids = {}
    with writing(db):
        db["watch_episodes"].upsert(row, pk="id")
        for event in events:
            cursor = db.execute(
                "INSERT OR IGNORE INTO events (key, episode, service, event, level, created_at, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    event["key"],
                    episode["id"],
                    episode["service"],
                    event["event"],
                    event["level"],
                    event["created_at"],
                    json.dumps(event["payload"]),
                ],
            )
            if cursor.rowcount:
                new_ids[event["key"]] = cursor.lastrowid
        for delivery in deliveries:
            if delivery["key"] in new_ids:
                db.execute(
                    "INSERT INTO deliveries (event_id, notifier, status, attempts, next_attempt_at, held_until)"
                    " VALUES (?, ?, ?, 0, ?, ?)",
                    [
                        new_ids[delivery["key"]],
                        delivery["notifier"],
                        delivery["status"],
                        delivery.get("next_attempt_at"),
                        delivery.get("held_until"),
                    ],
                )
    return list(new_ids.values())


def due_deliveries(db: sqlite_utils.Database, notifier: str, now, limit: int = 20) -> list[dict]:
    """Deliveries to ``notifier`` to send at ``now``, in the order their events
    happened, each with its event (``event``, ``episode``, ``service``, ``payload``).

    A channel's messages keep their order: while its oldest waiting delivery
    is backing off after a failure, the ones after it wait too.
    """
    rows = db.execute(
        "SELECT d.event_id, d.notifier, d.attempts, d.next_attempt_at, e.key, e.event, e.episode, e.service,"
        " e.level, e.payload FROM deliveries d JOIN events e ON e.id = d.event_id"
        " WHERE d.notifier = ? AND d.status = 'pending' ORDER BY d.event_id LIMIT ?",
        [notifier, limit],
    ).fetchall()
    columns = ["event_id", "notifier", "attempts", "next_attempt_at", "key", "event", "episode", "service", "level"]
    due = []
    for row in rows:
        if row[3] is not None and row[3] > utc_iso(now):
            break
        due.append({**dict(zip(columns, row[:-1], strict=True)), "payload": json.loads(row[-1])})
    return due


def mark_delivered(db: sqlite_utils.Database, event_id: int, notifier: str, at) -> None:
    with writing(db):
        db.execute(
            "UPDATE deliveries SET status = 'delivered', delivered_at = ?, attempts = attempts + 1, last_error = NULL"
            " WHERE event_id = ? AND notifier = ?",
            [utc_iso(at), event_id, notifier],
        )


def mark_failed(db: sqlite_utils.Database, event_id: int, notifier: str, error: str, retry_at) -> None:
    """Record a failed attempt; the delivery stays pending until ``retry_at``."""
    with writing(db):
        db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
            " WHERE event_id = ? AND notifier = ?",
            [error, utc_iso(retry_at), event_id, notifier],
        )


def held_deliveries_ending(db: sqlite_utils.Database, now) -> list[dict]:
    """Held deliveries whose quiet window has ended by ``now``, oldest first."""
    rows = db.execute(
        "SELECT d.event_id, d.notifier, d.held_until, e.event, e.episode, e.service, e.level, e.created_at"
        " FROM deliveries d JOIN events e ON e.id = d.event_id"
        " WHERE d.status = 'held' AND d.held_until <= ? ORDER BY d.event_id",
        [utc_iso(now)],
    ).fetchall()
    columns = ["event_id", "notifier", "held_until", "event", "episode", "service", "level", "created_at"]
    return [dict(zip(columns, row, strict=True)) for row in rows]


def release_held(db: sqlite_utils.Database, held: list[dict], event: dict, notifier: str) -> None:
    """Mark ``held`` deliveries as told by one ``silence_ended`` ``event``,
    recorded (with its pending delivery to ``notifier``) in the same transaction."""
    with writing(db):
        cursor = db.execute(
            "INSERT OR IGNORE INTO events (key, episode, service, event, level, created_at, payload)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                event["key"],
                None,
                event.get("service"),
                "silence_ended",
                None,
                event["created_at"],
                json.dumps(event["payload"]),
            ],
        )
        if cursor.rowcount:
            db.execute(
                "INSERT INTO deliveries (event_id, notifier, status, attempts) VALUES (?, ?, 'pending', 0)",
                [cursor.lastrowid, notifier],
            )
        db.conn.executemany(
            "UPDATE deliveries SET status = 'held-told' WHERE event_id = ? AND notifier = ?",
            [(row["event_id"], row["notifier"]) for row in held],
        )


def load_events(db: sqlite_utils.Database, notifier: str | None = None) -> list[dict]:
    """Every recorded event with its delivery status (per notifier), oldest first."""
    sql = (
        "SELECT e.id, e.key, e.episode, e.service, e.event, e.level, e.created_at, d.notifier, d.status,"
        " d.attempts, d.delivered_at, d.last_error FROM events e LEFT JOIN deliveries d ON d.event_id = e.id"
    )
    params = []
    if notifier is not None:
        sql += " WHERE d.notifier = ?"
        params.append(notifier)
    columns = [
        "id",
        "key",
        "episode",
        "service",
        "event",
        "level",
        "created_at",
        "notifier",
        "status",
        "attempts",
        "delivered_at",
        "last_error",
    ]
    return [dict(zip(columns, row, strict=True)) for row in db.execute(sql + " ORDER BY e.id", params).fetchall()]


def outbox_backlog(db: sqlite_utils.Database) -> list[dict]:
    """Per notifier: deliveries still pending, the oldest one's event time, and
    the last error (none where watch never ran on the database)."""
    if not db["deliveries"].exists():
        return []
    rows = db.execute(
        "SELECT d.notifier, count(*), min(e.created_at), max(d.attempts),"
        " (SELECT last_error FROM deliveries x WHERE x.notifier = d.notifier AND x.status = 'pending'"
        "  AND x.last_error IS NOT NULL ORDER BY x.event_id DESC LIMIT 1)"
        " FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.status = 'pending' GROUP BY d.notifier"
    ).fetchall()
    columns = ["notifier", "pending", "oldest", "attempts", "last_error"]
    return [dict(zip(columns, row, strict=True)) for row in rows]


def count_posts(db: sqlite_utils.Database) -> int:
    """How many posts are stored."""
    return db["posts"].count if db["posts"].exists() else 0


def count_complaints(db: sqlite_utils.Database, service: str, since, until) -> int:
    """How many complaints of ``service`` were posted in ``[since, until)``, an author's counted once."""
    return db.execute(
        "SELECT count(DISTINCT coalesce(author_hash, source || '/' || post_id)) FROM posts"
        " WHERE service = ? AND is_complaint = 1 AND created_at >= ? AND created_at < ?",
        [service, utc_iso(since), utc_iso(until)],
    ).fetchone()[0]


def sample_complaints(db: sqlite_utils.Database, service: str, since, until, limit: int = 3) -> list[dict]:
    """The first ``limit`` complaints of ``service`` in ``[since, until)``: ``source``, ``created_at``, ``text``."""
    rows = db.execute(
        "SELECT source, created_at, trim(coalesce(title, '') || char(10) || coalesce(text, '')) FROM posts"
        " WHERE service = ? AND is_complaint = 1 AND created_at >= ? AND created_at < ? ORDER BY created_at LIMIT ?",
        [service, utc_iso(since), utc_iso(until), limit],
    ).fetchall()
    return [{"source": source, "created_at": created, "text": text or ""} for source, created, text in rows]


# -- earshot watch: detector state and heartbeat ------------------------------------


def load_detector_state(db: sqlite_utils.Database, service: str) -> dict | None:
    rows = list(db["detector_states"].rows_where("service = ?", [service]))
    return rows[0] if rows else None


def save_detector_state(db: sqlite_utils.Database, service: str, fingerprint: str, settled_until, state: bytes) -> None:
    db["detector_states"].upsert(
        {
            "service": service,
            "fingerprint": fingerprint,
            "settled_until": utc_iso(settled_until),
            "state": state,
            "updated_at": now_iso(),
        },
        pk="service",
    )


def save_heartbeat(db: sqlite_utils.Database, **fields) -> None:
    """Update the watch's heartbeat row (``sources`` as a dict by source name)."""
    if "sources" in fields:
        fields["sources"] = json.dumps(fields["sources"])
    db["watch_heartbeat"].upsert({"name": "watch", **fields}, pk="name")


def load_heartbeat(db: sqlite_utils.Database) -> dict | None:
    """The watch's last heartbeat (None: watch never ran on this database)."""
    if not db["watch_heartbeat"].exists():  # a read-only view of a database older than watch
        return None
    rows = list(db["watch_heartbeat"].rows_where("name = 'watch'"))
    if not rows:
        return None
    return {**rows[0], "sources": json.loads(rows[0]["sources"] or "{}")}


def post_tallies(
    db: sqlite_utils.Database, after_rowid: int = 0
) -> tuple[dict[tuple[str, str | None], list[int]], int]:
    """Posts and complaints stored after row ``after_rowid``, per ``(source,
    service)``, and the newest row: watch's counters read only what is new.

    >>> db = open_db(":memory:")
    >>> _ = store_posts(db, [{"source": "r", "post_id": "1", "created_at": "2023-11-08T13:45:00Z",
    ...                       "service": "chatgpt", "is_complaint": 1}])
    >>> post_tallies(db)
    ({('r', 'chatgpt'): [1, 1]}, 1)
    >>> post_tallies(db, after_rowid=1)
    ({}, 1)
    """
    # NOT INDEXED: walk the new rows by rowid; an index picked for the GROUP BY would read them all.
    rows = db.execute(
        "SELECT source, service, count(*), coalesce(sum(is_complaint), 0), max(rowid) FROM posts NOT INDEXED"
        " WHERE rowid > ? GROUP BY source, service",
        [after_rowid],
    ).fetchall()
    tallies = {(source, service): [posts, complaints] for source, service, posts, complaints, _ in rows}
    return tallies, max([after_rowid] + [row[4] for row in rows])


def event_tallies(db: sqlite_utils.Database, after_id: int = 0) -> tuple[dict[tuple[str, str], int], int]:
    """Events recorded after event ``after_id``, per ``(service, event)``, and the newest id."""
    rows = db.execute(
        "SELECT service, event, count(*), max(id) FROM events WHERE id > ? GROUP BY service, event", [after_id]
    ).fetchall()
    return {(service, event): n for service, event, n, _ in rows}, max([after_id] + [row[3] for row in rows])


def latest_event_payloads(db: sqlite_utils.Database, limit: int = 50) -> list[dict]:
    """The payloads of the newest ``limit`` episode events, newest first (what
    the Atom feed lists; a channel's own ``silence_ended`` is not one)."""
    rows = db.execute(
        "SELECT payload FROM events WHERE event != 'silence_ended' ORDER BY id DESC LIMIT ?", [limit]
    ).fetchall()
    return [json.loads(payload) for (payload,) in rows]
