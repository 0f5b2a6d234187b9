"""The README and docs/ show real output, the commands CI really runs, and
the facts that have one source (the dashboard's pages, the commands) as
that source says them."""

import json
import re

import pytest

from tests.conftest import REPO, earshot

DOCS = sorted((REPO / "docs").glob("*.md"))


def readme() -> str:
    return (REPO / "README.md").read_text()


def doc(name: str) -> str:
    return (REPO / "docs" / f"{name}.md").read_text()


def test_the_readme_is_a_front_door():
    text = readme()
    assert len(text.splitlines()) < 300
    assert "**Contents:**" in text.split("## Quick start")[0]
    for page in DOCS:
        assert f"(docs/{page.name})" in text, f"the README does not link {page.name}"


@pytest.mark.parametrize("page", [REPO / "README.md", REPO / "DEVELOPERS.md", *DOCS], ids=lambda p: p.name)
def test_every_relative_link_and_image_resolves(page):
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
        assert (page.parent / target).exists(), f"{page.name} links {target}, which does not exist"


_NUMBER = {4: "four", 5: "five", 6: "six", 7: "seven"}


def test_the_readme_and_help_list_the_pages_the_dashboard_has():
    from dashboard.pages import PAGES

    titles = [page.title for page in PAGES]
    section = readme().split("## What the demo shows")[1].split("\n## ")[0]
    assert f"It has {_NUMBER[len(PAGES)]} pages:" in section
    assert re.findall(r"^- \*\*(\w+)\*\*", section, re.M) == titles
    help_text = earshot("dashboard", "--help").stdout
    assert f"{_NUMBER[len(PAGES)].capitalize()} pages:" in help_text
    listed = [line.split()[0] for line in help_text.splitlines() if line.startswith("    ") and line.split()]
    assert [word for word in listed if word in titles] == titles


def test_the_readme_command_table_is_every_command():
    from earshot.roof.cli import cli

    table = readme().split("| command | what it does |")[1].split("\n\n")[0]
    listed = re.findall(r"^\| `earshot ([\w-]+)", table, re.M)
    assert sorted(listed) == sorted(cli.commands)


def test_ci_runs_the_readme_test_command():
    test_command = next(line for line in readme().splitlines() if "pip install -e '.[test]'" in line)
    assert test_command in (REPO / ".ci" / "run").read_text().splitlines()


def test_readme_quick_start_runs_the_demo():
    assert any(line.endswith("earshot demo") and "pip install -e ." in line for line in readme().splitlines())


def test_readme_detect_output_is_what_detect_prints(demo_db):
    block = re.search(r"\$ earshot detect --json --db data/demo.db\n(.*?)```", readme(), re.S).group(1)
    shown = [json.loads(line) for line in block.strip().splitlines()]
    result = earshot("detect", "--json", "--db", demo_db)
    assert [json.loads(line) for line in result.stdout.splitlines()] == shown


def test_readme_evaluate_output_is_what_evaluate_prints(demo_db):
    block = re.search(r"\$ earshot evaluate --db data/demo.db\n(.*?)```", readme(), re.S).group(1)
    result = earshot("evaluate", "--db", demo_db)
    assert result.stdout.strip() == block.strip()


def test_readme_backfill_dry_run_is_what_backfill_prints(tmp_path):
    command = "earshot backfill hackernews --config emulator.toml --since 2023-11-01 --until 2023-11-08 --dry-run"
    block = re.search(re.escape(f"$ {command}") + r"\n(.*?)\n\$ ", doc("configuration"), re.S).group(1)
    # The windows depend on the source kind and the range, not on the address.
    result = earshot(*command.split()[1:3], *command.split()[5:], "--db", tmp_path / "x.db")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == block.strip()


def test_readme_classify_output_is_what_classify_prints():
    match = re.search(r'\$ printf "(.*?)" \| earshot classify\n(.*?)```', doc("how-it-decides"), re.S)
    lines = match.group(1).replace("\\n", "\n")
    shown = [json.loads(line) for line in match.group(2).strip().splitlines()]
    result = earshot("classify", input=lines)
    assert [json.loads(line) for line in result.stdout.splitlines()] == shown


@pytest.mark.slow
def test_readme_simulated_evaluation_is_what_evaluate_prints(tmp_path):
    block = re.search(r"\$ earshot evaluate --db data/simulated.db\n(.*?)```", doc("how-it-decides"), re.S).group(1)
    db = tmp_path / "simulated.db"
    assert earshot("simulate", "--db", db).returncode == 0
    result = earshot("evaluate", "--db", db)
    assert result.stdout.strip() == block.strip()


def test_readme_webhook_example_has_every_field_an_event_carries_and_each_is_explained():
    import pandas as pd

    from earshot.events import event_payload, new_episode

    block = re.search(
        r"A webhook receives one JSON object per event.*?```json\n(.*?)```", doc("operations"), re.S
    ).group(1)
    shown = json.loads(block)
    episode = new_episode("chatgpt", pd.Timestamp("2024-03-12T13:40Z"), pd.Timestamp("2024-03-12T13:44Z"))
    made = event_payload(
        "opened",
        episode,
        label="ChatGPT",
        reports=7,
        expected=0.15,
        samples=[],
        dashboard_url="http://localhost:8501",
        created_at=pd.Timestamp("2024-03-12T13:44Z"),
    )
    assert list(shown) == list(made)
    table = re.search(r"\| field \| meaning \|\n(.*?)\n\n", doc("operations"), re.S).group(1)
    explained = {name for row in table.splitlines() for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert set(made) - {"created_at"} <= explained


def test_the_source_kinds_documented_are_the_kinds_earshot_has():
    from earshot.kinds import KINDS

    table = doc("configuration").split("| kind | live (`collect`) |")[1].split("\n\n")[0]
    documented = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert sorted(documented) == sorted(KINDS)
    for kind in KINDS.values():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{kind.name}` |"))
        assert row.split("|")[3].strip().startswith("none") == (not kind.backfill)


def test_the_metrics_and_endpoints_documented_are_the_ones_watch_serves(tmp_path, classifier):
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from earshot.config import parse_config
    from earshot.roof.watch import Readings, Watcher
    from earshot.roof.watch.serving import ENDPOINTS

    config = parse_config(
        {
            "services": [{"name": "chatgpt", "terms": ["chatgpt"]}],
            "sources": [{"name": "feed", "kind": "rss", "url": "http://127.0.0.1:9/feed.xml"}],
            "notify": [{"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}],
        },
        "docs.toml",
    )
    readings = Readings(config)
    Watcher(tmp_path / "d.db", config, classifier, readings=readings).pass_once()
    families = text_string_to_metric_families(generate_latest(readings.registry).decode())
    served = {f.name for f in families if not f.name.endswith("_created")}  # the client's own creation stamps
    page = doc("operations")
    table = page.split("| family | labels | |")[1].split("\n\n")[0]
    documented = set(re.findall(r"^\| `(earshot_\w+)` \|", table, re.M))
    # The parser names a counter family without its _total.
    assert {name.removesuffix("_total") for name in documented} == served
    paths = re.findall(r"^\| `(/[\w./]+)` \|", page.split("| path | what | for |")[1].split("\n\n")[0], re.M)
    assert paths == list(ENDPOINTS)
