"""The results document: frozen dataclasses, each stating its unit of analysis.

No point estimate travels without its interval. A bound that does not exist (no finite
distribution-free bound at this n, no data) is ``None`` with a reason in ``note``, never a number.
:mod:`analysis._json` turns these into the versioned JSON that ``docs/results-schema.md`` documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from analysis._comparison_results import (
    AccuracyComparison,
    ControlComparison,
    DifferenceResult,
    DownstreamGroup,
    DownstreamResult,
)
from analysis._flow_results import OMIT_IF_NONE, FlowCounts, WarmupCounts
from analysis._hypothesis_results import HypothesisResult
from analysis._interval import Interval, MeanResult, ProportionResult, Unit
from analysis._mix_results import MixResult
from analysis._reference_results import GapShareResult, RandomMixResult, ReferenceResult
from analysis._sequential_results import LookResult, SequentialResult

__all__ = [
    "DECIDING_KINDS",
    "SCHEMA_VERSION",
    "AccuracyComparison",
    "ArmKind",
    "ArmResult",
    "ArmVerdict",
    "BalanceResult",
    "ClusteringResult",
    "ConfusionMatrix",
    "ControlComparison",
    "DesignResult",
    "DifferenceResult",
    "DownstreamGroup",
    "DownstreamResult",
    "FamilyAccuracy",
    "FlowCounts",
    "GapShareResult",
    "GateRequirement",
    "GateVerdict",
    "Interval",
    "LatencyCurve",
    "LookResult",
    "MeanResult",
    "MixResult",
    "ParetoPoint",
    "PlanInfo",
    "ProportionResult",
    "QuantileResult",
    "RandomMixResult",
    "ReferenceResult",
    "Results",
    "SequentialResult",
    "SrmResult",
    "StreamingArm",
    "StreamingResult",
    "Unit",
    "Verdict",
    "WarmupCounts",
]

#: Version of the JSON results schema (docs/results-schema.md); bump on any change of meaning.
SCHEMA_VERSION = 4

Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]

#: The plan's arm kinds (``prereg.schema.ArmSpec``): the control, routers, router services and the
#: reference arms.
ArmKind = Literal["control", "router", "service", "fixed", "random", "oracle"]
#: The kinds whose routing decisions are measured and gated: a router (its classifier's label) and a
#: router service (the model it chose, judged route-level).
DECIDING_KINDS: frozenset[str] = frozenset({"router", "service"})


@dataclass(frozen=True)
class QuantileResult:
    """A quantile of request-level values with a two-sided interval and one-sided bounds."""

    unit: Unit
    q: float
    n: int
    estimate: float | None
    interval: Interval
    lower_bound: Interval
    upper_bound: Interval


@dataclass(frozen=True)
class LatencyCurve:
    """The empirical distribution of an arm's request-level routing latencies, as quantiles.

    Descriptive (the report draws it as a CDF; no test or gate reads it): ``values_ms[j]`` is the
    lower empirical quantile (inverse ECDF) at ``probabilities[j]``. With at most
    :data:`analysis._quantiles.CURVE_POINTS` observations these are every order statistic at
    ``i / n``; otherwise that many evenly spaced probabilities ``j / CURVE_POINTS``.
    """

    unit: Unit
    n: int
    probabilities: tuple[float, ...]
    values_ms: tuple[float, ...]


@dataclass(frozen=True)
class ClusteringResult:
    """How much replays of one case agree: ICC, design effect and a cluster-robust interval.

    ``icc_interval`` and ``design_effect_interval`` are case-bootstrap percentile intervals (the
    case is the resampled unit); their ends are None, with the reason in ``note``, when the ICC is
    undefined.
    """

    unit: Unit
    n_cases: int
    n_requests: int
    mean_cluster_size: float | None
    icc: float | None
    icc_interval: Interval
    design_effect: float | None
    design_effect_interval: Interval
    effective_n: float | None
    robust_method: str
    robust_estimate: float | None
    robust_interval: Interval


@dataclass(frozen=True)
class FamilyAccuracy:
    """Routing accuracy within one task family."""

    family: str
    accuracy: ProportionResult


@dataclass(frozen=True)
class ConfusionMatrix:
    """Request counts: rows are gold families, columns predicted labels plus ``(failed)``."""

    unit: Unit
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class ArmResult:
    """Everything estimated for one arm."""

    arm: str
    kind: ArmKind
    flow: FlowCounts
    unique_cases: int
    accuracy: ProportionResult | None
    clustering: ClusteringResult | None
    per_family: tuple[FamilyAccuracy, ...]
    confusion: ConfusionMatrix | None
    routing_latency_median: QuantileResult | None
    routing_latency_p95: QuantileResult | None
    routing_latency_bootstrap_p95: Interval | None
    routing_latency_curve: LatencyCurve | None
    e2e_latency_median: QuantileResult
    e2e_latency_p95: QuantileResult
    e2e_latency_mean: MeanResult
    cost_per_1k: MeanResult
    routing_cost_per_1k: MeanResult | None
    downstream_quality: ProportionResult
    #: Expected misrouting cost per 1,000 requests (router arms of a plan with
    #: ``analysis.misrouting_cost`` or a misrouting gate); omitted otherwise.
    misrouting_cost_per_1k: MeanResult | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True)
class GateVerdict:
    """One gate for one router arm, with the numbers that decided it."""

    arm: str
    gate: str
    metric: str
    op: Literal[">=", "<="]
    threshold: float
    rule: str
    unit: Unit
    estimate: float | None
    deciding_bound: Interval | None
    opposite_bound: Interval | None
    verdict: Verdict
    reason: str
    #: The look that decided it (group-sequential plans only; the last analysed look if none did).
    look: int | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True)
class ArmVerdict:
    """Viability of a router arm: PASS only when every gate passes (intersection-union test)."""

    arm: str
    verdict: Verdict
    gates: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class ParetoPoint:
    """A router arm's point estimates on the pre-registered axes (accuracy, routing P95, the
    router's own cost per 1,000 requests) and whether another arm dominates it; the downstream
    answer's cost is reported apart (``ArmResult.cost_per_1k``)."""

    arm: str
    accuracy: float | None
    p95_ms: float | None
    cost_per_1k_usd: float | None
    on_frontier: bool
    dominated_by: tuple[str, ...]


@dataclass(frozen=True)
class SrmResult:
    """Sample-ratio-mismatch check: observed counts per arm against the planned ratio.

    ``note`` says why a check could not be made (then ``chi2`` and ``p_value`` are None and
    ``mismatch`` is False), e.g. the allocation of a campaign read from a trial file.
    """

    what: Literal["allocated", "sent"]
    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float | None
    df: int
    p_value: float | None
    threshold: float
    mismatch: bool
    note: str | None = None


@dataclass(frozen=True)
class BalanceResult:
    """Task families across arms among sent requests: counts and a chi-square test of independence."""

    unit: Unit
    families: tuple[str, ...]
    arms: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    chi2: float | None
    df: int
    p_value: float | None


@dataclass(frozen=True)
class GateRequirement:
    """What one gate needs at a design's size, under its rule and the plan's analysis.

    ``decidable``: a PASS is possible at all. ``fewest_correct``: accuracy gates, the fewest correct
    units (cases, or requests for unit ``request``) that pass; for the clustered case unit it holds
    when every replay of a case agrees, and fewer suffice when replays disagree (the effective n
    then grows towards the requests). ``min_cases``: the fewest cases at which a PASS is possible
    (latency gates) or an interval exists. ``needs``: that condition in words.
    """

    gate: str
    metric: str
    rule: str
    unit: str
    n: int
    decidable: bool
    fewest_correct: int | None
    min_cases: int | None
    needs: str


@dataclass(frozen=True)
class DesignResult:
    """What this design could show: per gate its requirement at the planned size
    (:func:`analysis.gate_requirement`, the answer ``check`` and design diagnosis give too), and
    the fewest cases and routing latencies any router arm actually analysed; ``warnings``: the
    plan's analysis choices whose error rates are not calibrated (:func:`analysis.plan_warnings`)."""

    accuracy_units: int
    requirements: tuple[GateRequirement, ...]
    smallest_cases: int
    smallest_latency_n: int
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class PlanInfo:
    """The plan and run the results belong to, and the analysis settings applied."""

    title: str
    canonical_sha256: str
    bytes_sha256: str
    analysis_code_matches: bool
    deviations: tuple[str, ...]
    source: Literal["store", "parquet", "csv"]
    ci_method: str
    alpha: float
    unit: Unit
    multiplicity: str
    cluster_robust: str
    latency_interval: str
    bootstrap_resamples: int
    failures_routing: str
    failures_latency: str
    failures_interrupted: str
    exclusions: tuple[str, ...]
    live: dict[str, float] | None


@dataclass(frozen=True)
class StreamingArm:
    """One arm's streaming timings (exploratory; no gate reads them); None where no value exists.

    Each is a quantile of request-level values (ms) with the interval the plan's latency gates
    use (:func:`analysis._streaming.streaming_timings`); unit ``case`` when clustered.
    """

    arm: str
    routing_ttft_median: QuantileResult | None
    routing_ttft_p95: QuantileResult | None
    downstream_ttft_median: QuantileResult | None
    downstream_ttft_p95: QuantileResult | None
    itl_median: QuantileResult | None


@dataclass(frozen=True)
class StreamingResult:
    """Time to first token and inter-token latency per arm (live, streamed runs only)."""

    note: str
    arms: tuple[StreamingArm, ...]


@dataclass(frozen=True)
class Results:
    """The whole results document."""

    schema_version: int
    plan: PlanInfo
    design: DesignResult
    arms: tuple[ArmResult, ...]
    gates: tuple[GateVerdict, ...]
    viability: tuple[ArmVerdict, ...]
    accuracy_comparisons: tuple[AccuracyComparison, ...]
    control_comparisons: tuple[ControlComparison, ...]
    downstream: tuple[DownstreamResult, ...]
    pareto: tuple[ParetoPoint, ...]
    srm: tuple[SrmResult, ...]
    balance: BalanceResult
    #: Streaming timings (exploratory); omitted when no trial has a value (simulated runs).
    streaming: StreamingResult | None = field(default=None, metadata=OMIT_IF_NONE)
    #: Routers against the reference arms (exploratory); omitted when the plan has none.
    reference: ReferenceResult | None = field(default=None, metadata=OMIT_IF_NONE)
    #: Estimates under ``analysis.target_mix``; omitted when the plan states no target mix.
    mix: MixResult | None = field(default=None, metadata=OMIT_IF_NONE)
    #: The looks of a group-sequential plan and where it stopped; omitted at a fixed horizon.
    sequential: SequentialResult | None = field(default=None, metadata=OMIT_IF_NONE)
    #: Each hypothesis's verdict per arm by its linked gates; omitted when no hypothesis links one.
    hypotheses: tuple[HypothesisResult, ...] | None = field(default=None, metadata=OMIT_IF_NONE)
