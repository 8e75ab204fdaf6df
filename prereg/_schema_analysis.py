"""The plan's outcomes, gates and locked analysis: what is measured and how it is judged.

:mod:`prereg.schema` re-exports the public names.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, StrictBool, field_validator, model_serializer

from prereg._schema_abort import AbortSpec
from prereg._schema_misrouting import MisroutingCostSpec
from prereg._schema_numbers import MAX_CASES, MAX_RESAMPLES, Finite, Identifier, Probability, Spec, Whole

__all__ = [
    "CONFIDENCE_SEQUENCE_METRICS",
    "AnalysisSpec",
    "BootstrapSpec",
    "ConfidenceBoundRule",
    "ConfidenceSequenceStopping",
    "FailureHandlingSpec",
    "FixedHorizonStopping",
    "GateSpec",
    "GroupSequentialStopping",
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
        "misrouting_cost_per_1k",
    ]
    op: Literal[">=", "<="]
    threshold: Finite = Field(ge=-1e12, le=1e12)
    rule: Annotated[PointEstimateRule | ConfidenceBoundRule, Field(discriminator="kind")] = Field(
        default_factory=lambda: ConfidenceBoundRule(kind="confidence_bound")
    )
    mix: Literal["corpus", "target"] = Field(
        default="corpus",
        description="The family mix the gate is judged under: the corpus's own, or analysis.target_mix",
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> Any:
        # The corpus mix is dumped as no key, as before `mix` existed: the gate keeps its hash.
        data = handler(self)
        if isinstance(data, dict) and data.get("mix") == "corpus":
            del data["mix"]
        return data


class BootstrapSpec(Spec):
    """Case-level (cluster) bootstrap settings."""

    resamples: Whole = Field(default=2000, ge=100, le=MAX_RESAMPLES)


class FailureHandlingSpec(Spec):
    """How failed trials enter the analysis."""

    routing: Literal["count_as_wrong", "exclude"] = "count_as_wrong"
    latency: Literal["elapsed", "exclude"] = "elapsed"
    interrupted: Literal["exclude", "count_as_wrong"] = "exclude"


class FixedHorizonStopping(Spec):
    """The campaign runs its whole schedule and is analysed once (no interim looks)."""

    kind: Literal["fixed_horizon"] = "fixed_horizon"


def _increasing_to_one(looks: tuple[float, ...]) -> tuple[float, ...]:
    if any(not 0.0 < t <= 1.0 for t in looks) or any(b <= a for a, b in itertools.pairwise(looks)):
        raise ValueError(f"expected information fractions strictly increasing in (0, 1], found {list(looks)}")
    if looks[-1] != 1.0:
        raise ValueError(f"expected the last look at 1.0 (the whole schedule), found {looks[-1]:g}")
    return looks


class GroupSequentialStopping(Spec):
    """Pre-registered interim looks with Lan-DeMets alpha spending.

    ``looks`` are the information fractions (shares of the corpus's cases) at which the locked
    analysis runs; the schedule serves the cases in blocks, one per look, so at each look every arm
    has received the same cases equally often. The campaign stops at the first look at which every
    gate of every deciding arm is decided; with ``futility``, an arm that has failed a gate counts
    as decided (it cannot be viable), which can only stop earlier and never adds a false PASS.
    """

    kind: Literal["group_sequential"]
    looks: tuple[Finite, ...] = Field(min_length=2, max_length=20)
    spending: Literal["obrien_fleming", "pocock"] = "obrien_fleming"
    futility: StrictBool = False

    _looks = field_validator("looks")(_increasing_to_one)


#: The gate metrics a confidence sequence bounds: means over cases (the case is i.i.d. in a look).
CONFIDENCE_SEQUENCE_METRICS = frozenset({"routing_accuracy", "downstream_quality_vs_control"})


class ConfidenceSequenceStopping(Spec):
    """Interim looks with always-valid bounds: an asymptotic confidence sequence per gate.

    The looks are scheduled as for ``group_sequential`` (one block of cases per look), but a
    gate's bounds hold at every number of cases at once, so no alpha is spent per look and looks
    could be added without changing the error rate. Only gates whose estimand is a mean over
    cases are supported (:data:`CONFIDENCE_SEQUENCE_METRICS`, at ``analysis.unit: case``).
    """

    kind: Literal["confidence_sequence"]
    looks: tuple[Finite, ...] = Field(min_length=2, max_length=50)
    futility: StrictBool = False

    _looks = field_validator("looks")(_increasing_to_one)


#: When the campaign ends: a fixed horizon (the default) or group-sequential looks.
StoppingSpec = Annotated[
    FixedHorizonStopping | GroupSequentialStopping | ConfidenceSequenceStopping, Field(discriminator="kind")
]


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
    stopping: StoppingSpec = Field(default_factory=FixedHorizonStopping)
    exclusions: list[str] = Field(default_factory=list)
    misrouting_cost: MisroutingCostSpec | None = Field(
        default=None, description="A cost for each gold -> predicted pair (None: no misrouting cost)"
    )
    target_mix: dict[Identifier, Probability] | None = Field(
        default=None,
        description="Production share of each task family (summing to 1): accuracy, quality and cost"
        " are also estimated post-stratified to it (None: the corpus's own mix only)",
    )
    abort: AbortSpec | None = Field(
        default=None,
        description="Abort rules: failure rate that stops an arm, invalid dispatch that stops a run",
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Optional sections added after plans were first frozen are dumped as no key when unset,
        # as before they existed: such a plan keeps its canonical hash (its streams and its lock).
        data = handler(self)
        if isinstance(data, dict):
            for key in _OMIT_IF_NONE:
                if key in data and data[key] is None:
                    del data[key]
        return data


#: AnalysisSpec fields left out of the dump (and so of the canonical hash) when None.
_OMIT_IF_NONE: tuple[str, ...] = ("misrouting_cost", "target_mix", "abort")
