"""The hash-chained log: entries chain by hash; any edit, deletion or reordering is detected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prereg.errors import InputError, PlanChangedError
from prereg.log import GENESIS, append_log, entry_hash, log_problem, read_log
from prereg.study_files import log_path, plan_root


@pytest.fixture
def logged(tmp_path: Path) -> Path:
    """A plan path whose log holds three entries."""
    plan = tmp_path / "plan.yaml"
    for i in range(3):
        append_log(plan, "deviation", {"reason": f"r{i}"})
    return plan


def test_entries_chain_by_hash(logged: Path) -> None:
    """Each entry's prev is the previous hash and its hash covers every other field."""
    entries = read_log(logged)
    assert [e.seq for e in entries] == [0, 1, 2]
    assert [e.prev for e in entries] == [GENESIS, entries[0].hash, entries[1].hash]
    assert all(e.hash == entry_hash(e.seq, e.kind, e.at_utc, e.detail, e.prev) for e in entries)
    assert entries[2].detail == {"reason": "r2"} and entries[2].kind == "deviation"


def _lines(plan: Path) -> list[str]:
    return log_path(plan).read_text().splitlines(keepends=True)


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (lambda ls: [ls[0], ls[1].replace('"r1"', '"rX"'), ls[2]], "line 2: entry 1 was edited"),
        (lambda ls: [ls[0], ls[2]], "line 2: expected entry 1, found entry 2"),
        (lambda ls: [ls[1], ls[0], ls[2]], "line 1: expected entry 0, found entry 1"),
        (lambda ls: [ls[0], ls[1], ls[2][:-1]], "the last line is incomplete"),
        (lambda ls: [ls[0], "not json\n", ls[2]], "line 2 is not a log entry"),
    ],
    ids=["edit", "delete", "reorder", "truncate", "garbage"],
)
def test_tampering_is_detected(logged: Path, tamper: object, problem: str) -> None:
    """Editing, deleting, reordering or garbling an entry breaks the chain at the named line."""
    assert callable(tamper)
    log_path(logged).write_text("".join(tamper(_lines(logged))))
    assert problem in (log_problem(logged) or "")
    with pytest.raises(PlanChangedError, match="log tampered"):
        read_log(logged)


def test_rehashed_edit_still_breaks_the_next_link(logged: Path) -> None:
    """Recomputing an edited entry's own hash does not help: the next entry's prev no longer matches."""
    lines = _lines(logged)
    entry = json.loads(lines[1])
    entry["detail"] = {"reason": "rX"}
    entry["hash"] = entry_hash(entry["seq"], entry["kind"], entry["at_utc"], entry["detail"], entry["prev"])
    lines[1] = json.dumps(entry) + "\n"
    log_path(logged).write_text("".join(lines))
    assert "line 3: entry 2 does not follow the previous entry" in (log_problem(logged) or "")


def test_append_refuses_a_tampered_log(logged: Path) -> None:
    """Nothing is appended to a broken chain."""
    log_path(logged).write_text("".join(_lines(logged)[1:]))
    with pytest.raises(PlanChangedError, match="not appending"):
        append_log(logged, "deviation", {"reason": "x"})


def test_amendments_share_the_root_log(tmp_path: Path) -> None:
    """plan.amend-2.yaml belongs to plan.yaml's family and writes to plan.yaml.log.jsonl."""
    assert plan_root(tmp_path / "plan.amend-2.yaml") == (tmp_path / "plan.yaml", 2)
    assert plan_root(tmp_path / "plan.yaml") == (tmp_path / "plan.yaml", 0)
    assert log_path(tmp_path / "plan.amend-2.yaml") == tmp_path / "plan.yaml.log.jsonl"


def test_no_log_reads_empty(tmp_path: Path) -> None:
    """A plan without a log has no entries and no problem."""
    assert read_log(tmp_path / "plan.yaml") == () and log_problem(tmp_path / "plan.yaml") is None


def test_kind_and_detail_are_checked(tmp_path: Path) -> None:
    """Kinds are lower-case words and details map strings to strings."""
    with pytest.raises(InputError, match="kind: expected a lower-case word"):
        append_log(tmp_path / "plan.yaml", "Bad Kind", {})
    with pytest.raises(InputError, match="detail: expected string keys and values"):
        append_log(tmp_path / "plan.yaml", "deviation", {"n": 1})  # type: ignore[dict-item]
