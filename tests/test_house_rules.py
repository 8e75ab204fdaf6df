"""The rules DEVELOPERS.md states for the inside of the house, checked on the source itself.

The package-level dependency direction is ``tests/test_import_rules.py``; this file checks what
lies inside it: which sub-package of ``experiment/`` may import which, that commands never import
one another, that other packages use each package's face rather than its private modules, that
traffic and simulated arms read no clock, that ``TrialRecord`` keeps the trial table's column
order, and the size limits (modules about 400 lines, functions about 80).
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from prereg.records import TRIAL_COLUMNS, TrialRecord

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("prereg", "traffic", "arms", "analysis", "reports", "experiment")

#: experiment's parts (a sub-package, or a top-level module) and which other parts each may import.
EXPERIMENT_PARTS: dict[str, set[str]] = {
    "stop_signals": set(),
    "store": set(),
    "serve": set(),
    "campaign": {"store", "stop_signals"},
    "design": {"campaign", "stop_signals"},
    "locked": {"store", "design"},
    "cli": {"store", "campaign", "design", "serve", "locked", "stop_signals"},
    "__main__": {"cli"},
}
#: The most lines a module may have, and a function's body (its docstring not counted).
MAX_MODULE_LINES = 420
MAX_FUNCTION_LINES = 80


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported_modules(path: Path) -> set[str]:
    """Every absolute module name a file imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``)."""
    names: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _part_of(path: Path) -> str | None:
    rel = path.relative_to(ROOT / "experiment")
    if rel.name == "__init__.py" and len(rel.parts) == 1:
        return None
    return rel.parts[0].removesuffix(".py")


def test_every_experiment_part_has_a_rule() -> None:
    parts = {p for p in (_part_of(f) for f in _sources("experiment")) if p is not None}
    assert parts == set(EXPERIMENT_PARTS)


def test_experiment_parts_import_only_what_they_may() -> None:
    """Sub-packages of experiment/ form a short chain; nothing imports the CLI but ``__main__``."""
    bad = []
    for path in _sources("experiment"):
        part = _part_of(path)
        if part is None:
            continue
        for name in _imported_modules(path):
            if not name.startswith("experiment."):
                continue
            other = name.split(".")[1]
            if other in EXPERIMENT_PARTS and other != part and other not in EXPERIMENT_PARTS[part]:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert sorted(set(bad)) == []


def test_parts_use_each_others_faces() -> None:
    """One part of experiment/ imports another only through its face (``experiment.store``, not
    ``experiment.store.trial_store``); the faces are pinned in ``tests/test_faces.py``."""
    packages = {p.parent.name for p in (ROOT / "experiment").glob("*/__init__.py")}
    bad = []
    for path in _sources("experiment"):
        part = _part_of(path)
        for name in _imported_modules(path):
            parts = name.split(".")
            if len(parts) > 2 and parts[0] == "experiment" and parts[1] in packages and parts[1] != part:
                module = importlib.util.find_spec(".".join(parts[:3]))
                if module is not None:  # a module behind the face, not a name of the face
                    bad.append(f"{path.relative_to(ROOT)} imports {'.'.join(parts[:3])}")
    assert sorted(set(bad)) == []


def _command_modules() -> set[str]:
    """The CLI modules that define click commands (they export ``COMMANDS``)."""
    found = set()
    for path in (ROOT / "experiment" / "cli").glob("*.py"):
        if "COMMANDS" in {t.id for n in _tree(path).body if isinstance(n, ast.AnnAssign | ast.Assign)
                          for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                          if isinstance(t, ast.Name)}:  # fmt: skip
            found.add(f"experiment.cli.{path.stem}")
    return found


def test_commands_never_import_each_other() -> None:
    """A command calls library code (or the CLI's shared steps and options), never another command."""
    commands = _command_modules()
    assert {"experiment.cli.plan", "experiment.cli.run", "experiment.cli.demo"} <= commands
    bad = []
    for module in commands:
        path = ROOT / Path(*module.split(".")).with_suffix(".py")
        bad += [f"{module} imports {m}" for m in _imported_modules(path) & commands if m != module]
    assert sorted(bad) == []


def test_other_packages_use_faces_not_private_modules() -> None:
    """Outside a package, nothing imports its ``_private`` modules: the package's face is the way in."""
    bad = []
    for package in PACKAGES:
        for path in _sources(package):
            for name in _imported_modules(path):
                parts = name.split(".")
                if parts[0] in PACKAGES and parts[0] != package and any(p.startswith("_") for p in parts[1:]):
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert sorted(set(bad)) == []


#: Calls that read a clock. Virtual time must never depend on them.
_CLOCKS = {
    ("time", "time"),
    ("time", "perf_counter"),
    ("time", "monotonic"),
    ("time", "time_ns"),
    ("time", "perf_counter_ns"),
    ("time", "monotonic_ns"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
}


def _clock_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(_tree(path)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in _CLOCKS
        ):
            found.append(f"{path}:{node.lineno} {node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            found += [f"{path}:{node.lineno} from time import {a.name}" for a in node.names]
    return found


def _virtual_time_modules() -> list[Path]:
    """traffic/, and every module of arms/ that runs in SimPy's virtual time (imports simpy)."""
    arms = [p for p in _sources("arms") if "simpy" in {m.split(".")[0] for m in _imported_modules(p)}]
    assert arms, "expected the simulated arms to import simpy"
    return _sources("traffic") + arms


def test_traffic_and_simulated_arms_read_no_clock() -> None:
    """One seed reproduces every simulated outcome: virtual time never looks at a wall clock."""
    assert [r for p in _virtual_time_modules() for r in _clock_reads(p)] == []


def test_the_clock_checker_sees_a_clock(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("import time\nfrom datetime import datetime\nx = time.monotonic()\ny = datetime.now()\n")
    assert len(_clock_reads(f)) == 2


def test_trial_record_fields_follow_the_trial_columns() -> None:
    """``TrialRecord``'s fields are the trial table's columns, in the documented order."""
    assert [f.name for f in fields(TrialRecord)] == [c.name for c in TRIAL_COLUMNS]


def test_no_module_is_too_long() -> None:
    long = []
    for package in PACKAGES:
        for path in _sources(package):
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > MAX_MODULE_LINES:
                long.append(f"{path.relative_to(ROOT)}: {n} lines")
    assert long == []


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring (numpydoc ones are long by design)
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def test_no_function_is_too_long() -> None:
    long = []
    for package in PACKAGES:
        for path in _sources(package):
            for node in ast.walk(_tree(path)):
                if (
                    isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                    and _body_lines(node) > MAX_FUNCTION_LINES
                ):
                    long.append(
                        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {_body_lines(node)} lines"
                    )
    assert long == []


@pytest.mark.parametrize(
    "module", ["experiment.cli.app", "experiment.design.sim", "experiment.design.engine"]
)
def test_help_and_design_workers_import_no_database(module: str) -> None:
    """``routetrial --help`` and a design worker never load DuckDB, SQLAlchemy or pyarrow."""
    code = (
        f"import sys, {module}\n"
        "heavy = sorted(m for m in ('duckdb', 'sqlalchemy', 'pyarrow', 'duckdb_engine') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == ""
