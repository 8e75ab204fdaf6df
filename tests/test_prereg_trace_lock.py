"""The lock binds the arrival trace; a mistyped plan path is named as such."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from strategies import small_plan, write_plan

from prereg.amend import amend
from prereg.canonical import bytes_hash
from prereg.errors import InputError, PlanChangedError
from prereg.frozen import load_frozen_plan
from prereg.lock import freeze, verify
from prereg.log import read_log
from prereg.study_files import lock_path


def _trace_plan(folder: Path) -> Path:
    """The small plan with a 24-timestamp trace beside it (one per request)."""
    plan = small_plan()
    plan["traffic"]["arrival"] = {"kind": "trace", "path": "arrivals.txt"}
    (folder / "arrivals.txt").write_text("".join(f"{i * 0.5}\n" for i in range(24)))
    return write_plan(folder, plan)


def test_freeze_pins_the_trace_even_without_a_sha256_in_the_plan(tmp_path: Path) -> None:
    """The lock and its log entry record the trace file's SHA-256 and path."""
    path = _trace_plan(tmp_path)
    record = freeze(path)
    sha = bytes_hash((tmp_path / "arrivals.txt").read_bytes())
    assert record.trace_sha256 == sha and record.trace_path == "arrivals.txt"
    assert json.loads(lock_path(path).read_text())["trace_sha256"] == sha
    assert read_log(path)[0].detail["trace_sha256"] == sha
    assert verify(path).ok


def test_a_changed_trace_is_named_by_verify_and_refused_by_load_frozen_plan(tmp_path: Path) -> None:
    """One changed byte of the trace: verify names 'trace', later commands refuse the plan."""
    path = _trace_plan(tmp_path)
    freeze(path)
    trace = tmp_path / "arrivals.txt"
    trace.write_bytes(trace.read_bytes().replace(b"0.5\n", b"0.6\n", 1))
    report = verify(path)
    assert [c.what for c in report.changes] == ["trace"]
    assert report.describe().startswith("changed since freezing: trace (arrivals.txt: frozen ")
    with pytest.raises(PlanChangedError, match="trace .*routetrial amend"):
        load_frozen_plan(path)
    with pytest.raises(PlanChangedError, match="changed since freezing: trace"):
        freeze(path)


def test_a_deleted_trace_is_named_missing(tmp_path: Path) -> None:
    """A trace deleted after freezing is reported as missing."""
    path = _trace_plan(tmp_path)
    freeze(path)
    (tmp_path / "arrivals.txt").unlink()
    assert verify(path).describe().endswith(", now missing)")


def test_a_changed_trace_is_a_reason_to_amend(tmp_path: Path) -> None:
    """Like a changed corpus, a changed trace does not block starting an amendment."""
    path = _trace_plan(tmp_path)
    freeze(path)
    (tmp_path / "arrivals.txt").write_text("".join(f"{i * 0.25}\n" for i in range(24)))
    assert amend(path, "new trace").name == "plan.amend-1.yaml"


def test_plans_without_a_trace_lock_no_trace(tmp_path: Path) -> None:
    """A Poisson plan's lock has no trace fields set, and its log entry no trace hash."""
    path = write_plan(tmp_path)
    record = freeze(path)
    assert record.trace_sha256 is None and record.trace_path is None
    assert "trace_sha256" not in read_log(path)[0].detail


@pytest.mark.parametrize("action", [verify, load_frozen_plan])
def test_a_mistyped_plan_path_is_not_called_unfrozen(tmp_path: Path, action: object) -> None:
    """With neither plan nor lock, the error says there is no plan file (not "freeze it")."""
    with pytest.raises(InputError, match=r"nope.yaml: expected a plan file, found no such file$"):
        action(tmp_path / "nope.yaml")  # type: ignore[operator]
