"""The plain records every package shares: a corpus case and a trial row.

These are the vocabulary between packages: ``arms`` produce outcomes, ``experiment`` stores
:class:`TrialRecord` rows, ``analysis`` reads them back as columns. The trial table's columns are
documented once, here, in :data:`TRIAL_COLUMNS`; the store creates its table from it and the README
prints it, so people can query a store with DuckDB or pandas.

Times: ``*_s`` columns are seconds since the campaign's time origin (virtual time in simulation,
the wall-clock start of the run in live mode); ``*_ms`` columns are durations in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "STATUSES",
    "TRIAL_COLUMNS",
    "Case",
    "Column",
    "Status",
    "TrialRecord",
    "trial_id",
]


def trial_id(arm: str, case_id: str, replay: int) -> str:
    """The deterministic id of one trial, ``"<arm>:<case>:<replay>"``: the one spelling of it.

    Case ids may not hold ``":"`` (:mod:`prereg.corpus`), and arm ids are plain names, so the id
    reads back unambiguously.
    """
    return f"{arm}:{case_id}:{replay}"


Status = Literal[
    "ok",
    "timeout",
    "http_error",
    "rate_limited",
    "connection_error",
    "unparseable",
    "empty",
    "interrupted",
    "not_sent",
    "not_sent_in_time",
    "router_error",
    "abstained",
    "unknown_model",
]

#: Every status a trial (or its downstream step) can end in; anything but ``ok`` is a failure.
STATUSES: tuple[Status, ...] = (
    "ok",
    "timeout",
    "http_error",
    "rate_limited",
    "connection_error",
    "unparseable",
    "empty",
    "interrupted",
    "not_sent",
    "not_sent_in_time",
    "router_error",
    "abstained",
    "unknown_model",
)


@dataclass(frozen=True, slots=True)
class Case:
    """One corpus case: a request text, its task family and its acceptable labels.

    ``gold_labels`` holds every acceptable label (the taxonomy's multi-label rule: a prediction is
    correct when it is one of them); ``family`` is the primary task family, used for balance and
    per-family tables. ``reference`` and ``grader`` serve downstream answer grading in live mode.
    """

    id: str
    text: str
    family: str
    gold_labels: tuple[str, ...]
    reference: str | None = None
    grader: str | None = None


@dataclass(frozen=True, slots=True)
class Column:
    """A trial-table column: its name, DuckDB type, whether it may be NULL, and what it means."""

    name: str
    sql_type: Literal["VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN"]
    nullable: bool
    doc: str


#: The trial table, in storage order. One row per trial; failures are rows, never gaps.
TRIAL_COLUMNS: tuple[Column, ...] = (
    Column("plan_hash", "VARCHAR", False, "canonical SHA-256 of the frozen plan the trial ran under"),
    Column("trial_id", "VARCHAR", False, "deterministic id: '<arm>:<case>:<replay>'"),
    Column("seq", "BIGINT", False, "position in the randomized schedule (0-based)"),
    Column("case_id", "VARCHAR", False, "corpus case id"),
    Column("family", "VARCHAR", False, "the case's primary task family"),
    Column("arm", "VARCHAR", False, "arm id"),
    Column("replay", "BIGINT", False, "replay index of this case within this arm (0-based)"),
    Column("scheduled_s", "DOUBLE", False, "scheduled send time"),
    Column("sent_s", "DOUBLE", True, "actual send time (NULL when not sent)"),
    Column("end_s", "DOUBLE", True, "time the trial finished (routing and downstream)"),
    Column(
        "wire_s",
        "DOUBLE",
        True,
        "time the trial's first request was written to the wire (live; NULL when it never was)",
    ),
    Column(
        "connect_wait_ms",
        "DOUBLE",
        True,
        "wire_s - sent_s: waiting for a connection slot and connecting (live)",
    ),
    Column(
        "lateness_ms",
        "DOUBLE",
        True,
        "wire_s - scheduled_s (sent_s - scheduled_s when never written): live dispatch lateness",
    ),
    Column("routing_status", "VARCHAR", True, "status of the routing decision; NULL for the control"),
    Column("routing_latency_ms", "DOUBLE", True, "scheduled send to routing decision, retries included"),
    Column("routing_first_token_ms", "DOUBLE", True, "scheduled send to the classifier's first token (live)"),
    Column("routing_attempts", "BIGINT", True, "classifier attempts made"),
    Column("predicted_label", "VARCHAR", True, "the label the router chose; NULL when it failed"),
    Column("gold_labels", "VARCHAR", False, "acceptable labels, '|'-joined"),
    Column(
        "correct",
        "BOOLEAN",
        True,
        "predicted label is one of the gold labels; NULL for the control or a failure",
    ),
    Column("routed_model", "VARCHAR", True, "downstream model the request went to"),
    Column("downstream_status", "VARCHAR", True, "status of the downstream answer"),
    Column("downstream_latency_ms", "DOUBLE", True, "downstream request duration"),
    Column(
        "downstream_first_token_ms",
        "DOUBLE",
        True,
        "scheduled send to the downstream answer's first token, content or reasoning (live, streamed)",
    ),
    Column(
        "downstream_itl_ms",
        "DOUBLE",
        True,
        "downstream mean inter-token latency: (last token - first token) / (tokens out - 1)",
    ),
    Column(
        "downstream_correct", "BOOLEAN", True, "the answer was graded correct; NULL when ungraded or failed"
    ),
    Column("e2e_latency_ms", "DOUBLE", True, "scheduled send to final answer"),
    Column("tokens_in", "BIGINT", False, "input tokens, classifier and downstream"),
    Column("tokens_out", "BIGINT", False, "output tokens, classifier and downstream"),
    Column("cost_usd", "DOUBLE", False, "tokens x the plan's prices, classifier and downstream"),
    Column("routing_cost_usd", "DOUBLE", True, "the classifier's part of cost_usd; NULL for the control"),
    Column("status", "VARCHAR", False, "overall status: the first failure of the trial, else 'ok'"),
    Column("error", "VARCHAR", True, "error text of the first failure"),
)


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One trial row; field order and meaning follow :data:`TRIAL_COLUMNS`."""

    plan_hash: str
    trial_id: str
    seq: int
    case_id: str
    family: str
    arm: str
    replay: int
    scheduled_s: float
    sent_s: float | None
    end_s: float | None
    wire_s: float | None
    connect_wait_ms: float | None
    lateness_ms: float | None
    routing_status: Status | None
    routing_latency_ms: float | None
    routing_first_token_ms: float | None
    routing_attempts: int | None
    predicted_label: str | None
    gold_labels: str
    correct: bool | None
    routed_model: str | None
    downstream_status: Status | None
    downstream_latency_ms: float | None
    downstream_first_token_ms: float | None
    downstream_itl_ms: float | None
    downstream_correct: bool | None
    e2e_latency_ms: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float
    routing_cost_usd: float | None
    status: Status
    error: str | None
