"""The prereg package's public surface."""

from __future__ import annotations

import prereg


def test_all_is_sorted_and_importable() -> None:
    """``prereg.__all__`` lists every public name once, constants first, then sorted, and each resolves."""
    names = prereg.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n)) and len(set(names)) == len(names)
    assert all(hasattr(prereg, n) for n in names)
    assert {
        "load_plan",
        "load_corpus",
        "canonical_hash",
        "bytes_hash",
        "analysis_code_hash",
        "load_frozen_plan",
        "FrozenPlan",
        "LockRecord",
        "append_log",
        "read_log",
        "LogEntry",
    } <= set(names)
