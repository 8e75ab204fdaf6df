"""The rows of trials that never finished: in flight when a run stopped, or kept unsent by an
abort rule. Both runners and design diagnosis write them; this module imports no store, so a
design worker can.
"""

from __future__ import annotations

from analysis import ABORTED_PREFIX
from arms import ArmRequest
from prereg.records import Case, Status, TrialRecord

__all__ = ["INTERRUPTED_ERROR", "aborted_row", "interrupted_record"]

INTERRUPTED_ERROR = "in flight when the run stopped (killed or Ctrl-C); not resent"


def aborted_row(plan_hash: str, request: ArmRequest, reason: str, *, router: bool) -> TrialRecord:
    """The row of a request an abort rule kept from being sent (``not_sent``, ``aborted: reason``)."""
    return interrupted_record(
        plan_hash, request.seq, request.trial_id, request.case, request.arm, request.replay,
        request.scheduled_s, None, router=router, aborted=reason,
    )  # fmt: skip


def interrupted_record(
    plan_hash: str,
    seq: int,
    trial_id: str,
    case: Case,
    arm: str,
    replay: int,
    scheduled_s: float,
    sent_s: float | None,
    *,
    router: bool,
    aborted: str | None = None,
) -> TrialRecord:
    """The row of a request that was in flight when the run stopped: status ``interrupted``; or,
    with ``aborted`` (the abort rule's reason), of one never sent because a pre-registered abort
    rule stopped its arm or the run: status ``not_sent``, the reason as its error."""
    status: Status = "interrupted" if aborted is None else "not_sent"
    lateness = None if sent_s is None else (sent_s - scheduled_s) * 1000.0
    return TrialRecord(
        plan_hash=plan_hash,
        trial_id=trial_id,
        seq=seq,
        case_id=case.id,
        family=case.family,
        arm=arm,
        replay=replay,
        scheduled_s=scheduled_s,
        sent_s=sent_s,
        end_s=None,
        wire_s=None,
        connect_wait_ms=None,
        lateness_ms=lateness,
        routing_status=status if router else None,
        routing_latency_ms=None,
        routing_first_token_ms=None,
        routing_attempts=None,
        predicted_label=None,
        gold_labels="|".join(case.gold_labels),
        correct=None,
        routed_model=None,
        downstream_status=None if router else status,
        downstream_latency_ms=None,
        downstream_first_token_ms=None,
        downstream_itl_ms=None,
        downstream_correct=None,
        e2e_latency_ms=None,
        tokens_in=0,
        tokens_out=0,
        cost_usd=0.0,
        routing_cost_usd=None,
        status=status,
        error=INTERRUPTED_ERROR if aborted is None else ABORTED_PREFIX + aborted,
    )
