"""Flatten an arm's request and result into the stored trial row.

The row keeps raw facts and leaves judgement to the locked analysis: ``correct`` is NULL for the
control and for a failed routing decision (the plan's failure rule, for example "a timeout counts
as a wrong decision", is applied by ``analysis``, not here); ``downstream_correct`` is NULL when
the downstream call failed. ``status`` is the first failure of the trial (routing before
downstream), else ``ok``; a request with no downstream outcome and no failure is ``not_sent``.
``e2e_latency_ms`` is the dispatch lateness (live mode) plus the routing latency plus the
downstream duration: the time from the scheduled send to the final answer, since the downstream
call starts the moment the routing decision arrives.
"""

from __future__ import annotations

from arms._protocol import ArmRequest, ArmResult
from prereg.records import Status, TrialRecord

__all__ = ["to_trial_record"]


def to_trial_record(plan_hash: str, request: ArmRequest, result: ArmResult) -> TrialRecord:
    """The trial row for ``request`` served as ``result``, under the plan with ``plan_hash``."""
    case = request.case
    routing = result.routing
    downstream = result.downstream
    status: Status = "ok"
    error: str | None = None
    correct: bool | None = None
    tokens_in = tokens_out = 0
    cost = 0.0
    e2e: float | None = None
    if routing is not None:
        tokens_in += routing.tokens_in
        tokens_out += routing.tokens_out
        cost += routing.cost_usd
        if routing.status != "ok":
            status, error = routing.status, routing.error
        elif routing.predicted_label is not None:
            correct = routing.predicted_label in case.gold_labels
    if downstream is not None:
        tokens_in += downstream.tokens_in
        tokens_out += downstream.tokens_out
        cost += downstream.cost_usd
        if status == "ok" and downstream.status != "ok":
            status, error = downstream.status, downstream.error
        e2e = downstream.latency_ms + (
            routing.latency_ms if routing is not None else (result.lateness_ms or 0.0)
        )
    elif status == "ok":
        status = "not_sent"
    return TrialRecord(
        plan_hash=plan_hash,
        trial_id=request.trial_id,
        seq=request.seq,
        case_id=case.id,
        family=case.family,
        arm=request.arm,
        replay=request.replay,
        scheduled_s=request.scheduled_s,
        sent_s=result.sent_s,
        end_s=result.end_s,
        lateness_ms=result.lateness_ms,
        routing_status=None if routing is None else routing.status,
        routing_latency_ms=None if routing is None else routing.latency_ms,
        routing_first_token_ms=None if routing is None else routing.first_token_ms,
        routing_attempts=None if routing is None else routing.attempts,
        predicted_label=None if routing is None else routing.predicted_label,
        gold_labels="|".join(case.gold_labels),
        correct=correct,
        routed_model=None if downstream is None else downstream.model,
        downstream_status=None if downstream is None else downstream.status,
        downstream_latency_ms=None if downstream is None else downstream.latency_ms,
        downstream_correct=(
            None if downstream is None or downstream.status != "ok" else downstream.correct
        ),
        e2e_latency_ms=e2e,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost,
        status=status,
        error=error,
    )
