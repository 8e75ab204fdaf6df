"""The plan's outcomes, gates and locked analysis: what is measured and how it is judged.

:mod:`prereg.schema` re-exports the public names.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from prereg._schema_numbers import MAX_CASES, MAX_RESAMPLES, Finite, Identifier, Spec, Whole

__all__ = [
    "AnalysisSpec",
    "BootstrapSpec",
    "ConfidenceBoundRule",
    "FailureHandlingSpec",
    "GateSpec",
    "OutcomesSpec",
    "PointEstimateRule",
    "StoppingSpec",
]


class OutcomesSpec(Spec):
    """Primary and secondary outcomes, named before the data exist."""

    primary: tuple[Literal["routing_accuracy", "routing_latency_median", "routing_latency_p95"], ...] = (
        "routing_accuracy",
        "routing_latency_median",
        "routing_latency_p95",
    )
    secondary: tuple[Literal["cost", "e2e_latency", "downstream_quality"], ...] = (
        "cost",
        "e2e_latency",
        "downstream_quality",
    )


class PointEstimateRule(Spec):
    """PASS or FAIL by the point estimate alone (never INCONCLUSIVE)."""

    kind: Literal["point_estimate"]


class ConfidenceBoundRule(Spec):
    """PASS when the one-sided bound at ``level`` clears the threshold, FAIL when the opposite
    one-sided bound misses it, INCONCLUSIVE otherwise (including when no finite bound exists)."""

    kind: Literal["confidence_bound"]
    level: Finite = Field(default=0.95, gt=0.5, lt=1.0)


class GateSpec(Spec):
    """A pre-registered viability gate for each router arm."""

    id: Identifier
    metric: Literal[
        "routing_accuracy",
        "routing_latency_p95_ms",
        "routing_latency_median_ms",
        "downstream_quality_vs_control",
        "cost_vs_control",
        "e2e_latency_p95_vs_control",
        "e2e_latency_median_vs_control",
    ]
    op: Literal[">=", "<="]
    threshold: Finite = Field(ge=-1e12, le=1e12)
    rule: Annotated[PointEstimateRule | ConfidenceBoundRule, Field(discriminator="kind")] = Field(
        default_factory=lambda: ConfidenceBoundRule(kind="confidence_bound")
    )


class BootstrapSpec(Spec):
    """Case-level (cluster) bootstrap settings."""

    resamples: Whole = Field(default=2000, ge=100, le=MAX_RESAMPLES)


class FailureHandlingSpec(Spec):
    """How failed trials enter the analysis."""

    routing: Literal["count_as_wrong", "exclude"] = "count_as_wrong"
    latency: Literal["elapsed", "exclude"] = "elapsed"
    interrupted: Literal["exclude", "count_as_wrong"] = "exclude"


class StoppingSpec(Spec):
    """When the campaign ends; only a fixed horizon is supported (no peeking)."""

    kind: Literal["fixed_horizon"] = "fixed_horizon"


class AnalysisSpec(Spec):
    """The locked analysis plan."""

    ci_method: Literal["wilson", "clopper_pearson", "jeffreys", "agresti_coull"] = "wilson"
    alpha: Finite = Field(default=0.05, gt=0.0, lt=0.5)
    multiplicity: Literal["holm", "bonferroni", "none"] = "holm"
    unit: Literal["case", "request"] = "case"
    cluster_robust: Literal["bootstrap", "gee"] = "bootstrap"
    bootstrap: BootstrapSpec = Field(default_factory=BootstrapSpec)
    latency_interval: Literal["clustered", "order_statistic", "bootstrap"] = "clustered"
    min_cases: Whole = Field(
        default=10,
        ge=2,
        le=MAX_CASES,
        description="Fewest unique cases for an interval; below it an interval is null with a note",
    )
    family: tuple[Literal["router_vs_router", "router_vs_control", "downstream_groups"], ...] = Field(
        default=("router_vs_router", "router_vs_control"),
        description="The planned comparisons adjusted together by `multiplicity`; others are exploratory"
        " (the downstream groups by routing outcome are not randomized, so not in the default family)",
    )
    failures: FailureHandlingSpec = Field(default_factory=FailureHandlingSpec)
    stopping: StoppingSpec = Field(default_factory=StoppingSpec)
    exclusions: list[str] = Field(default_factory=list)
