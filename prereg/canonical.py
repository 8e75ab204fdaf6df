"""Hashes that bind a campaign to its plan: exact bytes, a canonical form, and the analysis code.

Two hashes identify a plan. The *bytes* hash pins the file exactly as reviewed (comments and
layout included). The *canonical* hash pins what the plan means: the validated plan is dumped with
every default filled in (``model_dump(mode="json")``), as JSON with sorted keys and no whitespace,
so key order, indentation, comments and spelling out a default leave it unchanged while any value
change alters it. Random streams (:mod:`prereg.seeding`), stores and results carry the canonical
hash.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from prereg.schema import Plan

__all__ = ["analysis_code_hash", "bytes_hash", "canonical_hash", "canonical_json"]


def bytes_hash(data: bytes) -> str:
    """The SHA-256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def canonical_json(plan: Plan) -> str:
    """The canonical JSON text of a validated plan: defaults included, keys sorted, no whitespace.

    Lists keep their order (the order of arms is part of the plan); dictionaries do not.
    """
    return json.dumps(
        plan.model_dump(mode="json"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def canonical_hash(plan: Plan) -> str:
    """The SHA-256 of :func:`canonical_json` (UTF-8)."""
    return bytes_hash(canonical_json(plan).encode("utf-8"))


def analysis_code_hash() -> str:
    """The SHA-256 over the ``analysis`` package's ``*.py`` sources, found without importing it.

    Files are taken in sorted order of their path relative to the package; each contributes its
    relative path, a NUL byte and the SHA-256 of its bytes, so renaming, adding, removing or editing
    a module changes the hash. Compiled caches are ignored. When the package cannot be found the
    hash covers no files (and will not match any lock made with the package present).
    """
    digest = hashlib.sha256()
    spec = importlib.util.find_spec("analysis")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations[:1]:
        root = Path(location)
        for path in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix()):
            digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\x00")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
