"""The design diagnosis document: what ``routetrial design`` learned by simulating a plan.

Frozen dataclasses mirroring the design results file ``<plan stem>.design.json``
(``kind: routetrial.design``, :data:`DESIGN_SCHEMA_VERSION`, docs/design.md), one class per kind
of JSON object, each field a key of the same name. Every share ``x`` is a Monte Carlo estimate over
``sims`` simulations and travels with its 95% Wilson interval ``x_ci`` (``(lower, upper)``, None
without simulations); a mean travels with its Monte Carlo standard error ``*_mc_se``. A figure that
does not exist (no truth, no estimate) is ``None``. Dicts are keyed by router arm or gate id.
:mod:`analysis._design_json` writes and reads the JSON (:func:`design_results_to_json` /
:func:`design_results_from_json`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analysis._design_sequential import SequentialDesignFigures, SequentialGateShares, SequentialWorld
from analysis._results import GateRequirement, Verdict

__all__ = [
    "DESIGN_KIND",
    "DESIGN_SCHEMA_VERSION",
    "AccuracyCoverage",
    "AssumedArmFigures",
    "BoundaryFigures",
    "CoverageFigures",
    "CurveFigures",
    "CurveShares",
    "DiagnosedGate",
    "DiagnosedPlan",
    "DiagnosisResult",
    "GateFigures",
    "IccArmFigures",
    "IccGateFigures",
    "IccGridFigures",
    "IccPoint",
    "MinCasesFigures",
    "MinCasesResult",
    "MonteCarloInterval",
    "SequentialDesignFigures",
    "SequentialGateShares",
    "SequentialWorld",
    "ShareCi",
    "VerdictShares",
]

DESIGN_KIND = "routetrial.design"
#: Version of the design results layout (docs/design.md); bump on any change of meaning.
DESIGN_SCHEMA_VERSION = 2

#: A Wilson interval ``(lower, upper)`` of a share (a two-element list in JSON).
ShareCi = tuple[float, float]

#: Field metadata: the key is left out of the JSON when the value is None (and read back as None
#: when absent), for keys that schema 2 writes only for some gates or some outcomes.
OMIT_NONE: dict[str, Any] = {"omit_none": True}


@dataclass(frozen=True)
class DiagnosedPlan:
    """The plan the diagnosis simulated: its file name, title and canonical SHA-256."""

    file: str | None
    title: str
    canonical_sha256: str


@dataclass(frozen=True)
class MonteCarloInterval:
    """Method and level of the interval given with every share (``wilson``, 0.95)."""

    method: str
    level: float


@dataclass(frozen=True)
class DiagnosedGate:
    """A gate as the diagnosis saw it; ``nominal_alpha`` is ``1 - level`` for a bound rule."""

    id: str
    metric: str
    op: str
    threshold: float
    rule: str
    level: float | None
    nominal_alpha: float | None


@dataclass(frozen=True)
class VerdictShares:
    """Shares of PASS, FAIL and INCONCLUSIVE over ``sims`` simulations (an arm's viability)."""

    sims: int
    p_pass: float | None
    p_pass_ci: ShareCi | None
    p_fail: float | None
    p_fail_ci: ShareCi | None
    p_inconclusive: float | None
    p_inconclusive_ci: ShareCi | None


@dataclass(frozen=True)
class GateFigures:
    """One gate of one router arm under the assumed truths.

    ``target`` is the verdict the truth deserves (None when the truth is unknown or on the
    threshold); ``power`` is P(target). ``estimates`` counts simulations with a finite estimate;
    ``bias`` and ``rmse`` are against ``truth``, whose origin ``truth_source`` names.
    """

    truth: float | None
    target: Verdict | None
    sims: int
    p_pass: float | None
    p_pass_ci: ShareCi | None
    p_fail: float | None
    p_fail_ci: ShareCi | None
    p_inconclusive: float | None
    p_inconclusive_ci: ShareCi | None
    power: float | None
    power_ci: ShareCi | None
    mean_estimate: float | None
    estimates: int
    bias: float | None
    bias_mc_se: float | None
    rmse: float | None
    truth_source: str


@dataclass(frozen=True)
class CoverageFigures:
    """How often an interval covered the truth, fell short of it (``below``) or overshot it
    (``above``; a missing end is unbounded), its mean width and the estimate's bias."""

    sims: int
    coverage: float | None
    coverage_ci: ShareCi | None
    below: float | None
    below_ci: ShareCi | None
    above: float | None
    above_ci: ShareCi | None
    mean_width: float | None
    mean_estimate: float | None
    bias: float | None
    bias_mc_se: float | None


@dataclass(frozen=True)
class AccuracyCoverage(CoverageFigures):
    """Coverage of an arm's two-sided accuracy interval at ``level``; ``robust`` gives the same
    for the cluster-robust interval the analysis reports beside it."""

    truth: float | None
    level: float | None
    robust: CoverageFigures


@dataclass(frozen=True)
class AssumedArmFigures:
    """One router arm under the plan's assumed truths: per gate figures, the arm's overall verdict
    (``viability``), accuracy interval coverage and failures per simulation.

    ``true_accuracy_exact`` is False when timeouts make the calibrated accuracy approximate;
    ``reference_latency_ms`` is the pooled-simulation quantile a latency gate is judged against.
    """

    true_accuracy: float
    true_accuracy_exact: bool
    reference_latency_ms: dict[str, float]
    gates: dict[str, GateFigures]
    viability: VerdictShares
    accuracy_interval: AccuracyCoverage
    routing_failures_per_sim: float | None
    timeouts_per_sim: float | None


@dataclass(frozen=True)
class BoundaryFigures:
    """One router arm with the truth exactly on a gate's threshold: ``type_i_error`` is P(PASS),
    against the rule's ``nominal_alpha``; ``accuracy_interval`` only for accuracy gates.
    ``world_note`` (with ``sims`` 0 and no figures) when the diagnosis has no boundary world for
    the gate: cost and end-to-end latency against the control, calibrated by a test instead."""

    truth: float | None
    sims: int
    type_i_error: float | None
    type_i_error_ci: ShareCi | None
    nominal_alpha: float | None
    p_fail: float | None
    p_fail_ci: ShareCi | None
    p_inconclusive: float | None
    p_inconclusive_ci: ShareCi | None
    mean_estimate: float | None
    bias: float | None
    bias_mc_se: float | None
    accuracy_interval: AccuracyCoverage | None = field(default=None, metadata=OMIT_NONE)
    world_note: str | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class IccArmFigures(BoundaryFigures):
    """Boundary figures in a world of the ICC grid, with the ICC the simulations realised (mean of
    the per-simulation ANOVA estimates) and a ``note`` when it is far from the one asked for."""

    realised_icc: float | None = None
    realised_icc_mc_se: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class IccPoint:
    """A gate's boundary world at one ICC; ``arms`` is None (with ``note``) when it cannot be built.

    ``case_difficulty_sd`` (accuracy gates) or ``case_icc`` (latency gates) is the knob that set it.
    """

    icc: float
    case_difficulty_sd: float | None
    case_icc: float | None
    note: str | None
    arms: dict[str, IccArmFigures] | None


@dataclass(frozen=True)
class IccGateFigures:
    """One gate over the ICC grid; ``icc_of`` is ``correctness`` or ``log_latency``."""

    metric: str
    threshold: float
    nominal_alpha: float | None
    icc_of: str
    points: tuple[IccPoint, ...]


@dataclass(frozen=True)
class IccGridFigures:
    """Each gate's boundary over the ICC grid ``values``, ``sims`` simulations per gate and ICC."""

    sims: int
    values: tuple[float, ...]
    gates: dict[str, IccGateFigures]


@dataclass(frozen=True)
class CurveShares:
    """Verdict shares of one arm, one entry per true accuracy of the curve."""

    p_pass: tuple[float | None, ...]
    p_pass_ci: tuple[ShareCi | None, ...]
    p_fail: tuple[float | None, ...]
    p_fail_ci: tuple[ShareCi | None, ...]
    p_inconclusive: tuple[float | None, ...]
    p_inconclusive_ci: tuple[ShareCi | None, ...]


@dataclass(frozen=True)
class CurveFigures:
    """An accuracy gate's verdict shares over a grid of true accuracies, per router arm."""

    true_accuracy: tuple[float, ...]
    sims: int
    arms: dict[str, CurveShares]


@dataclass(frozen=True)
class MinCasesFigures:
    """The fewest unique cases giving the target power for one arm and gate.

    ``n`` is None when even the largest size tried falls short, and ``target`` too when the truth
    is on the threshold or unknown (no search; ``note`` says which). ``bracket`` is the last
    ``(too few, enough)`` sizes and ``evaluated`` the power simulated at each size tried.
    """

    n: int | None
    target: Verdict | None
    power: float | None
    power_ci: ShareCi | None
    note: str | None
    bracket: tuple[int | None, int | None] | None = field(default=None, metadata=OMIT_NONE)
    evaluated: dict[int, float] | None = field(default=None, metadata=OMIT_NONE)
    evaluated_ci: dict[int, ShareCi | None] | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class MinCasesResult:
    """The sample-size search: sizes up to ``n_max``, to within ``rel_tol``, ``sims`` per size."""

    n_max: int
    rel_tol: float
    sims: int
    arms: dict[str, dict[str, MinCasesFigures]]


@dataclass(frozen=True)
class DiagnosisResult:
    """A design diagnosis: the plan simulated ``sims`` times per world, and what it can show.

    ``assumed``: per router arm under the plan's assumed truths; ``boundary``: per gate and arm
    with the truth on the threshold; ``curve``: per accuracy gate over true accuracies (None:
    not simulated); ``icc_grid``: boundaries over replay ICCs (None: not simulated);
    ``min_cases``: the sample-size search (None: not run); ``requirements``: what each gate needs
    at ``unique_cases`` (:func:`analysis.gate_requirement`). ``icc_sims`` is None without a grid.
    """

    plan: DiagnosedPlan
    analysis_code_sha256: str
    seed: int
    sims: int
    curve_sims: int
    icc_sims: int | None
    mc_interval: MonteCarloInterval
    target_power: float
    unique_cases: int
    arms: tuple[str, ...]
    gates: tuple[DiagnosedGate, ...]
    requirements: dict[str, GateRequirement]
    assumed: dict[str, AssumedArmFigures]
    boundary: dict[str, dict[str, BoundaryFigures]]
    curve: dict[str, CurveFigures] | None
    icc_grid: IccGridFigures | None
    min_cases: MinCasesResult | None
    kind: str = DESIGN_KIND
    schema_version: int = DESIGN_SCHEMA_VERSION
    #: A group-sequential plan's figures beside the fixed horizon (omitted for a fixed horizon).
    sequential: SequentialDesignFigures | None = field(default=None, metadata=OMIT_NONE)
