"""The plan schema: structure, defaults, variants and immutability."""

from __future__ import annotations

import pydantic
import pytest
from strategies import small_plan

from prereg.schema import DEFAULT_LABELS, Plan, RouterArmSpec


def test_small_plan_validates_with_defaults() -> None:
    """A plan without a taxonomy gets the six task families and the any_of multi-label rule."""
    plan = Plan.model_validate(small_plan())
    assert tuple(plan.taxonomy.labels) == DEFAULT_LABELS
    assert plan.taxonomy.multi_label.kind == "any_of"
    assert plan.analysis.unit == "case" and plan.analysis.ci_method == "wilson"


def test_arm_kind_selects_the_variant() -> None:
    """``kind: router`` builds a RouterArmSpec; router_arms lists only those."""
    plan = Plan.model_validate(small_plan())
    assert plan.arm_ids == ("control", "qwen")
    assert [type(a) for a in plan.router_arms] == [RouterArmSpec]


def test_unknown_nested_key_is_rejected() -> None:
    """A typo deep inside an arm is an error, not a silently ignored key."""
    data = small_plan()
    data["arms"][1]["classifier"]["timeot_ms"] = 5
    with pytest.raises(pydantic.ValidationError):
        Plan.model_validate(data)


def test_plan_is_immutable() -> None:
    """A plan is a record of intent: assigning a field fails."""
    plan = Plan.model_validate(small_plan())
    with pytest.raises(pydantic.ValidationError):
        plan.study.title = "changed"  # type: ignore[misc]


def test_latency_p95_must_exceed_median() -> None:
    """A latency spec whose P95 is not above its median is rejected."""
    data = small_plan()
    data["models"]["large"]["backend"]["latency"] = {"median_ms": 900.0, "p95_ms": 900.0}
    with pytest.raises(pydantic.ValidationError, match="p95_ms must exceed median_ms"):
        Plan.model_validate(data)


def test_ratio_defaults_to_equal_weights() -> None:
    """Without a ratio every arm weighs 1."""
    plan = Plan.model_validate(small_plan())
    assert [plan.ratio_of(a) for a in plan.arm_ids] == [1, 1]
