"""The layers, as DEVELOPERS.md draws them, checked on the source.

Data flows one way: readers (collectors/) -> ingest -> store -> aggregates
-> detector -> alerts -> dashboard / CLI. The ground and the glue
(``earshot.*`` but ``earshot.roof``) never import ``collectors`` or
``dashboard``; ``detector`` imports none of the others; only the roof
(``earshot.roof``) ties them all together; SQL is written only in ``earshot``.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("earshot", "collectors", "detector", "dashboard")
SQL = re.compile(
    r"\b(SELECT\b[\s\S]*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\[?\w+\]?\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(TABLE|INDEX)|PRAGMA)\b"  # the house writes SQL keywords in capitals
)


def modules() -> dict[str, Path]:
    """Every module of the four packages, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports, anywhere in it (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    named = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            named |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            named.add(base)
            named |= {f"{base}.{alias.name}" for alias in node.names}
    known = modules()
    return {module for module in named if module in known and module != name}


def graph() -> dict[str, set[str]]:
    return {name: imports_of(name, path) for name, path in modules().items()}


def top(module: str) -> str:
    return module.split(".")[0]


def is_roof(module: str) -> bool:
    # ``python -m earshot`` is the command too.
    return module in ("earshot.roof", "earshot.__main__") or module.startswith("earshot.roof.")


def test_the_checker_reads_relative_and_nested_imports():
    edges = graph()
    assert "earshot.store" in edges["earshot.ingest"]  # from .store import ...
    assert "collectors.collect" in edges["earshot.roof.cli"]  # imported inside a command
    assert "earshot.roof.scenarios" in edges["earshot.roof.demo"]


def test_the_detector_imports_none_of_the_others():
    edges = graph()
    for module, imported in edges.items():
        if top(module) == "detector":
            assert {top(m) for m in imported} <= {"detector"}, (module, sorted(imported))


def test_nothing_that_collectors_or_the_dashboard_import_reaches_back_up():
    edges = graph()
    for start in (m for m in edges if top(m) in ("collectors", "dashboard")):
        seen, todo = set(), [m for m in edges[start] if top(m) == "earshot"]
        while todo:
            module = todo.pop()
            if module in seen:
                continue
            seen.add(module)
            upward = {m for m in edges[module] if top(m) in ("collectors", "dashboard")}
            assert not upward, f"{start} imports {module}, which imports {sorted(upward)}"
            todo += [m for m in edges[module] if top(m) == "earshot"]


def test_only_the_roof_ties_the_layers_together():
    edges = graph()
    for module, imported in edges.items():
        tops = {top(m) for m in imported}
        if top(module) == "earshot" and not is_roof(module):
            assert not tops & {"collectors", "dashboard"}, (module, sorted(imported))
            assert not any(is_roof(m) for m in imported), (module, sorted(imported))
        if top(module) == "collectors":
            assert "dashboard" not in tops and not any(is_roof(m) for m in imported), module
        if top(module) == "dashboard":
            assert "collectors" not in tops and not any(is_roof(m) for m in imported), module


@pytest.mark.parametrize("package", ["collectors", "dashboard", "detector"])
def test_no_sql_is_written_outside_earshot(package):
    for path in sorted((REPO / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not SQL.search(node.value), f"{path.relative_to(REPO)}:{node.lineno}: {node.value[:60]!r}"


def test_the_sql_pattern_knows_sql_when_it_sees_it():
    assert SQL.search("SELECT max(rowid) FROM posts")
    assert SQL.search("INSERT OR IGNORE INTO [posts] (a) VALUES (?)")
    assert SQL.search("UPDATE posts SET is_complaint = ? WHERE rowid = ?")
    assert not SQL.search("select a source to collect from the list")
    assert not SQL.search("update the state of the source")


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, str(REPO)], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
