"""The plan's folder on the module path while a campaign builds and runs its arms.

A ``python`` router names ``package.module:function`` (:class:`prereg.backends.PythonClassifierSpec`);
a team keeps that module beside its plan, as it keeps the corpus. ``freeze`` hashed the module as
found from the plan's folder first (:mod:`prereg.router_code`), so the campaign imports it the
same way: the folder goes first on ``sys.path`` for the campaign, and comes off again after.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["plan_modules"]


@contextlib.contextmanager
def plan_modules(base_dir: Path) -> Iterator[None]:
    """``base_dir`` first on ``sys.path`` inside the block (removed after, if still there)."""
    entry = str(Path(base_dir).resolve())
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)
