"""Counts worked out inside SQLite, so a year of posts never has to become a DataFrame.

The dashboard and ``earshot detect`` need complaints per bucket and source,
problem types per window, posts per hour per source: SQLite groups a million
rows faster than it can hand them to pandas one by one. Every value reaches
SQL as a parameter.

>>> from earshot.store import open_db, store_posts
>>> db = open_db(":memory:")
>>> _ = store_posts(db, [
...     {"source": "forum", "post_id": str(i), "created_at": f"2023-11-08T13:4{i}:00Z", "service": "chatgpt",
...      "author_hash": "a" if i < 3 else "b", "is_complaint": 1, "problem": "down"} for i in range(5)])
>>> complaint_counts(db, "chatgpt", "5min", "2023-11-08T13:40Z", "2023-11-08T13:50Z", reporter_window="1h")
                           forum
2023-11-08 13:40:00+00:00      2
2023-11-08 13:45:00+00:00      0
"""

from __future__ import annotations

import json

import pandas as pd
import sqlite_utils

from .store import post_span
from .timeutil import utc_iso

# An author's complaint counts unless the same author complained less than
# ``window`` seconds before it (the rule of ``detector.first_reports``).
COMPLAINT_COUNTS_SQL = """
WITH complaints AS (
    SELECT source, coalesce(problem, '') AS problem, author_hash, CAST(strftime('%s', created_at) AS INTEGER) AS moment
    FROM posts
    WHERE service = :service AND is_complaint = 1 AND created_at >= :since AND created_at < :until
), spaced AS (
    SELECT source, problem, author_hash, moment,
           moment - lag(moment) OVER (PARTITION BY author_hash ORDER BY moment) AS since_last
    FROM complaints
)
SELECT source, problem, moment / :bucket * :bucket AS bucket, count(*) AS complaints
FROM spaced
WHERE :window IS NULL OR author_hash IS NULL OR since_last IS NULL OR since_last >= :window
GROUP BY source, problem, bucket
"""


def complaint_counts(
    db: sqlite_utils.Database,
    service: str,
    freq: str,
    since,
    until,
    reporter_window: str | None = None,
    by_problem: bool = False,
) -> pd.DataFrame:
    """Complaints of ``service`` per bucket of ``freq`` and source, ``since <= t < until``.

    One column per source that complained (with ``by_problem``, per
    ``(source, problem)`` pair, ``""`` where the classifier named no type);
    every bucket from ``since`` to the one holding ``until`` is a row (zeros
    included). With ``reporter_window`` (e.g. ``"1h"``), an author's complaint
    within that long of their previous one does not count, as
    :func:`detector.first_reports` does it.
    """
    start, end = pd.Timestamp(since).tz_convert("UTC"), pd.Timestamp(until).tz_convert("UTC")
    seconds = int(pd.Timedelta(freq).total_seconds())
    window = int(pd.Timedelta(reporter_window).total_seconds()) if reporter_window else None
    rows = db.execute(
        COMPLAINT_COUNTS_SQL,
        {"service": service, "since": utc_iso(start), "until": utc_iso(end), "bucket": seconds, "window": window},
    ).fetchall()
    index = pd.date_range(start.floor(freq), (end - pd.Timedelta(microseconds=1)).floor(freq), freq=freq)
    if not rows:
        return pd.DataFrame(index=index)
    long = pd.DataFrame(rows, columns=["source", "problem", "bucket", "complaints"])
    long["bucket"] = pd.to_datetime(long["bucket"], unit="s", utc=True)
    keys = ["source", "problem"] if by_problem else ["source"]
    wide = long.pivot_table(index="bucket", columns=keys, values="complaints", aggfunc="sum")
    wide.columns.names = [None] * len(keys)
    return wide.reindex(index, fill_value=0).fillna(0).astype(int)


def sources_stored(db: sqlite_utils.Database) -> list[str]:
    """Every source with a stored post, hopping along the index (one probe per source)."""
    return [
        row[0]
        for row in db.execute(
            "WITH RECURSIVE hop(source) AS (SELECT min(source) FROM posts"
            " UNION ALL SELECT (SELECT min(source) FROM posts WHERE source > hop.source) FROM hop"
            " WHERE hop.source IS NOT NULL) SELECT source FROM hop WHERE source IS NOT NULL"
        ).fetchall()
    ]


def source_days(db: sqlite_utils.Database, service: str, since=None, until=None) -> set[tuple[str, str]]:
    """``(source, YYYY-MM-DD)`` for each UTC day on which a source stored any
    post of the service, complaint or not.

    Asks each source about each day (one index probe apiece) rather than
    reading every post: two years of six sources is 4,400 probes, not a million rows.
    """
    span = post_span(db, service)
    if span is None:
        return set()
    first, last = (utc_iso(moment) for moment in span)
    first = max(first, utc_iso(since)) if since is not None else first
    last = min(last, utc_iso(pd.Timestamp(until) - pd.Timedelta(seconds=1))) if until is not None else last
    rows = db.execute(
        SOURCE_DAYS_SQL,
        {"first": first[:10], "last": last[:10], "service": service, "sources": json.dumps(sources_stored(db))},
    ).fetchall()
    return {(source, day) for source, day in rows}


# Days from :first to :last, each asked of each source: does it hold a post of the service?
SOURCE_DAYS_SQL = """
WITH RECURSIVE days(day) AS (
    SELECT :first UNION ALL SELECT date(day, '+1 day') FROM days WHERE day < :last
), stored(source) AS (
    SELECT value FROM json_each(:sources)
)
SELECT stored.source, days.day FROM stored, days
WHERE EXISTS (
    SELECT 1 FROM posts WHERE posts.source = stored.source AND created_at >= days.day
    AND created_at < date(days.day, '+1 day') AND service = :service
)
"""


def problem_counts(db: sqlite_utils.Database, service: str, since=None, until=None) -> pd.Series:
    """Complaints per problem type (``unknown`` when the classifier named none), most first."""
    sql, params = _between(
        "SELECT coalesce(problem, 'unknown'), count(*) FROM posts WHERE service = ? AND is_complaint = 1",
        [service],
        since,
        until,
    )
    rows = db.execute(sql + " GROUP BY 1 ORDER BY 2 DESC, 1", params).fetchall()
    return pd.Series(dict(rows), name="complaints", dtype=int).rename_axis("problem")


def source_activity(db: sqlite_utils.Database, hours: float = 24) -> pd.DataFrame:
    """Per source: its newest stored post, and its posts per hour over the
    ``hours`` up to the newest post of any source (a few index probes each)."""
    newest = {
        source: db.execute("SELECT max(created_at) FROM posts WHERE source = ?", [source]).fetchone()[0]
        for source in sources_stored(db)
    }
    rows = []
    if newest:
        until = pd.Timestamp(max(newest.values())) + pd.Timedelta(seconds=1)
        since = until - pd.Timedelta(hours=hours)
        for source, last in newest.items():
            posts = db.execute(
                "SELECT count(*) FROM posts WHERE source = ? AND created_at >= ? AND created_at < ?",
                [source, utc_iso(since), utc_iso(until)],
            ).fetchone()[0]
            rows.append({"source": source, "newest": pd.Timestamp(last), "posts": posts, "per_hour": posts / hours})
    return pd.DataFrame(rows, columns=["source", "newest", "posts", "per_hour"]).set_index("source")


def latest_complaints(db: sqlite_utils.Database, service: str, since, until, limit: int = 100) -> pd.DataFrame:
    """The newest ``limit`` complaint posts of ``service`` in the window, newest first."""
    sql, params = _between(
        "SELECT created_at, source, problem, title, text, url FROM posts WHERE service = ? AND is_complaint = 1",
        [service],
        since,
        until,
    )
    rows = db.execute(sql + " ORDER BY created_at DESC LIMIT ?", [*params, int(limit)]).fetchall()
    frame = pd.DataFrame(rows, columns=["created_at", "source", "problem", "title", "text", "url"])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
    return frame


def _between(sql: str, params: list, since, until, column: str = "created_at") -> tuple[str, list]:
    if since is not None:
        sql += f" AND {column} >= ?"
        params = [*params, utc_iso(since)]
    if until is not None:
        sql += f" AND {column} < ?"
        params = [*params, utc_iso(until)]
    return sql, params
