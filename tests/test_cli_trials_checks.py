"""`analyze --trials FILE` checks every row against the schedule the plan re-derives (issue 12, item 7).

Rows beyond the schedule, unknown statuses, a negative or mismatched ``seq``, cases not in the
corpus, arms not in the plan and rows whose trial id disagrees with their arm, case and replay are
refused with one line naming the first bad row's trial id and the kind of mismatch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _cli import run_cli
from _experiment_plans import write_plan

import prereg.lock
from experiment.campaign.simulated import run_simulated
from experiment.cli import USER_ERROR_EXIT
from experiment.store import ARROW_TRIAL_SCHEMA
from prereg.frozen import load_frozen_plan

Rows = list[dict[str, Any]]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Rows]:
    """A frozen plan and the rows of its simulated campaign, exported to Parquet (ordered by seq)."""
    folder = tmp_path_factory.mktemp("trials_checks")
    plan = write_plan(folder)
    prereg.lock.freeze(plan)
    run_simulated(load_frozen_plan(plan), str(folder / "plan.duckdb"), progress=False)
    exported = folder / "trials.parquet"
    assert main_ok(folder / "plan.duckdb", exported)
    rows = pq.read_table(exported).to_pylist()
    return plan, sorted(rows, key=lambda r: r["seq"])


def main_ok(store: Path, out: Path) -> bool:
    from experiment.cli import main

    try:
        main(["export", str(store), "--format", "parquet", "--out", str(out)])
    except SystemExit as exc:
        return not exc.code
    return True


def _edit_status(rows: Rows) -> None:
    rows[3]["status"] = "exploded"


def _edit_routing_status(rows: Rows) -> None:
    rows[3]["routing_status" if rows[3]["routing_status"] else "downstream_status"] = "weird"


def _negative_seq(rows: Rows) -> None:
    rows[3]["seq"] = -1


def _beyond(rows: Rows) -> None:
    extra = dict(rows[-1])
    extra["seq"] = len(rows)
    extra["replay"] = 99
    extra["trial_id"] = f"{extra['arm']}:{extra['case_id']}:99"
    rows.append(extra)


def _not_scheduled(rows: Rows) -> None:
    rows[3]["replay"] = 99
    rows[3]["trial_id"] = f"{rows[3]['arm']}:{rows[3]['case_id']}:99"


def _swap_seq(rows: Rows) -> None:
    rows[3]["seq"], rows[5]["seq"] = rows[5]["seq"], rows[3]["seq"]


def _unknown_case(rows: Rows) -> None:
    rows[3]["case_id"] = "no-such-case"
    rows[3]["trial_id"] = f"{rows[3]['arm']}:no-such-case:{rows[3]['replay']}"


def _unknown_arm(rows: Rows) -> None:
    rows[3]["arm"] = "ghost"
    rows[3]["trial_id"] = f"ghost:{rows[3]['case_id']}:{rows[3]['replay']}"


def _other_arm(rows: Rows) -> None:
    other = next(r["arm"] for r in rows if r["arm"] != rows[3]["arm"])
    rows[3]["arm"] = other


def _wrong_family(rows: Rows) -> None:
    rows[3]["family"] = next(r["family"] for r in rows if r["family"] != rows[3]["family"])


def _duplicate(rows: Rows) -> None:
    rows.insert(4, dict(rows[3]))


def _three_bad(rows: Rows) -> None:
    for i in (3, 6, 9):
        rows[i]["status"] = "exploded"


EDITS: list[tuple[str, Callable[[Rows], None], str, str]] = [
    # (name, edit, column named, message part)
    ("unknown status", _edit_status, "status", "expected a status of ok, timeout,"),
    ("unknown step status", _edit_routing_status, "_status", "found 'weird'"),
    ("negative seq", _negative_seq, "seq", "expected a seq of at least 0, found -1"),
    ("beyond the schedule", _beyond, "seq", "row beyond the schedule: expected a seq below"),
    ("not in the schedule", _not_scheduled, "trial_id", "trial id not in the plan's schedule"),
    ("seq mismatch", _swap_seq, "seq", "seq mismatch: the schedule has this trial at seq"),
    ("unknown case", _unknown_case, "case_id", "expected a case of the corpus, found 'no-such-case'"),
    ("unknown arm", _unknown_arm, "arm", "expected an arm of the plan"),
    ("id disagrees", _other_arm, "trial_id", "trial id disagrees with its arm, case and replay"),
    ("family", _wrong_family, "family", "expected the corpus family"),
    ("duplicate", _duplicate, "trial_id", "duplicate row"),
]


def _write(rows: Rows, path: Path) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=ARROW_TRIAL_SCHEMA), path)
    return path


@pytest.mark.parametrize(("name", "edit", "column", "expected"), EDITS, ids=[e[0] for e in EDITS])
def test_a_bad_row_is_refused_in_one_line(
    campaign: tuple[Path, Rows],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    edit: Callable[[Rows], None],
    column: str,
    expected: str,
) -> None:
    """Each kind of mismatch: exit 2, one line with the file, the column, the trial id and the kind."""
    plan, original = campaign
    rows = [dict(r) for r in original]
    edit(rows)
    path = _write(rows, tmp_path / "bad.parquet")
    code, out, err = run_cli(capsys, "analyze", plan, "--trials", path)
    assert code == USER_ERROR_EXIT, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{path}: " in err, err
    assert column in err.split(f"{path}: ")[1].split(": ")[0], err
    assert expected in err, err
    assert "trial '" in err, err


def test_the_first_bad_row_is_named_and_the_others_counted(
    campaign: tuple[Path, Rows], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three bad rows: the first (by seq) is named, the two others counted."""
    plan, original = campaign
    rows = [dict(r) for r in original]
    _three_bad(rows)
    code, _, err = run_cli(capsys, "analyze", plan, "--trials", _write(rows, tmp_path / "bad.parquet"))
    assert code == USER_ERROR_EXIT
    assert f"trial {original[3]['trial_id']!r}: expected a status of" in err
    assert err.strip().endswith("(and 2 more bad rows)"), err


def test_missing_rows_are_an_unfinished_campaign_not_an_error(
    campaign: tuple[Path, Rows], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file with the first half of the trials is analysed (the flow shows what is missing)."""
    plan, original = campaign
    path = _write([dict(r) for r in original[: len(original) // 2]], tmp_path / "half.parquet")
    code, _, err = run_cli(capsys, "analyze", plan, "--trials", path)
    assert code == 0, err


def test_the_untouched_export_passes(
    campaign: tuple[Path, Rows], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rows exactly as exported are accepted."""
    plan, original = campaign
    code, _, err = run_cli(capsys, "analyze", plan, "--trials", _write(original, tmp_path / "t.parquet"))
    assert code == 0, err
