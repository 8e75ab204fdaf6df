"""The true downstream quality difference of a router arm from the control, from the plan's
simulated arms: the truth of ``downstream_quality_vs_control`` in a design diagnosis."""

from __future__ import annotations

from collections.abc import Sequence

from prereg.records import Case
from prereg.schema import (
    ControlArmSpec,
    Plan,
    RouterArmSpec,
    SimulatedClassifierSpec,
    SimulatedModelSpec,
)

__all__ = ["true_quality_difference"]


def _success_probability(spec: SimulatedClassifierSpec, max_attempts: int, retried: bool) -> float:
    """Probability that a routing decision ends ``ok`` (ignoring timeouts)."""
    http, unparseable = spec.failures.http_error_rate, spec.failures.unparseable_rate
    ok = 1.0 - http - unparseable
    if not retried:
        return ok
    # An http_error is tried again (up to max_attempts), an unparseable answer is final.
    return ok * sum(http**j for j in range(max_attempts))


def _control_model(plan: Plan) -> str | None:
    """The model key of the plan's first control arm (None without one)."""
    return next((a.model for a in plan.arms if isinstance(a, ControlArmSpec)), None)


def _quality(plan: Plan, key: str) -> dict[str, float]:
    backend = plan.models[key].backend
    if not isinstance(backend, SimulatedModelSpec):
        raise KeyError(f"models.{key} is not a simulated model")
    return dict(backend.quality)


def _label_shares(case: Case, labels: Sequence[str], spec: SimulatedClassifierSpec) -> dict[str, float]:
    """The probability of each label for an answered request of ``case`` (over case difficulty).

    As :class:`arms._behaviour.ClassifierBehaviour` answers: the right label (the family, or the
    first gold label) with ``accuracy[family]``, the rest split over the labels that are not gold
    by the confusion row (uniformly when it puts no weight there); a case whose gold labels cover
    the taxonomy is always answered right.
    """
    gold = set(case.gold_labels)
    right = case.family if case.family in gold else case.gold_labels[0]
    wrong = [label for label in labels if label not in gold]
    if not wrong:
        return {right: 1.0}
    row = (spec.confusion or {}).get(case.family, {})
    weights = [row.get(label, 0.0) for label in wrong]
    if sum(weights) <= 0.0:
        weights = [1.0] * len(wrong)
    total = sum(weights)
    p = spec.accuracy[case.family]
    shares = {label: (1.0 - p) * w / total for label, w in zip(wrong, weights, strict=True) if w > 0.0}
    shares[right] = shares.get(right, 0.0) + p
    return shares


def true_quality_difference(plan: Plan, cases: Sequence[Case], arm_id: str) -> float | None:
    """The true downstream quality of a simulated router arm minus the control's on this corpus.

    ``mean_c [s * sum_l P(l | c) q_{route(l)}[f_c] + (1 - s) q_{fallback}[f_c] - q_{control}[f_c]]``
    over the cases ``c`` (family ``f_c``), with ``P(l | c)`` the label shares of an answered
    request (:func:`_label_shares`), ``s`` the probability that the decision does not fail and
    ``q_m`` model ``m``'s quality; None without a control arm or simulated models.
    """
    arm = plan.arm(arm_id)
    if not isinstance(arm, RouterArmSpec) or not isinstance(arm.classifier.backend, SimulatedClassifierSpec):
        raise KeyError(f"{arm_id} is not a simulated router arm")
    control = _control_model(plan)
    if control is None or not cases:
        return None
    spec = arm.classifier.backend
    try:
        qc = _quality(plan, control)
        quality = {key: _quality(plan, key) for key in {*plan.routing.routes.values(), plan.routing.fallback}}
    except KeyError:
        return None
    retry = arm.classifier.retry
    success = _success_probability(spec, retry.max_attempts, "http_error" in retry.retry_on)
    fallback = quality[plan.routing.fallback]
    total = 0.0
    for case in cases:
        f = case.family
        routed = sum(
            share * quality[plan.routing.routes.get(label, plan.routing.fallback)][f]
            for label, share in _label_shares(case, plan.taxonomy.labels, spec).items()
        )
        total += success * routed + (1.0 - success) * fallback[f] - qc[f]
    return total / len(cases)


def _true_quality(plan: Plan, cases: Sequence[Case], routers: Sequence[str]) -> dict[str, float]:
    out = {a: true_quality_difference(plan, cases, a) for a in routers}
    return {a: v for a, v in out.items() if v is not None}
