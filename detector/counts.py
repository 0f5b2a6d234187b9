"""Bucket posts into counts on a regular, tz-aware UTC index.

>>> import pandas as pd
>>> posts = pd.DataFrame({"created_at": pd.to_datetime(
...     ["2023-11-08T13:41Z", "2023-11-08T13:43Z", "2023-11-08T13:52Z"], utc=True),
...     "is_complaint": [1, 1, 0]})
>>> complaint_counts(posts, "5min").tolist()
[2, 0, 0]
"""

from __future__ import annotations

import pandas as pd


def complaint_counts(posts: pd.DataFrame, freq: str = "5min", start=None, end=None) -> pd.Series:
    """Complaints per bucket (all rows when there is no ``is_complaint`` column).

    The index holds each bucket's start, runs without gaps from ``start`` (default:
    the first post's bucket) to ``end`` (default: the last post's bucket), and
    buckets with no complaint count 0.
    """
    stamps = posts["created_at"]
    if "is_complaint" in posts:
        stamps = stamps[posts["is_complaint"].fillna(0).astype(bool)]
    return _bucket(stamps, freq, start, end, posts["created_at"]).rename("complaints")


def counts_by(posts: pd.DataFrame, column: str, freq: str = "5min", start=None, end=None) -> pd.DataFrame:
    """Complaints per bucket, one column per value of ``column`` (e.g. ``source``)."""
    if "is_complaint" in posts:
        posts = posts[posts["is_complaint"].fillna(0).astype(bool)]
    frames = {
        key: _bucket(group["created_at"], freq, start, end, posts["created_at"]) for key, group in posts.groupby(column)
    }
    index = _index(freq, start, end, posts["created_at"])
    return pd.DataFrame(frames, index=index).fillna(0).astype(int) if frames else pd.DataFrame(index=index)


def first_reports(posts: pd.DataFrame, within: str = "1h") -> pd.DataFrame:
    """Keep a complaint only when its author made no other complaint in the
    ``within`` before it, so one account posting forty times in an hour is
    one report, not forty.

    Authors are told apart by ``author_hash``; posts without one (a feed that
    names nobody) all count. Posts that are not complaints are kept as they are.

    >>> posts = pd.DataFrame({"created_at": pd.to_datetime(
    ...     ["2023-11-08T13:41Z", "2023-11-08T13:42Z", "2023-11-08T13:43Z", "2023-11-08T15:47Z"], utc=True),
    ...     "author_hash": ["a", "a", "b", "a"], "is_complaint": [1, 1, 1, 1]})
    >>> first_reports(posts)["created_at"].dt.strftime("%H:%M").tolist()
    ['13:41', '13:43', '15:47']
    """
    if "author_hash" not in posts or posts.empty:
        return posts
    complaint = posts["is_complaint"].fillna(0).astype(bool) if "is_complaint" in posts else True
    named = posts[posts["author_hash"].notna() & complaint].sort_values("created_at", kind="stable")
    since_last = named["created_at"] - named.groupby("author_hash")["created_at"].shift()
    repeat = since_last < pd.Timedelta(within)
    return posts.drop(index=repeat.index[repeat.to_numpy()])


def _index(freq, start, end, all_stamps) -> pd.DatetimeIndex:
    if start is None:
        start = all_stamps.min()
    if end is None:
        end = all_stamps.max()
    if pd.isna(start) or pd.isna(end):
        return pd.DatetimeIndex([], tz="UTC", freq=freq)
    start = pd.Timestamp(start).tz_convert("UTC").floor(freq)
    end = pd.Timestamp(end).tz_convert("UTC").floor(freq)
    return pd.date_range(start, end, freq=freq, tz="UTC")


def _bucket(stamps: pd.Series, freq, start, end, all_stamps) -> pd.Series:
    index = _index(freq, start, end, all_stamps)
    counts = stamps.dt.floor(freq).value_counts()
    return counts.reindex(index, fill_value=0).astype(int)
