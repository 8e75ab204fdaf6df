"""The code of a plan's ``python`` routers, found and hashed without running it.

A ``python`` router (:class:`~prereg.backends.PythonClassifierSpec`) names
``package.module:function``. Its code is part of what a freeze binds, like the analysis code: a
router changed after freezing would answer a different question than the one pre-registered. So
the lock keeps, per arm, the callable and the SHA-256 of its source: the whole top-level package
when the module is in one (a change to any helper module counts), else the module's file.

The module is located the way ``import`` would find it, with the plan's folder first on the
path, through :class:`importlib.machinery.PathFinder`, which reads directories and never executes
a package's ``__init__``: freezing and verifying a plan never run the router.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from importlib.machinery import PathFinder
from pathlib import Path

from prereg.backends import PythonClassifierSpec
from prereg.errors import PlanMeaningError
from prereg.schema import Plan, RouterArmSpec

__all__ = [
    "module_files",
    "python_routers",
    "router_code_changes",
    "router_code_hashes",
    "router_source_hash",
]


def python_routers(plan: Plan) -> list[tuple[str, str]]:
    """``(arm id, callable)`` of every router arm whose classifier is a ``python`` backend."""
    return [
        (arm.id, arm.classifier.backend.callable)
        for arm in plan.arms
        if isinstance(arm, RouterArmSpec) and isinstance(arm.classifier.backend, PythonClassifierSpec)
    ]


def module_files(
    callable_ref: str, plan_dir: Path, search: Sequence[str] | None = None
) -> tuple[Path, list[Path]] | None:
    """The source files a callable's code is, and their root: its top-level package's ``*.py``
    (root: the package folder), or its module file (root: the file's folder).

    None when the module cannot be found from ``plan_dir`` and the module path (``search``,
    default ``sys.path``).
    """
    module = callable_ref.partition(":")[0]
    parts = module.split(".")
    path: list[str] = [str(plan_dir), *(sys.path if search is None else search)]
    spec = PathFinder.find_spec(parts[0], path)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations)))
        # Check that the named submodule exists without importing the package.
        locations = list(spec.submodule_search_locations)
        for depth in range(1, len(parts)):
            sub = PathFinder.find_spec(".".join(parts[: depth + 1]), locations)
            if sub is None:
                return None
            locations = list(sub.submodule_search_locations or [])
        return root, sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix())
    if len(parts) > 1 or spec.origin is None:
        return None
    return Path(spec.origin).parent, [Path(spec.origin)]


def router_source_hash(callable_ref: str, plan_dir: Path, search: Sequence[str] | None = None) -> str | None:
    """SHA-256 over the router's source files (relative path, NUL, file SHA-256 each); None if not found."""
    found = module_files(callable_ref, plan_dir, search)
    if found is None:
        return None
    root, files = found
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode("utf-8") + b"\x00")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def router_code_hashes(plan: Plan, plan_path: Path) -> dict[str, dict[str, str | None]]:
    """Per python router arm: its callable and the hash of its source, for the lock.

    Raises :class:`~prereg.errors.PlanMeaningError` naming the field when a router's module
    cannot be found: a plan whose router code cannot be bound is not frozen.
    """
    out: dict[str, dict[str, str | None]] = {}
    for arm_id, ref in python_routers(plan):
        sha = router_source_hash(ref, plan_path.parent)
        if sha is None:
            index = next(i for i, a in enumerate(plan.arms) if a.id == arm_id)
            raise PlanMeaningError(
                f"expected a module importable from the plan's folder or the module path, found "
                f"none for {ref!r} (its code is hashed into the lock)",
                file=str(plan_path),
                field=f"arms[{index}].classifier.backend.callable",
            )
        out[arm_id] = {"callable": ref, "sha256": sha}
    return out


def router_code_changes(frozen: dict[str, dict[str, str | None]], plan_dir: Path) -> list[str]:
    """What differs from the router code a lock holds: one line per arm whose source changed."""
    out = []
    for arm_id, code in sorted(frozen.items()):
        ref = str(code["callable"])
        now = router_source_hash(ref, plan_dir)
        if now != code["sha256"]:
            was = (code["sha256"] or "none")[:12]
            out.append(f"arm {arm_id} ({ref}): frozen {was}, now {now[:12] if now else 'not found'}")
    return out
