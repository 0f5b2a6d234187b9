"""The README shows real output and the commands CI really runs."""

import json
import re

from tests.conftest import REPO, earshot


def readme() -> str:
    return (REPO / "README.md").read_text()


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
    block = re.search(re.escape(f"$ {command}") + r"\n(.*?)\n\$ ", readme(), re.S).group(1)
    # The windows depend on the source kind and the range, not on the address.
    result = earshot(*command.split()[1:3], *command.split()[5:], "--db", tmp_path / "x.db")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == block.strip()


def test_readme_classify_output_is_what_classify_prints():
    match = re.search(r'\$ printf "(.*?)" \| earshot classify\n(.*?)```', readme(), re.S)
    lines = match.group(1).replace("\\n", "\n")
    shown = [json.loads(line) for line in match.group(2).strip().splitlines()]
    result = earshot("classify", input=lines)
    assert [json.loads(line) for line in result.stdout.splitlines()] == shown


def test_readme_simulated_evaluation_is_what_evaluate_prints(tmp_path):
    block = re.search(r"\$ earshot evaluate --db data/simulated.db\n(.*?)```", readme(), re.S).group(1)
    db = tmp_path / "simulated.db"
    assert earshot("simulate", "--db", db).returncode == 0
    result = earshot("evaluate", "--db", db)
    assert result.stdout.strip() == block.strip()


def test_readme_webhook_example_has_every_field_an_event_carries_and_each_is_explained():
    import pandas as pd

    from earshot.events import event_payload, new_episode

    block = re.search(r"A webhook receives one JSON object per event.*?```json\n(.*?)```", readme(), re.S).group(1)
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
    table = re.search(r"\| field \| meaning \|\n(.*?)\n\n", readme(), re.S).group(1)
    explained = {name for row in table.splitlines() for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert set(made) - {"created_at"} <= explained
