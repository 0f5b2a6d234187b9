import pandas as pd
import pytest
import sqlite_utils

from earshot.store import (
    author_hash,
    backup,
    data_stamp,
    get_state,
    load_incident_updates,
    load_posts,
    migrations,
    open_db,
    prune,
    save_state,
    schema_version,
    store_incident_updates,
    store_posts,
)


def post(post_id, created_at="2023-11-08T13:45:00Z", **extra):
    return {"source": "reddit", "post_id": post_id, "created_at": created_at, "text": "is chatgpt down?", **extra}


def test_posts_round_trip_on_a_real_file(tmp_path):
    path = tmp_path / "earshot.db"
    db = open_db(path)
    assert store_posts(db, [post("a", is_complaint=True, problem="down"), post("b", "2023-11-08T05:50:00-08:00")]) == (
        2,
        0,
    )
    db.close()

    reopened = open_db(path)
    frame = load_posts(reopened)
    assert list(frame["post_id"]) == ["a", "b"]
    assert str(frame["created_at"].dt.tz) == "UTC"
    assert frame.loc[1, "created_at"] == pd.Timestamp("2023-11-08T13:50:00Z")
    assert frame.loc[0, "is_complaint"] == 1 and frame.loc[0, "problem"] == "down"


def test_storing_the_same_posts_twice_stores_them_once(tmp_path):
    db = open_db(tmp_path / "earshot.db")
    batch = [post("a"), post("b"), post("a")]
    assert store_posts(db, batch) == (2, 1)
    assert store_posts(db, batch) == (0, 3)
    assert db["posts"].count == 2


def test_time_filters_compare_in_utc(tmp_path):
    db = open_db(tmp_path / "earshot.db")
    store_posts(db, [post("early", "2023-11-08T13:00:00Z"), post("late", "2023-11-08T14:00:00Z")])
    frame = load_posts(db, since="2023-11-08T05:30:00-08:00")
    assert list(frame["post_id"]) == ["late"]


def test_database_uses_wal_and_a_busy_timeout(tmp_path):
    db = open_db(tmp_path / "earshot.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_an_older_database_upgrades_in_place(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="m002_alerts_and_time_indexes")
    old["posts"].insert({"source": "reddit", "post_id": "kept", "created_at": "2023-11-08T13:45:00+00:00"})
    assert schema_version(old) == 1 and "alerts" not in old.table_names()
    old.close()

    db = open_db(path)
    assert schema_version(db) == len(migrations.pending(sqlite_utils.Database(memory=True)))
    assert "alerts" in db.table_names()
    assert [row["post_id"] for row in db["posts"].rows] == ["kept"]
    assert any(index.columns == ["service", "created_at"] for index in db["posts"].indexes)


def test_alerts_keep_their_tier_and_an_older_alerts_table_gains_it(tmp_path):
    import pandas as pd

    from earshot.store import load_alerts, replace_alerts

    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="m004_alert_levels")
    old["alerts"].insert(
        {"service": "chatgpt", "start": "2023-11-08T13:45:00+00:00", "peak_score": 9.0, "sources": "[]"}
    )
    old.close()
    db = open_db(path)
    (kept,) = load_alerts(db).itertuples()
    assert kept.start == pd.Timestamp("2023-11-08T13:45Z") and kept.level is None
    episodes = pd.DataFrame(
        {
            "start": pd.to_datetime(["2023-11-08T13:45Z", "2023-11-09T02:00Z"], utc=True),
            "end": pd.to_datetime(["2023-11-08T17:00Z", None], utc=True),
            "level": ["confirmed", "possible"],
            "confirmed_at": pd.to_datetime(["2023-11-08T13:50Z", None], utc=True),
            "peak_score": [300.0, 5.2],
            "sources": [["forum", "reddit"], ["forum"]],
        }
    )
    replace_alerts(db, "chatgpt", episodes)
    stored = load_alerts(db, "chatgpt")
    assert stored["level"].tolist() == ["confirmed", "possible"]
    assert stored["confirmed_at"].iloc[0] == pd.Timestamp("2023-11-08T13:50Z") and pd.isna(
        stored["confirmed_at"].iloc[1]
    )
    assert pd.isna(stored["end"].iloc[1]) and stored["sources"].iloc[0] == ["forum", "reddit"]


def test_incident_updates_keep_repeated_stages(tmp_path):
    db = open_db(tmp_path / "earshot.db")
    updates = [
        {
            "provider": "openai",
            "incident_id": "x",
            "update_id": "1",
            "stage": "investigating",
            "posted_at": "2026-09-14T02:46:48Z",
        },
        {
            "provider": "openai",
            "incident_id": "x",
            "update_id": "2",
            "stage": "investigating",
            "posted_at": "2026-09-14T02:59:08Z",
        },
    ]
    assert store_incident_updates(db, updates) == (2, 0)
    assert store_incident_updates(db, updates) == (0, 2)
    frame = load_incident_updates(db, "openai")
    assert list(frame["stage"]) == ["investigating", "investigating"]


def test_collector_state_updates_keep_other_fields(tmp_path):
    db = open_db(tmp_path / "earshot.db")
    save_state(db, "reddit", etag='"abc"', last_ok_at="2026-01-01T00:00:00+00:00")
    save_state(db, "reddit", last_error="HTTP 500")
    state = get_state(db, "reddit")
    assert state["etag"] == '"abc"' and state["last_error"] == "HTTP 500"
    assert get_state(db, "unknown") == {}


def test_author_hash_is_a_pseudonym():
    assert author_hash("reddit", "alice") != "alice"
    assert author_hash("reddit", "alice") != author_hash("mastodon", "alice")
    assert author_hash("reddit", None) is None


def test_sql_values_are_parameters_not_text(tmp_path):
    db = open_db(tmp_path / "earshot.db")
    store_posts(db, [post("a")])
    assert len(load_posts(db, service="x' OR '1'='1")) == 0
    assert db["posts"].count == 1


def test_pruning_keeps_newer_posts_tells_the_dashboard_and_a_backup_is_whole(tmp_path):
    db = open_db(tmp_path / "e.db")
    store_posts(db, [post(str(i), f"2023-11-0{i}T12:00:00Z") for i in range(1, 8)])
    stamp = data_stamp(db)
    assert prune(db, "2023-11-05") == {"posts": 4}
    assert sorted(load_posts(db)["post_id"]) == ["5", "6", "7"]
    assert data_stamp(db) != stamp, "cached pages must not go on showing pruned posts"
    copy = backup(tmp_path / "e.db", tmp_path / "copies" / "e.db")
    again = open_db(copy)
    assert again.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert sorted(load_posts(again)["post_id"]) == ["5", "6", "7"]
    with pytest.raises(FileExistsError):
        backup(tmp_path / "e.db", copy)


def test_commands_say_when_they_upgrade_an_older_database_and_only_then(tmp_path):
    from tests.conftest import earshot

    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="m007_problem_counts")
    old["posts"].insert({"source": "reddit", "post_id": "kept", "created_at": "2023-11-08T13:45:00+00:00"})
    old.close()
    # A backup is of the database as the older earshot left it.
    saved = earshot("backup", "--db", path, tmp_path / "before-upgrade.db")
    assert saved.returncode == 0 and "upgraded" not in saved.stderr
    assert (
        schema_version(sqlite_utils.Database(path))
        == schema_version(sqlite_utils.Database(tmp_path / "before-upgrade.db"))
        == 6
    )
    first = earshot("status", "--db", path)
    assert first.stderr.splitlines()[0] == f"upgraded the database at {path}: m007_problem_counts, m008_retry_at"
    assert "upgraded" not in earshot("status", "--db", path).stderr
    made = earshot("import-incidents", "--db", tmp_path / "new.db")  # a new database is not an upgrade
    assert made.returncode == 0 and "upgraded" not in made.stderr
    assert [row["post_id"] for row in open_db(path)["posts"].rows] == ["kept"]
