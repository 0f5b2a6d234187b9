"""The `earshot` command: in-process through click's CliRunner, and as a real
process where that matters (the installed script, serving the dashboard)."""

import json
import subprocess

import httpx
import pandas as pd
import pytest

from earshot.store import open_db
from tests.conftest import EARSHOT, earshot, fixture_bytes, wait_until_healthy

SUBCOMMANDS = [
    "collect",
    "backfill",
    "detect",
    "evaluate",
    "classify",
    "dashboard",
    "demo",
    "import-incidents",
    "simulate",
    "prune",
    "backup",
]


def test_the_installed_script_lists_every_subcommand():
    result = subprocess.run([EARSHOT, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help(name):
    result = earshot(name, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: earshot " + name in result.stdout


def test_demo_detect_alerts_before_the_official_investigating_post(demo_db, tmp_path):
    result = earshot("detect", "--json", "--db", demo_db)
    assert result.returncode == 0, result.stderr
    episodes = [json.loads(line) for line in result.stdout.splitlines()]
    assert all({"service", "start", "end", "peak_score", "sources"} <= set(e) for e in episodes)
    onset = pd.Timestamp("2023-11-08T05:42:00-08:00")  # errors began (OpenAI's postmortem)
    investigating = pd.Timestamp("2023-11-08T05:54:00-08:00")  # first status post
    starts = [pd.Timestamp(e["start"]) for e in episodes]
    seed = [s for s in starts if onset <= s <= onset + pd.Timedelta(minutes=15)]
    assert seed, f"no episode within 15 minutes of the onset; episodes start at {starts}"
    assert seed[0] < investigating


def test_detect_says_no_data_where_nothing_recent_is_stored(demo_db, tmp_path):
    import re

    from earshot.roof.demo import demo_config_path

    config = tmp_path / "three.toml"
    config.write_text(demo_config_path().read_text() + '\n[[services]]\nname = "gemini"\nterms = ["gemini"]\n')
    newest = open_db(demo_db).execute("SELECT max(created_at) FROM posts WHERE service = 'chatgpt'").fetchone()[0]
    for output in ([], ["--json"]):
        ran = earshot(
            "detect", *output, "--db", demo_db, "--config", config, "--service", "chatgpt", "--service", "gemini"
        )
        assert ran.returncode == 0, ran.stderr
        # The demo's posts end in 2024: nothing after its newest post is said to be normal.
        chatgpt, gemini = ran.stderr.splitlines()
        assert re.fullmatch(
            r"chatgpt: \d+ alert episodes? up to its newest post, (.+) UTC; no data since \(.+ days\)", chatgpt
        )
        assert chatgpt.split("newest post, ")[1].startswith(pd.Timestamp(newest).strftime("%Y-%m-%d %H:%M"))
        assert gemini == "gemini: no data: no post of it is stored"
    assert all(json.loads(line)["service"] == "chatgpt" for line in ran.stdout.splitlines())


@pytest.mark.slow
def test_demo_command_builds_the_database_once(tmp_path):
    path = tmp_path / "demo.db"
    first = earshot("demo", "--db", path, "--no-serve")
    assert first.returncode == 0, first.stderr
    # Five real OpenAI incidents and three real Anthropic ones: the demo watches ChatGPT and Claude.
    assert "simulated posts around 8 real incidents" in first.stderr
    db = open_db(path)
    assert {row[0] for row in db.execute("SELECT DISTINCT service FROM posts")} == {"chatgpt", "claude"}
    assert {row[0] for row in db.execute("SELECT DISTINCT provider FROM incident_updates")} == {"openai", "anthropic"}
    second = earshot("demo", "--db", path, "--no-serve")
    assert second.returncode == 0 and "building" not in second.stderr


def test_evaluate_reports_lead_time_per_incident(demo_db):
    result = earshot("evaluate", "--json", "--db", demo_db)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    summary, incidents = lines[0], lines[1:]
    assert summary["service"] == "chatgpt" and summary["incidents"] == len(incidents)
    seed = next(i for i in incidents if i["title"] == "Major Outage across ChatGPT and API")
    assert seed["detected"] and seed["lead_minutes"] > 0


def test_classify_reads_stdin_and_prints_json_lines():
    result = earshot(
        "classify", input="anyone else getting 'network error' on chatgpt?\nChatGPT wrote my error handler\n"
    )
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["complaint"] is True and first["problem"] == "errors" and first["probability"] > 0.5
    assert second["complaint"] is False and second["problem"] is None


def write_config(tmp_path, server, sources):
    lines = ["[[services]]", 'name = "chatgpt"', 'terms = ["chatgpt"]', 'provider = "openai"', ""]
    for name, kind, path in sources:
        lines += [
            "[[sources]]",
            f'name = "{name}"',
            f'kind = "{kind}"',
            f'url = "{server.url_for(path)}"',
            'service = "chatgpt"',
            "",
        ]
    config = tmp_path / "earshot.toml"
    config.write_text("\n".join(lines))
    return config


@pytest.mark.slow
def test_collect_prints_a_line_per_source_and_exits_1_when_one_failed(server, tmp_path):
    server.expect_request("/feed.rss").respond_with_data(
        fixture_bytes("mastodon_tag_rss.xml"), content_type="application/rss+xml"
    )
    server.expect_request("/broken").respond_with_data(
        "<html><title>Just a moment...</title></html>", content_type="text/html"
    )
    server.expect_request("/api/v2/incidents.json").respond_with_data(
        fixture_bytes("openai_status_api_v2_incidents.excerpt.json"), content_type="application/json"
    )
    config = write_config(
        tmp_path,
        server,
        [
            ("mastodon", "rss", "/feed.rss"),
            ("broken", "rss", "/broken"),
            ("status", "statuspage", "/api/v2/incidents.json"),
        ],
    )
    db = tmp_path / "earshot.db"
    first = earshot("collect", "--config", config, "--db", db)
    assert first.returncode == 1
    assert first.stdout.splitlines() == [
        "mastodon: 4 new posts, 0 duplicates skipped",
        "broken: error: got an HTML page ('Just a moment...') instead of a feed",
        "status: 22 new official updates, 0 duplicates skipped",
    ]
    again = earshot("collect", "--config", config, "--db", db, "--source", "mastodon")
    assert again.returncode == 0
    assert again.stdout.splitlines() == ["mastodon: 0 new posts, 4 duplicates skipped"]


def test_db_defaults_to_the_environment_variable(server, tmp_path):
    server.expect_request("/feed.rss").respond_with_data(
        fixture_bytes("mastodon_tag_rss.xml"), content_type="application/rss+xml"
    )
    config = write_config(tmp_path, server, [("mastodon", "rss", "/feed.rss")])
    db = tmp_path / "from-env.db"
    result = earshot("collect", "--config", config, env={"EARSHOT_DB": str(db)})
    assert result.returncode == 0, result.stderr
    assert db.exists()


BAD_CONFIGS = {
    "unknown kind": (
        '[[sources]]\nname = "x"\nkind = "carrier-pigeon"\nurl = "http://127.0.0.1:9/"\n',
        "unknown kind 'carrier-pigeon'",
    ),
    "typo": ("[detector]\ntreshold = 4\n", "[detector] has no setting 'treshold' (did you mean 'threshold'?); valid: "),
    "moved key": ('[detector]\nbucket = "5min"\n', "bucket belong(s) in the [counts] table"),
    "impossible value": ("[detector]\nthreshold = 9.0\n", "need close_threshold <= threshold <= confirm_threshold"),
    "watch typo": ("[watch]\nintervall = 30\n", "[watch] has no setting 'intervall' (did you mean 'interval'?)"),
    "webhook scheme": (
        '[[notify]]\nname = "x"\nkind = "webhook"\nurl = "ftp://h/x"\n',
        "a webhook url must start with http://",
    ),
    "notify level": (
        '[[notify]]\nurl = "json://h"\nmin_level = "severe"\n',
        "min_level must be one of possible, confirmed",
    ),
    "notify event": (
        '[[notify]]\nurl = "json://h"\nevents = ["openned"]\n',
        "unknown event 'openned' (known: acknowledged,",
    ),
    "silence half": ('[[silence]]\nfrom = "22:00"\n', "[[silence]] #1: needs start and end, or from and to"),
    "silence time": ('[[silence]]\ndays = ["sat"]\nfrom = "late"\nto = "06:00"\n', 'must be times of day like "22:00"'),
}


@pytest.mark.parametrize(
    ("command", "case"),
    [
        (command, case)
        for command in ("collect", "detect", "evaluate", "watch")
        for case in BAD_CONFIGS
        # collect never detects: it leaves [detector] unchecked rather than load scikit-learn for it.
        if not (command == "collect" and BAD_CONFIGS[case][0].startswith("[detector]"))
    ],
)
def test_a_bad_config_is_a_clear_error(tmp_path, command, case):
    toml, says = BAD_CONFIGS[case]
    config = tmp_path / "bad.toml"
    config.write_text('[[services]]\nname = "chatgpt"\nterms = ["chatgpt"]\n\n' + toml)
    result = earshot(command, "--config", config, "--db", tmp_path / "x.db")
    assert result.returncode == 1
    assert says in result.stderr


def test_backfill_refuses_a_plain_feed_and_dry_runs_a_status_page(tmp_path):
    config = tmp_path / "feed.toml"
    config.write_text('[[sources]]\nname = "feed"\nkind = "rss"\nurl = "http://127.0.0.1:9/feed.xml"\n')
    refused = earshot("backfill", "feed", "--since", "2024-01-01", "--config", config, "--db", tmp_path / "x.db")
    assert refused.returncode == 1 and "has no history to backfill" in refused.stderr
    dry = earshot(
        "backfill",
        "openai-status",
        "--since",
        "2024-01-01",
        "--until",
        "2024-03-01",
        "--dry-run",
        "--db",
        tmp_path / "x.db",
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "openai-status: 2 windows of 30 days, 2024-01-01T00:00:00+00:00..2024-03-01T00:00:00+00:00",
        "  2024-01-01T00:00:00+00:00..2024-01-31T00:00:00+00:00",
        "  2024-01-31T00:00:00+00:00..2024-03-01T00:00:00+00:00",
    ]
    backwards = earshot("backfill", "hackernews", "--since", "2024-03-01", "--until", "2024-01-01", "--dry-run")
    assert backwards.returncode == 2 and "must be before --until" in backwards.stderr


def test_import_incidents_is_idempotent(tmp_path):
    db = tmp_path / "x.db"
    first = earshot("import-incidents", "--db", db, "--provider", "openai")
    assert first.returncode == 0, first.stderr
    new = int(first.stdout.split()[0].replace(",", ""))
    assert new > 1000
    second = earshot("import-incidents", "--db", db, "--provider", "openai")
    assert second.stdout.strip() == f"0 new official updates, {new:,} already stored"


@pytest.mark.slow
def test_dashboard_serves_on_the_given_port(demo_db, free_port):
    process = subprocess.Popen(
        [EARSHOT, "dashboard", "--db", str(demo_db), "--port", str(free_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{free_port}", process)
        page = httpx.get(f"http://127.0.0.1:{free_port}/", timeout=5)
        assert page.status_code == 200 and '<div id="root">' in page.text
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.parametrize("command", [["dashboard"], ["detect"], ["evaluate"], ["status"], ["classify", "--reclassify"]])
def test_commands_that_only_read_refuse_a_database_that_does_not_exist(tmp_path, command):
    typo = tmp_path / "no-such-folder" / "earshot.db"
    result = earshot(*command, "--db", typo)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: no database at {typo}: check --db (or $EARSHOT_DB), "
        "or create one with `earshot collect`, `earshot watch` or `earshot demo`"
    )
    assert not typo.parent.exists()


def test_prune_deletes_only_older_posts_and_backup_copies_without_overwriting(demo_db, tmp_path):
    import shutil
    import sqlite3

    db = tmp_path / "months.db"
    shutil.copy(demo_db, db)
    before = sqlite3.connect(db).execute("SELECT count(*), sum(created_at < '2024-01-01') FROM posts").fetchone()
    alerts = sqlite3.connect(db).execute("SELECT count(*) FROM alerts").fetchone()[0]
    pruned = earshot("prune", "--db", db, "--before", "2024-01-01")
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout == f"deleted {before[1]:,} posts made before 2024-01-01T00:00:00+00:00\n"
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*), min(created_at) >= '2024-01-01' FROM posts").fetchone() == (
        before[0] - before[1],
        1,
    )
    assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == alerts, "alerts stay unless asked"
    again = earshot("prune", "--db", db, "--before", "2024-01-01")
    assert again.stdout.startswith("deleted 0 posts")

    copy = tmp_path / "backups" / "months.db"
    made = earshot("backup", "--db", db, copy)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"backed up {db} to {copy} (") and made.stdout.endswith(" MB, integrity ok)\n")
    assert sqlite3.connect(copy).execute("SELECT count(*) FROM posts").fetchone()[0] == before[0] - before[1]
    refused = earshot("backup", "--db", db, copy)
    assert refused.returncode == 1 and f"{copy} exists; backups never overwrite a file" in refused.stderr


def test_an_unknown_provider_is_an_error_not_an_empty_import(tmp_path):
    result = earshot("import-incidents", "--db", tmp_path / "x.db", "--provider", "openia")
    assert result.returncode == 2
    assert "no provider openia in" in result.stderr and "(it holds: anthropic, character, openai)" in result.stderr
