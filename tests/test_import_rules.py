"""The dependency direction between packages (DEVELOPERS.md), checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("prereg", "traffic", "arms", "analysis", "reports", "experiment")

#: Which of our own packages each package may import.
ALLOWED: dict[str, set[str]] = {
    "prereg": set(),
    "traffic": {"prereg"},
    "arms": {"prereg"},
    "analysis": {"prereg"},
    "reports": {"prereg", "analysis"},
    "experiment": {"prereg", "traffic", "arms", "analysis", "reports"},
}

#: Third-party modules that pure packages must never touch: database drivers, HTTP clients, SimPy.
IMPURE = {
    "sqlalchemy",
    "duckdb",
    "duckdb_engine",
    "httpx",
    "requests",
    "aiohttp",
    "urllib3",
    "simpy",
    "pyarrow",
    "uvicorn",
    "starlette",
    "socket",
    "sqlite3",
}
PURE = {"analysis", "reports"}


def imported_top_levels(path: Path) -> set[str]:
    """Top-level module names imported anywhere in a file (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_it_may(package: str) -> None:
    """No package imports one of ours that sits above it in the dependency direction."""
    bad = []
    for path in sources(package):
        ours = imported_top_levels(path) & set(PACKAGES) - {package}
        for name in sorted(ours - ALLOWED[package]):
            bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []


@pytest.mark.parametrize("package", sorted(PURE))
def test_pure_packages_touch_no_driver_client_or_simpy(package: str) -> None:
    """analysis and reports take plain records: no database driver, HTTP client or SimPy."""
    bad = []
    for path in sources(package):
        for name in sorted(imported_top_levels(path) & IMPURE):
            bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []


def test_nothing_imports_experiment() -> None:
    """experiment wires everything; no other package may depend on it."""
    bad = [
        str(p.relative_to(ROOT))
        for pkg in PACKAGES
        if pkg != "experiment"
        for p in sources(pkg)
        if "experiment" in imported_top_levels(p)
    ]
    assert bad == []


def test_rule_checker_sees_a_violation(tmp_path: Path) -> None:
    """The checker itself catches an import hidden inside a function."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    import duckdb\n    from experiment.cli import main\n")
    assert imported_top_levels(f) == {"duckdb", "experiment"}
