"""The locked analysis of a frozen plan: trials from its store (or a trial file) through ``analysis.analyze``.

Both ``routetrial analyze`` and ``routetrial report`` go through :func:`run_locked_analysis`, so the
two can never disagree on what was analysed. The lock binds the analysis code too: when its hash
differs from the one frozen with the plan, the analysis is refused unless a deviation reason is
given; the reason is then appended to the plan's hash-chained log and carried into the results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis import Results, RunMeta, TrialTable, analyze
from experiment.store import TrialStore, read_trial_file, store_trials, trial_file_format
from prereg.errors import InputError, PlanChangedError
from prereg.frozen import FrozenPlan, load_frozen_plan
from prereg.log import append_log
from prereg.records import STATUSES, Case, trial_id
from traffic import Schedule, build_schedule

__all__ = [
    "LockedAnalysis",
    "check_trials_against_schedule",
    "load_file_trials",
    "load_store_trials",
    "run_locked_analysis",
]


@dataclass(frozen=True)
class LockedAnalysis:
    """A frozen plan, the trials analysed under it, the run metadata and the results."""

    frozen: FrozenPlan
    table: TrialTable
    meta: RunMeta
    results: Results
    #: The store the trials came from (None: a trial file); the report reads its run facts there.
    store: str | None = None


def load_store_trials(
    frozen: FrozenPlan, store: str, deviations: tuple[str, ...] = ()
) -> tuple[TrialTable, RunMeta]:
    """The store's trials as an analysis table, and what the analysis needs to know about the run."""
    with TrialStore.open(store, frozen.canonical_hash, create=False, read_only=True) as st:
        return store_trials(
            st, frozen.canonical_hash, frozen.bytes_hash, frozen.analysis_code_matches, deviations
        )


def load_file_trials(
    frozen: FrozenPlan, path: Path, deviations: tuple[str, ...] = ()
) -> tuple[TrialTable, RunMeta]:
    """Trials from a Parquet or CSV file, against the schedule the plan itself re-derives.

    The schedule is a deterministic function of the frozen plan (seed and canonical hash), so the
    planned counts per arm, and with them the flow, do not depend on the file's producer having
    kept them. The allocation actually written before the first request is not in a trial file:
    re-deriving it would make its sample-ratio check compare the plan with itself, so it is
    unknown here and the results say that check is not possible.
    """
    columns = read_trial_file(path, frozen.canonical_hash)
    schedule = build_schedule(
        frozen.plan, [c.id for c in frozen.corpus], frozen.canonical_hash, frozen.path.parent
    )
    check_trials_against_schedule(columns, schedule, frozen.corpus, str(path))
    allocation = schedule.allocation_counts()
    run = RunMeta(
        plan_canonical_sha256=frozen.canonical_hash,
        plan_bytes_sha256=frozen.bytes_hash,
        analysis_code_matches=frozen.analysis_code_matches,
        deviations=deviations,
        source=trial_file_format(Path(path)),
        planned_per_arm={arm: sum(cases.values()) for arm, cases in allocation.items()},
        allocated_per_arm_case=None,
        live=None,
    )
    return TrialTable.from_columns(columns), run


def _values(column: npt.NDArray[Any]) -> list[Any]:
    """A column as Python values, None where a masked (NULL) value is."""
    if isinstance(column, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(column)
        return [None if m else v for v, m in zip(column.data.tolist(), mask.tolist(), strict=True)]
    return list(column.tolist())


def _row_problem(
    row: Mapping[str, Any],
    schedule_ids: Sequence[str],
    seq_of: Mapping[str, int],
    corpus: Mapping[str, Case],
    arms: frozenset[str],
) -> tuple[str, str] | None:
    """The first way a row disagrees with the plan (column, what), or None when it agrees."""
    for name in ("status", "routing_status", "downstream_status"):
        value = row[name]
        if value is not None and value not in STATUSES:
            return name, f"expected a status of {', '.join(STATUSES)}, found {value!r}"
    seq, n = row["seq"], len(schedule_ids)
    if seq < 0:
        return "seq", f"expected a seq of at least 0, found {seq}"
    if seq >= n:
        return "seq", f"row beyond the schedule: expected a seq below {n}, found {seq}"
    if row["arm"] not in arms:
        return "arm", f"expected an arm of the plan ({', '.join(sorted(arms))}), found {row['arm']!r}"
    case = corpus.get(row["case_id"])
    if case is None:
        return "case_id", f"expected a case of the corpus, found {row['case_id']!r}"
    if row["family"] != case.family:
        return "family", f"expected the corpus family {case.family!r}, found {row['family']!r}"
    expected_id = trial_id(row["arm"], row["case_id"], row["replay"])
    if row["trial_id"] != expected_id:
        return "trial_id", f"trial id disagrees with its arm, case and replay ({expected_id!r})"
    at = seq_of.get(row["trial_id"])
    if at is None:
        return "trial_id", "trial id not in the plan's schedule"
    if at != seq:
        return "seq", f"seq mismatch: the schedule has this trial at seq {at}, the row says {seq}"
    return None


def check_trials_against_schedule(
    columns: Mapping[str, npt.NDArray[Any]], schedule: Schedule, corpus: Sequence[Case], file: str
) -> None:
    """Refuse trial rows that are not the plan's: one line naming the first bad row and the kind.

    Every row must carry a known status, a seq inside the schedule, an arm of the plan, a case of
    the corpus with its family, a trial id equal to ``<arm>:<case>:<replay>`` and scheduled at that
    seq, and no trial id or seq may appear twice. Rows may be missing (an unfinished campaign);
    rows beyond the schedule may not. Raises :class:`~prereg.errors.InputError`.
    """
    names = (
        "trial_id",
        "seq",
        "arm",
        "case_id",
        "family",
        "replay",
        "status",
        "routing_status",
        "downstream_status",
    )
    values = {name: _values(columns[name]) for name in names}
    schedule_ids = schedule.trial_ids()
    seq_of = {tid: i for i, tid in enumerate(schedule_ids)}
    cases = {c.id: c for c in corpus}
    arms = frozenset(schedule.arm_ids)
    seen_ids: set[str] = set()
    seen_seqs: set[int] = set()
    first: tuple[str, str, str] | None = None
    bad = 0
    for i in range(len(values["trial_id"])):
        row = {name: values[name][i] for name in names}
        problem = _row_problem(row, schedule_ids, seq_of, cases, arms)
        if problem is None and row["trial_id"] in seen_ids:
            problem = "trial_id", "duplicate row: the trial id appears more than once"
        if problem is None and row["seq"] in seen_seqs:
            problem = "seq", "duplicate row: the seq appears more than once"
        seen_ids.add(row["trial_id"])
        seen_seqs.add(row["seq"])
        if problem is not None:
            bad += 1
            if first is None:
                first = (str(row["trial_id"]), *problem)
    if first is not None:
        trial_id, field, what = first
        more = f" (and {bad - 1} more bad rows)" if bad > 1 else ""
        raise InputError(f"trial {trial_id!r}: {what}{more}", file=file, field=field)


def run_locked_analysis(
    plan: Path,
    *,
    store: str | None = None,
    trials_file: Path | None = None,
    deviation: str | None = None,
    command: str = "analyze",
) -> LockedAnalysis:
    """Run the frozen plan's analysis on its store, or on a trial file when ``trials_file`` is given.

    Refuses an unfrozen or changed plan (:func:`prereg.load_frozen_plan`), and analysis code that
    differs from the frozen code unless ``deviation`` gives a reason, which is then logged.
    """
    frozen = load_frozen_plan(plan)
    if not frozen.analysis_code_matches and not deviation:
        raise PlanChangedError(
            f"{plan}: the analysis code differs from the code frozen with the plan; run the "
            f"{command} anyway with --deviation REASON (the reason is logged), or amend the plan"
        )
    deviations: tuple[str, ...] = ()
    if deviation:
        what = (
            "analysis code differs from the frozen hash"
            if not frozen.analysis_code_matches
            else "declared by the analyst"
        )
        append_log(frozen.path, "deviation", {"command": command, "reason": deviation, "what": what})
        deviations = (deviation,)
    if trials_file is not None:
        table, meta = load_file_trials(frozen, trials_file, deviations)
    elif store is not None:
        table, meta = load_store_trials(frozen, store, deviations)
    else:
        raise TypeError("run_locked_analysis needs a store or a trial file")
    source = store if trials_file is None else None
    return LockedAnalysis(frozen, table, meta, analyze(frozen.plan, table, meta), store=source)
