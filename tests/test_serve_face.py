"""experiment/serve/'s public surface: one sorted ``__all__``, reached instead of its modules."""

from __future__ import annotations

import ast
from pathlib import Path

import experiment.serve

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / "experiment" / "serve"


def test_all_is_sorted_and_resolves() -> None:
    """``__all__`` lists each name once, constants then classes then functions, and each resolves."""
    names = experiment.serve.__all__
    assert names == sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[:1].isupper() else 2, n))
    assert len(set(names)) == len(names)
    assert all(hasattr(experiment.serve, n) for n in names)


def test_the_server_is_reached_through_its_face() -> None:
    """Code, tests and benchmarks import ``experiment.serve``, never one of its modules."""
    bad = []
    for folder in ("prereg", "traffic", "arms", "analysis", "reports", "experiment", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if SERVE in path.parents:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
                if isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                bad += [
                    f"{path.relative_to(ROOT)} imports {n}"
                    for n in names
                    if n.startswith("experiment.serve.")
                ]
    assert bad == []
