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

from dataclasses import fields
from typing import Any

from arms._protocol import ArmOutcome, ArmRequest
from prereg.records import Status, TrialRecord

__all__ = ["make_trial_record", "to_trial_record"]

# TrialRecord is a frozen dataclass: its generated __init__ sets each of its 29 fields through
# object.__setattr__, about 7 us a record, 7 s of a 1,000,000-request campaign's main thread.
# Setting the slots through their member descriptors builds the same object (equal, hashable and
# still frozen to everyone else) in under half the time.
_NEW = object.__new__
_SETTERS = tuple(getattr(TrialRecord, f.name).__set__ for f in fields(TrialRecord))


def make_trial_record(values: tuple[Any, ...]) -> TrialRecord:
    """``TrialRecord(*values)``, faster: ``values`` in field order, exactly one per field."""
    record: TrialRecord = _NEW(TrialRecord)
    for set_field, value in zip(_SETTERS, values, strict=True):
        set_field(record, value)
    return record


def to_trial_record(plan_hash: str, request: ArmRequest, result: ArmOutcome) -> TrialRecord:
    """The trial row for ``request`` served as ``result``, under the plan with ``plan_hash``.

    A ``result`` that is an exception (the value of a failed SimPy process: a bug in an arm, or an
    interrupt that reached it) is raised again, never turned into a row.
    """
    if isinstance(result, BaseException):
        raise result
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
        elif routing.route_correct is not None:
            correct = routing.route_correct
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
    return make_trial_record(
        (
            plan_hash,  # plan_hash
            request.trial_id,  # trial_id
            request.seq,  # seq
            case.id,  # case_id
            case.family,  # family
            request.arm,  # arm
            request.replay,  # replay
            request.scheduled_s,  # scheduled_s
            result.sent_s,  # sent_s
            result.end_s,  # end_s
            result.wire_s,  # wire_s
            None
            if result.wire_s is None or result.sent_s is None
            else (result.wire_s - result.sent_s) * 1000.0,  # connect_wait_ms
            result.lateness_ms,  # lateness_ms
            None if routing is None else routing.status,  # routing_status
            None if routing is None else routing.latency_ms,  # routing_latency_ms
            None if routing is None else routing.first_token_ms,  # routing_first_token_ms
            None if routing is None else routing.attempts,  # routing_attempts
            None if routing is None else routing.predicted_label,  # predicted_label
            "|".join(case.gold_labels),  # gold_labels
            correct,  # correct
            None if downstream is None else downstream.model,  # routed_model
            None if downstream is None else downstream.status,  # downstream_status
            None if downstream is None else downstream.latency_ms,  # downstream_latency_ms
            None if downstream is None else downstream.first_token_ms,  # downstream_first_token_ms
            None if downstream is None else downstream.itl_ms,  # downstream_itl_ms
            None
            if downstream is None or downstream.status != "ok"
            else downstream.correct,  # downstream_correct
            e2e,  # e2e_latency_ms
            tokens_in,  # tokens_in
            tokens_out,  # tokens_out
            cost,  # cost_usd
            None if routing is None else routing.cost_usd,  # routing_cost_usd
            status,  # status
            error,  # error
        )
    )
