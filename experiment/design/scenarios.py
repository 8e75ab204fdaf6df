"""The worlds a design is simulated in: the plan's assumed truths, the gate boundaries, a grid.

A scenario is the plan itself with some of its simulated backends rewritten, plus the corpus it
runs on and the true values the estimates are judged against. Nothing else changes: the same
traffic, allocation, arms and locked analysis run in every scenario.

Assumed truth
    The plan as written. The true marginal routing accuracy of a router arm is the calibrated
    per-family accuracy weighted by the corpus's family composition, times the probability that a
    routing decision does not fail (``http_error`` / ``unparseable``, with retries where the plan
    retries them). Timeouts are not in this figure (they depend on queueing); the figures record
    how many trials timed out, and a truth is marked approximate when any did.

Accuracy boundary (and the accuracy grid)
    Every router classifier's per-family accuracy is set to the value (the gate's threshold at the
    boundary), its failure rates to zero and its timeout out of reach, so the calibrated marginal
    accuracy (:mod:`arms._calibration`) equals the value exactly, whatever the corpus's families.

Latency boundary
    Every router classifier keeps its lognormal median and gets ``p95_ms`` = the threshold (for a
    median gate: median = threshold, the P95/median ratio kept), network round trip 0, failure
    rates 0, its timeout out of reach, and a concurrency equal to the campaign's request count, so
    no request ever queues: the routing latency *is* the service time, whose P95 is the threshold
    by construction. Caveat: this is the boundary of the latency *distribution*, not of the plan's
    server under its load; an order-statistic interval does not depend on the shape, a bootstrap
    or a point estimate does a little.

Gates against the control (assumed truth)
    ``downstream_quality_vs_control``: the expected per-case quality of the router's answer minus
    the control's, averaged over the corpus (:func:`true_quality_difference`). A case of family
    ``f`` is routed to its right label with the classifier's ``accuracy[f]`` (the calibrated
    marginal over case difficulty), to each wrong label with the confusion row's share of the
    rest, and to the fallback when the decision fails; the model a label routes to answers with
    its ``quality[f]``. Exact up to timeouts and downstream failures (a failed answer is not
    graded, which reweights the routes by their models' failure rates: negligible at the starter's
    rates). ``cost_vs_control`` and the end-to-end latency gates have no closed form (retries,
    queueing): the mean of the assumed world's simulated estimates stands in for the truth, so their
    bias is 0 by construction and only their verdict shares are informative.

Quality boundary (``downstream_quality_vs_control``)
    Every model a router can send to answers every family with the same quality ``r[f]`` (the
    control model's, clipped into ``[max(0, t), min(1, 1 + t)]`` for the threshold ``t``), and the
    control arm gets its own copy of its model (key :data:`BOUNDARY_CONTROL_MODEL`) answering with
    ``r[f] - t``. A router's answer is then as good whatever it routes to, so the quality difference
    is ``t`` exactly for every router arm, whatever its accuracy, failures or timeouts. Caveat:
    routing errors no longer move the quality, so the world has less case-level variance in the
    difference than the assumed one. Cost and end-to-end latency gates have no boundary world:
    their calibration is tests/test_analysis_cost_latency_vs_control_calibration.py.

ICC grid (accuracy)
    Like the accuracy boundary, with every router classifier's ``case_difficulty_sd`` chosen so
    that the binary replay ICC of correctness at the boundary accuracy is the grid's value
    (:func:`experiment.design.icc.difficulty_for_icc`); the plan's per-family accuracy is the one
    the arms' calibration turns into the exact intercept, so the true marginal accuracy is the
    threshold exactly at every ICC.

ICC grid (latency)
    Like the latency boundary, with every router classifier's ``latency.case_icc`` (the share of
    the log service time's variance that belongs to the case) set to the grid's value; the
    marginal lognormal, hence the true quantile, is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from experiment.design.icc import difficulty_for_icc
from experiment.design.quality_truth import (
    _control_model,
    _quality,
    _success_probability,
    _true_quality,
    true_quality_difference,
)
from prereg.canonical import canonical_hash
from prereg.records import Case
from prereg.schema import (
    GateSpec,
    Plan,
    RouterArmSpec,
    SimulatedClassifierSpec,
    SimulatedModelSpec,
)

__all__ = [
    "ACCURACY_METRIC",
    "BOUNDARY_CONTROL_MODEL",
    "CONTROL_METRICS",
    "LATENCY_METRICS",
    "QUALITY_METRIC",
    "UNREACHABLE_TIMEOUT_MS",
    "Scenario",
    "accuracy_icc_scenario",
    "accuracy_scenario",
    "assumed_scenario",
    "grid_values",
    "icc_key",
    "latency_boundary_scenario",
    "quality_boundary_scenario",
    "resize_corpus",
    "sample_size_scenario",
    "true_accuracy",
    "true_quality_difference",
]

ACCURACY_METRIC = "routing_accuracy"
#: Latency gate metrics and the quantile of the routing latency each one is about.
LATENCY_METRICS: dict[str, float] = {
    "routing_latency_p95_ms": 0.95,
    "routing_latency_median_ms": 0.5,
}
#: The gate metrics against the control (decided by ``analysis._control_gate``).
CONTROL_METRICS = frozenset(
    {
        "downstream_quality_vs_control",
        "cost_vs_control",
        "e2e_latency_p95_vs_control",
        "e2e_latency_median_vs_control",
    }
)
#: The one gate against the control with an exact truth and a boundary world.
QUALITY_METRIC = "downstream_quality_vs_control"
#: The model key of the control's own copy of its model in the quality boundary world.
BOUNDARY_CONTROL_MODEL = "control-boundary"
#: A timeout no simulated request reaches (about 31 years), so no trial times out.
UNREACHABLE_TIMEOUT_MS = 1e12


@dataclass(frozen=True)
class Scenario:
    """One world to simulate: a (rewritten) plan, its corpus and the true values per router arm.

    ``key`` names it in the results (``assumed``, ``boundary:<gate>``, ``grid:0.850``,
    ``cases:120``). ``true_accuracy`` maps router arm ids to the true marginal accuracy;
    ``true_latency_ms`` maps ``(arm, metric)`` to a true latency quantile when the construction
    fixes one (the latency boundary), else it is empty and the pooled simulations stand in for it.
    ``accuracy_exact`` says whether the accuracy truth is exact (no timeouts possible).
    ``true_quality`` maps router arm ids to the true downstream quality difference against the
    control (empty without a control arm).
    """

    key: str
    plan: Plan
    cases: tuple[Case, ...]
    true_accuracy: dict[str, float]
    true_latency_ms: dict[tuple[str, str], float]
    accuracy_exact: bool
    true_quality: dict[str, float] = field(default_factory=dict)

    @cached_property
    def identity(self) -> str:
        """Canonical hash of the rewritten plan plus the case ids: equal worlds, equal sims."""
        return canonical_hash(self.plan) + ":" + ",".join(c.id for c in self.cases)


def _family_weights(cases: Sequence[Case]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for case in cases:
        counts[case.family] = counts.get(case.family, 0) + 1
    return {f: k / len(cases) for f, k in sorted(counts.items())}


def true_accuracy(plan: Plan, cases: Sequence[Case], arm_id: str) -> float:
    """The true marginal routing accuracy of a simulated router arm on this corpus.

    ``sum_f w_f * accuracy[f]`` over the corpus's family shares ``w_f``, times the probability
    that the decision does not fail (failures count as wrong under the default analysis plan).
    """
    arm = plan.arm(arm_id)
    if not isinstance(arm, RouterArmSpec) or not isinstance(arm.classifier.backend, SimulatedClassifierSpec):
        raise KeyError(f"{arm_id} is not a simulated router arm")
    spec = arm.classifier.backend
    marginal = sum(w * spec.accuracy[f] for f, w in _family_weights(cases).items())
    retry = arm.classifier.retry
    counts_as_wrong = plan.analysis.failures.routing == "count_as_wrong"
    success = _success_probability(spec, retry.max_attempts, "http_error" in retry.retry_on)
    return marginal * success if counts_as_wrong else marginal


def _simulated_router_ids(plan: Plan) -> tuple[str, ...]:
    return tuple(a.id for a in plan.router_arms if isinstance(a.classifier.backend, SimulatedClassifierSpec))


def _rewrite_classifiers(plan: Plan, edit: Callable[[dict[str, Any], dict[str, Any]], None]) -> Plan:
    """A copy of ``plan`` where ``edit(classifier, backend)`` rewrote every simulated classifier."""
    data = plan.model_dump(mode="python")
    for arm in data["arms"]:
        if arm["kind"] == "router" and arm["classifier"]["backend"]["kind"] == "simulated":
            edit(arm["classifier"], arm["classifier"]["backend"])
    return Plan.model_validate(data)


def _no_failures(classifier: dict[str, Any], backend: dict[str, Any]) -> None:
    backend["failures"] = {"http_error_rate": 0.0, "unparseable_rate": 0.0}
    classifier["timeout_ms"] = UNREACHABLE_TIMEOUT_MS


def assumed_scenario(plan: Plan, cases: Sequence[Case], key: str = "assumed") -> Scenario:
    """The plan as written: the truths its simulated backends assume."""
    routers = _simulated_router_ids(plan)
    return Scenario(
        key=key,
        plan=plan,
        cases=tuple(cases),
        true_accuracy={a: true_accuracy(plan, cases, a) for a in routers},
        true_latency_ms={},
        accuracy_exact=False,
        true_quality=_true_quality(plan, cases, routers),
    )


def accuracy_scenario(plan: Plan, cases: Sequence[Case], accuracy: float, key: str) -> Scenario:
    """Every router classifier at ``accuracy`` in every family, with no failures or timeouts."""
    labels = plan.taxonomy.labels

    def edit(classifier: dict[str, Any], backend: dict[str, Any]) -> None:
        families = set(backend["accuracy"]) | set(labels) | {c.family for c in cases}
        backend["accuracy"] = dict.fromkeys(sorted(families), accuracy)
        _no_failures(classifier, backend)

    rewritten = _rewrite_classifiers(plan, edit)
    routers = _simulated_router_ids(rewritten)
    return Scenario(
        key=key,
        plan=rewritten,
        cases=tuple(cases),
        true_accuracy={a: true_accuracy(rewritten, cases, a) for a in routers},
        true_latency_ms={},
        accuracy_exact=True,
    )


def accuracy_icc_scenario(
    plan: Plan, cases: Sequence[Case], accuracy: float, icc: float, key: str
) -> Scenario:
    """Every router classifier at true marginal ``accuracy`` with a binary replay ICC of ``icc``.

    As :func:`accuracy_scenario` (every family, no failures or timeouts), with the case
    difficulty SD that gives the ICC; raises ``ValueError`` when the ICC is out of the simulated
    arms' reach at this accuracy (:func:`experiment.design.icc.difficulty_for_icc`).
    """
    labels = plan.taxonomy.labels
    difficulty = difficulty_for_icc(accuracy, icc)

    def edit(classifier: dict[str, Any], backend: dict[str, Any]) -> None:
        families = set(backend["accuracy"]) | set(labels) | {c.family for c in cases}
        backend["accuracy"] = dict.fromkeys(sorted(families), difficulty.plan_accuracy)
        backend["case_difficulty_sd"] = difficulty.sd
        _no_failures(classifier, backend)

    rewritten = _rewrite_classifiers(plan, edit)
    return Scenario(
        key=key,
        plan=rewritten,
        cases=tuple(cases),
        # the exact marginal accuracy (the plan's figure is its Gauss-Hermite image)
        true_accuracy=dict.fromkeys(_simulated_router_ids(rewritten), accuracy),
        true_latency_ms={},
        accuracy_exact=True,
    )


def icc_key(gate: GateSpec, icc: float) -> str:
    """The key of a gate's ICC-grid world: ``icc:<gate>:<icc, 2 decimals>``."""
    return f"icc:{gate.id}:{icc:.2f}"


def latency_boundary_scenario(
    plan: Plan,
    cases: Sequence[Case],
    gate: GateSpec,
    *,
    case_icc: float | None = None,
    key: str | None = None,
) -> Scenario:
    """Every router classifier's routing-latency quantile exactly at the gate's threshold.

    No queueing (concurrency = the campaign's request count), no network, no failures, no
    timeouts; the lognormal keeps the plan's median (P95 gate) or its P95/median ratio (median
    gate). A median that is not below a P95 threshold is moved to threshold / 2. ``case_icc``,
    when given, replaces every router classifier's ``latency.case_icc`` (the ICC grid).
    """
    quantile = LATENCY_METRICS[gate.metric]
    threshold = gate.threshold
    requests = len(cases) * plan.traffic.replays_per_case * sum(plan.ratio_of(a) for a in plan.arm_ids)

    def edit(classifier: dict[str, Any], backend: dict[str, Any]) -> None:
        latency = backend["latency"]
        median, p95 = float(latency["median_ms"]), float(latency["p95_ms"])
        if quantile == 0.95:
            latency["median_ms"] = median if median < threshold else threshold / 2.0
            latency["p95_ms"] = threshold
        else:
            latency["median_ms"] = threshold
            latency["p95_ms"] = threshold * (p95 / median)
        latency["network_rtt_ms"] = 0.0
        latency["concurrency"] = max(1, requests)
        if case_icc is not None:
            latency["case_icc"] = case_icc
        _no_failures(classifier, backend)

    rewritten = _rewrite_classifiers(plan, edit)
    routers = _simulated_router_ids(rewritten)
    return Scenario(
        key=key or f"boundary:{gate.id}",
        plan=rewritten,
        cases=tuple(cases),
        true_accuracy={a: true_accuracy(rewritten, cases, a) for a in routers},
        true_latency_ms={(a, gate.metric): threshold for a in routers},
        accuracy_exact=True,
    )


def quality_boundary_scenario(plan: Plan, cases: Sequence[Case], gate: GateSpec) -> Scenario:
    """The downstream quality difference against the control exactly at the gate's threshold.

    Every model a router sends to answers family ``f`` with ``r[f]``, the control's quality
    clipped into ``[max(0, t), min(1, 1 + t)]``; the control arm answers from its own copy of its
    model (:data:`BOUNDARY_CONTROL_MODEL`) with ``r[f] - t``. Raises ``ValueError`` without a
    control arm whose model is simulated.
    """
    t = gate.threshold
    control = _control_model(plan)
    if control is None or not isinstance(plan.models[control].backend, SimulatedModelSpec):
        raise ValueError("expected a control arm answered by a simulated model")
    if not -1.0 <= t <= 1.0:
        raise ValueError(f"expected a quality difference threshold in [-1, 1], found {t:g}")
    families = sorted(set(_quality(plan, control)) | {c.family for c in cases})
    base = _quality(plan, control)
    lo, hi = max(0.0, t), min(1.0, 1.0 + t)
    routed = {f: min(max(base.get(f, 0.5), lo), hi) for f in families}
    data = plan.model_dump(mode="python")
    targets = {*plan.routing.routes.values(), plan.routing.fallback}
    copy = {**data["models"][control]}
    copy["backend"] = {**copy["backend"], "quality": {f: routed[f] - t for f in families}}
    for key in targets:
        data["models"][key]["backend"]["quality"] = dict(routed)
    data["models"][BOUNDARY_CONTROL_MODEL] = copy
    for arm in data["arms"]:
        if arm["kind"] == "control":
            arm["model"] = BOUNDARY_CONTROL_MODEL
    rewritten = Plan.model_validate(data)
    routers = _simulated_router_ids(rewritten)
    return Scenario(
        key=f"boundary:{gate.id}",
        plan=rewritten,
        cases=tuple(cases),
        true_accuracy={a: true_accuracy(rewritten, cases, a) for a in routers},
        true_latency_ms={},
        accuracy_exact=False,
        true_quality=dict.fromkeys(routers, t),
    )


def resize_corpus(cases: Sequence[Case], n: int) -> tuple[Case, ...]:
    """``n`` cases taken round-robin over the task families, copying cases beyond the corpus.

    Families are visited in sorted order, each family's cases in corpus order, so a subsample
    keeps the family composition as even as the corpus allows. Past the corpus, the sequence
    starts again with copies ``<id>~2``, ``<id>~3``, ...: a copy is a new case of the same family
    and text, with its own difficulty (drawn per case by the simulated arms).
    """
    if n < 1 or not cases:
        raise ValueError(f"expected n >= 1 and a non-empty corpus, found n={n}, {len(cases)} cases")
    by_family: dict[str, list[Case]] = {}
    for case in cases:
        by_family.setdefault(case.family, []).append(case)
    columns = [by_family[f] for f in sorted(by_family)]
    order: list[Case] = []
    for depth in range(max(len(c) for c in columns)):
        order.extend(c[depth] for c in columns if depth < len(c))
    out: list[Case] = []
    for i in range(n):
        case = order[i % len(order)]
        copy = i // len(order)
        if copy:
            case = Case(
                id=f"{case.id}~{copy + 1}",
                text=case.text,
                family=case.family,
                gold_labels=case.gold_labels,
                reference=case.reference,
                grader=case.grader,
            )
        out.append(case)
    return tuple(out)


def sample_size_scenario(plan: Plan, cases: Sequence[Case], n: int) -> Scenario:
    """The plan as written with ``n`` unique cases (:func:`resize_corpus`), sample size updated."""
    resized = resize_corpus(cases, n)
    data = plan.model_dump(mode="python")
    weights = sum(plan.ratio_of(a) for a in plan.arm_ids)
    data["sample_size"] = {
        "unique_cases": n,
        "requests_total": n * plan.traffic.replays_per_case * weights,
    }
    rewritten = Plan.model_validate(data)
    scenario = assumed_scenario(rewritten, resized, key=f"cases:{n}")
    return scenario


def grid_values(start: float, stop: float, step: float) -> tuple[float, ...]:
    """``start, start + step, ..., stop`` (inclusive), rounded to 6 decimals to be exact keys."""
    count = math.floor((stop - start) / step + 1e-9) + 1
    return tuple(round(start + k * step, 6) for k in range(count))
