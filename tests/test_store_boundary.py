"""experiment/store/ is the only code that speaks SQL or Arrow, and others reach it through its face."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import experiment.store

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("prereg", "traffic", "arms", "analysis", "reports", "experiment")
STORE = ROOT / "experiment" / "store"
#: The database drivers and Arrow: what only experiment/store/ may import.
STORE_ONLY = {"sqlalchemy", "duckdb", "duckdb_engine", "pyarrow"}


def imports(path: Path) -> list[str]:
    """Every module a file imports, with its dots (imports inside functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def outside_store(*dirs: str) -> list[Path]:
    return [p for d in dirs for p in sorted((ROOT / d).rglob("*.py")) if STORE not in p.parents]


def test_only_the_store_imports_a_database_driver_or_arrow() -> None:
    """No module outside experiment/store/ imports sqlalchemy, duckdb, duckdb_engine or pyarrow."""
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in outside_store(*PACKAGES)
        for name in imports(path)
        if name.split(".")[0] in STORE_ONLY
    ]
    assert bad == []


def test_the_store_is_reached_through_its_face() -> None:
    """Code, tests and benchmarks import ``experiment.store``, never one of its modules."""
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in outside_store(*PACKAGES, "tests", "bench")
        for name in imports(path)
        if name.startswith("experiment.store.")
    ]
    assert bad == []


def test_the_face_lists_each_name_once_in_order_and_where_it_lives() -> None:
    """``__all__`` is sorted (constants, classes, functions) and each name resolves to its module's."""
    names = experiment.store.__all__
    assert names == sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[:1].isupper() else 2, n))
    assert len(set(names)) == len(names)
    homes = experiment.store._HOMES
    assert sorted(homes) == sorted(names)
    for name in names:
        module = importlib.import_module(f"experiment.store.{homes[name]}")
        assert getattr(experiment.store, name) is getattr(module, name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    """A name the face does not have fails like any missing attribute."""
    with pytest.raises(AttributeError, match="no_such_name"):
        experiment.store.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    ("code", "absent"),
    [
        ("import experiment.cli.app", STORE_ONLY),
        ("import experiment.store", STORE_ONLY),
        ("from experiment.store import progress_path, store_path, store_url", {"duckdb", "pyarrow"}),
    ],
)
def test_naming_a_store_does_not_load_duckdb(code: str, absent: set[str]) -> None:
    """``routetrial --help`` and the store's locations import neither DuckDB nor Arrow."""
    probe = f"import sys; {code}; print(' '.join(sorted(m for m in {sorted(absent)!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""
