"""Counts worked out in SQLite agree with the pandas definitions, on real SQLite files."""

import numpy as np
import pandas as pd
import pytest

from detector import counts_by, first_reports
from earshot import aggregates
from earshot.store import load_posts, open_db, store_posts

START = pd.Timestamp("2024-03-04T00:00Z")


@pytest.fixture
def busy(tmp_path):
    """Three days of posts from few authors (so repeats within the hour are
    common), some without an author, ties to the second, two services."""
    rng = np.random.default_rng(7)
    n = 6000
    seconds = np.sort(rng.integers(0, 3 * 86400, n))
    seconds[100:110] = seconds[100]  # ten posts in the same second
    authors = rng.choice(["a", "b", "c", "d", "e", None], n)
    posts = [
        {
            "source": str(rng.choice(["reddit", "forum", "hn"])),
            "post_id": str(i),
            "created_at": (START + pd.Timedelta(seconds=int(s))).isoformat(),
            "author_hash": author,
            "service": "chatgpt" if i % 7 else "claude",
            "is_complaint": int(rng.random() < 0.4),
            "problem": str(rng.choice(["down", "errors", "api"])) if i % 3 else None,
            "text": "x",
        }
        for i, (s, author) in enumerate(zip(seconds, authors, strict=True))
    ]
    # An author's complaint exactly one hour after their previous one counts again.
    posts += [
        {
            "source": "forum",
            "post_id": f"edge{k}",
            "created_at": (START + pd.Timedelta(hours=80 + k)).isoformat(),
            "author_hash": "z",
            "service": "chatgpt",
            "is_complaint": 1,
            "text": "x",
        }
        for k in range(3)
    ]
    db = open_db(tmp_path / "busy.db")
    store_posts(db, posts)
    return db


@pytest.mark.parametrize("window", [None, "1h", "10min"])
def test_complaint_counts_match_first_reports_and_counts_by(busy, window):
    since, until = START + pd.Timedelta(hours=5), START + pd.Timedelta(hours=83)
    in_sql = aggregates.complaint_counts(busy, "chatgpt", "5min", since, until, reporter_window=window)
    posts = load_posts(busy, service="chatgpt", since=since, until=until, complaints_only=True)
    heard = first_reports(posts, within=window) if window else posts
    in_pandas = counts_by(heard, "source", "5min", start=since, end=until - pd.Timedelta(microseconds=1))
    pd.testing.assert_frame_equal(in_sql, in_pandas, check_freq=False)
    assert in_sql.loc[START + pd.Timedelta(hours=82), "forum"] >= 1, "the post exactly an hour on counts"
    if window == "1h":
        assert in_sql.to_numpy().sum() < len(posts)


def test_source_days_and_problem_counts_match_a_plain_reading(busy):
    posts = load_posts(busy, service="chatgpt")
    plain = set(zip(posts["source"], posts["created_at"].dt.strftime("%Y-%m-%d"), strict=True))
    assert aggregates.source_days(busy, "chatgpt") == plain
    since = START + pd.Timedelta(days=1)
    assert aggregates.source_days(busy, "chatgpt", since=since) == {p for p in plain if p[1] >= "2024-03-05"}

    complaints = posts[posts["is_complaint"] == 1]
    expected = complaints["problem"].fillna("unknown").value_counts()
    got = aggregates.problem_counts(busy, "chatgpt")
    assert got.to_dict() == expected.to_dict() and got.is_monotonic_decreasing


def test_latest_complaints_and_activity(busy):
    newest = aggregates.latest_complaints(busy, "chatgpt", START, START + pd.Timedelta(days=4), limit=5)
    assert len(newest) == 5 and newest["created_at"].is_monotonic_decreasing
    everything = load_posts(busy)
    activity = aggregates.source_activity(busy, hours=24)
    last = everything["created_at"].max()
    for source, row in activity.iterrows():
        mine = everything[everything["source"] == source]
        assert row["newest"] == mine["created_at"].max()
        assert (
            row["posts"] == ((mine["created_at"] > last - pd.Timedelta(hours=24)) & (mine["created_at"] <= last)).sum()
        )


def test_the_counts_are_read_from_the_index_alone(busy):
    plan = busy.execute(
        "EXPLAIN QUERY PLAN " + aggregates.COMPLAINT_COUNTS_SQL,
        {"service": "chatgpt", "since": "2024", "until": "2025", "bucket": 300, "window": 3600},
    ).fetchall()
    assert any("COVERING INDEX idx_posts_complaints" in row[-1] for row in plan), plan
