"""A store's trials as the analysis reads them: the trial table and what the run's metadata says.

``routetrial analyze`` reads a closed store this way (:mod:`experiment.locked.analysis`); a
group-sequential campaign reads the store it is writing, on its own connection, at each look
(:mod:`experiment.campaign.looks`).
"""

from __future__ import annotations

from analysis import RunMeta, TrialTable
from experiment.store.schema import arrow_to_columns
from experiment.store.trial_store import TrialStore

__all__ = ["store_trials"]


def _live_figures(meta: dict[str, str]) -> dict[str, float] | None:
    """Dispatch lateness of a live run from the store's meta (None for a simulated run)."""
    if meta.get("mode") != "live":
        return None
    out = {}
    for key, name in (
        ("live_lateness_p50_ms", "p50_ms"),
        ("live_lateness_p99_ms", "p99_ms"),
        ("live_connect_wait_p99_ms", "connect_wait_p99_ms"),
        ("live_not_sent_in_time", "not_sent_in_time"),
    ):
        if meta.get(key):
            out[name] = float(meta[key])
    return out


def store_trials(
    st: TrialStore,
    plan_hash: str,
    bytes_hash: str,
    analysis_code_matches: bool,
    deviations: tuple[str, ...] = (),
) -> tuple[TrialTable, RunMeta]:
    """The trials of an open store and the run's metadata (a campaign's interim looks read the
    store they write this way, on its own connection)."""
    trials = st.read_arrow()
    st.check_trials(trials)  # tamper evidence: a row changed after it was stored is refused
    columns = arrow_to_columns(trials)
    allocation = st.allocation_counts()
    meta = st.meta()
    planned = {arm: sum(cases.values()) for arm, cases in allocation.items()}
    run = RunMeta(
        plan_canonical_sha256=plan_hash,
        plan_bytes_sha256=bytes_hash,
        analysis_code_matches=analysis_code_matches,
        deviations=deviations,
        source="store",
        planned_per_arm=planned,
        allocated_per_arm_case=allocation or None,
        live=_live_figures(meta),
    )
    return TrialTable.from_columns(columns), run
