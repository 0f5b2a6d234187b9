"""Detecting on what was said up to a moment gives, up to that moment, what
hindsight gives: on real SQLite files written by `earshot simulate`."""

import shutil
import sqlite3

import pandas as pd
import pytest

from earshot.analysis import detect
from earshot.config import load_config
from earshot.roof.simulate import write_scenarios
from earshot.store import open_db


@pytest.fixture(scope="module")
def scenario_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("causal") / "simulated.db"
    labels = write_scenarios(path, ["api-forum"], seed=5)
    return path, labels.iloc[0]


def said_until(source, moment, target):
    """A copy of the database holding only the posts made before ``moment``."""
    shutil.copy(source, target)
    with sqlite3.connect(target) as conn:
        conn.execute("DELETE FROM posts WHERE created_at >= ?", [moment.isoformat()])
    return open_db(target)


def test_episodes_known_at_any_moment_are_those_of_hindsight(scenario_db, tmp_path):
    path, label = scenario_db
    config = load_config()
    _, hindsight = detect(open_db(path), config, "chatgpt")
    assert len(hindsight) == 1
    onset = label["first_complaint"].floor("5min")
    moments = [onset + pd.Timedelta(minutes=m) for m in (-60, 0, 5, 10, 15, 30, 60, 120, 180, 240)]
    for number, moment in enumerate(moments):
        _, live = detect(said_until(path, moment, tmp_path / f"cut{number}.db"), config, "chatgpt", until=moment)
        known = hindsight[hindsight["first_bucket"] < moment]
        assert len(live) == len(known), moment
        for then, now in zip(known.itertuples(), live.itertuples(), strict=True):
            assert now.start == then.start
            if then.end <= moment:
                assert now.end == then.end
            else:
                assert pd.isna(now.end), f"at {moment} the episode should still be open"
            if then.confirmed_at <= moment:
                assert now.confirmed_at == then.confirmed_at and now.level == "confirmed"
            else:
                assert now.level == "possible"


def test_only_the_episodes_still_open_after_exact_since_are_timed_to_the_post(demo_db):
    config = load_config()
    db = open_db(demo_db)
    _, exact = detect(db, config, "chatgpt")
    _, coarse = detect(db, config, "chatgpt", exact_start=False)
    cut = pd.Timestamp("2024-01-01", tz="UTC")
    _, mixed = detect(db, config, "chatgpt", exact_since=cut)
    late = mixed["last_bucket"] >= cut
    assert late.any() and (~late).any()
    assert mixed.loc[late, "start"].tolist() == exact.loc[late, "start"].tolist()
    assert mixed.loc[~late, "start"].tolist() == coarse.loc[~late, "start"].tolist()
    assert (exact["start"] != coarse["start"]).any()  # the two timings do differ on this database
