"""The layers, as DEVELOPERS.md draws them, checked on the source.

Data flows one way: readers (collectors/) -> ingest -> store -> aggregates
-> detector -> alerts -> dashboard / CLI. The rules are import-linter
contracts in ``pyproject.toml`` (``[tool.importlinter]``): the roof over the
pages and readers, over the glue, over the ground, over the detector; the
readers never reach the glue. SQL is written only in the store.
"""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("earshot", "collectors", "detector", "dashboard")
# The store is the one home of SQL text (aggregates are its read side).
SQL_HOMES = {Path("earshot/store.py"), Path("earshot/aggregates.py")}
SQL = re.compile(
    r"\b(SELECT\b[\s\S]*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\[?\w+\]?\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(TABLE|INDEX)|PRAGMA|VACUUM)\b"  # the house writes SQL keywords in capitals
)


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """import-linter run on the tree at ``root`` with that tree's pyproject.toml."""
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    return subprocess.run(
        command, capture_output=True, text=True, cwd=root, timeout=120, env={"PYTHONPATH": str(root), "PATH": ""}
    )


def test_the_import_contracts_are_kept():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout, result.stdout


@pytest.mark.parametrize(
    "module, line, broken",
    [
        ("collectors/collect.py", "import earshot.report", "collectors is not allowed to import earshot.report"),
        ("earshot/store.py", "import earshot.analysis", "earshot.store is not allowed to import earshot.analysis"),
        ("detector/counts.py", "import earshot.config", "detector is not allowed to import earshot.config"),
        ("dashboard/data.py", "import collectors.collect", "dashboard is not allowed to import collectors"),
        (
            "earshot/roof/watch/serving.py",
            "import earshot.store",
            "earshot.roof.watch.serving is not allowed to import earshot.store",
        ),
    ],
    ids=["reader-to-glue", "ground-to-glue", "detector-to-ground", "page-to-reader", "server-to-store"],
)
def test_a_broken_layer_is_caught(tmp_path, module, line, broken):
    """The contracts can fail: one upward import added to a copy of the tree breaks them."""
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    with (tmp_path / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{line}  # an import the layers forbid\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken in " ".join(result.stdout.split()), result.stdout


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring constants in ``tree``: examples may show SQL."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def sql_outside_the_store() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if path.relative_to(REPO) in SQL_HOMES:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = _docstrings(tree)
            for node in ast.walk(tree):
                text = node.value if isinstance(node, ast.Constant) and id(node) not in docstrings else None
                if isinstance(text, str) and SQL.search(text):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value[:60]!r}")
    return found


def test_no_sql_is_written_outside_the_store():
    assert sql_outside_the_store() == []


def test_write_transactions_take_the_lock_first():
    """``db.atomic()`` begins deferred; only ``earshot.store.writing`` (BEGIN IMMEDIATE) may use it."""
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if ".atomic()" in line and path.relative_to(REPO) != Path("earshot/store.py"):
                    found.append(f"{path.relative_to(REPO)}:{number}")
    assert found == []


def test_the_sql_pattern_knows_sql_when_it_sees_it():
    assert SQL.search("SELECT max(rowid) FROM posts")
    assert SQL.search("INSERT OR IGNORE INTO [posts] (a) VALUES (?)")
    assert SQL.search("UPDATE posts SET is_complaint = ? WHERE rowid = ?")
    assert SQL.search("PRAGMA integrity_check")
    assert not SQL.search("select a source to collect from the list")
    assert not SQL.search("update the state of the source")


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, str(REPO)], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
