"""The locked analysis of a frozen plan: trials from its store (or a trial file) through ``analysis.analyze``.

Both ``routetrial analyze`` and ``routetrial report`` go through :func:`run_locked_analysis`, so the
two can never disagree on what was analysed. The lock binds the analysis code too: when its hash
differs from the one frozen with the plan, the analysis is refused unless a deviation reason is
given; the reason is then appended to the plan's hash-chained log and carried into the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis import Results, RunMeta, TrialTable, analyze
from experiment.store import TrialStore
from experiment.trial_files import read_trial_file, trial_file_format
from prereg.errors import PlanChangedError
from prereg.frozen import FrozenPlan, load_frozen_plan
from prereg.log import append_log
from traffic import build_schedule

__all__ = ["LockedAnalysis", "load_store_trials", "load_file_trials", "run_locked_analysis"]


@dataclass(frozen=True)
class LockedAnalysis:
    """A frozen plan, the trials analysed under it, the run metadata and the results."""

    frozen: FrozenPlan
    table: TrialTable
    meta: RunMeta
    results: Results


def _live_figures(meta: dict[str, str]) -> dict[str, float] | None:
    """Dispatch lateness of a live run from the store's meta (None for a simulated run)."""
    if meta.get("mode") != "live":
        return None
    out = {}
    for key, name in (("live_lateness_p50_ms", "p50_ms"), ("live_lateness_p99_ms", "p99_ms")):
        if meta.get(key):
            out[name] = float(meta[key])
    return out


def load_store_trials(
    frozen: FrozenPlan, store: str, deviations: tuple[str, ...] = ()
) -> tuple[TrialTable, RunMeta]:
    """The store's trials as an analysis table, and what the analysis needs to know about the run."""
    with TrialStore.open(store, frozen.canonical_hash, create=False, read_only=True) as st:
        columns = st.read_columns()
        allocation = st.allocation_counts()
        meta = st.meta()
    planned = {arm: sum(cases.values()) for arm, cases in allocation.items()}
    run = RunMeta(
        plan_canonical_sha256=frozen.canonical_hash,
        plan_bytes_sha256=frozen.bytes_hash,
        analysis_code_matches=frozen.analysis_code_matches,
        deviations=deviations,
        source="store",
        planned_per_arm=planned,
        allocated_per_arm_case=allocation or None,
        live=_live_figures(meta),
    )
    return TrialTable.from_columns(columns), run


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
    return LockedAnalysis(frozen, table, meta, analyze(frozen.plan, table, meta))
