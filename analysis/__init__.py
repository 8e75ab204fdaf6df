"""The locked analysis: plain trial records in, estimates, intervals and gate verdicts out.

Pure by design: numpy arrays or :class:`~prereg.records.TrialRecord` objects in, frozen dataclasses
and deterministic JSON out; no database driver, HTTP client or SimPy.
"""

from analysis._analyze import analyze
from analysis._balance import SRM_THRESHOLD, check_balance, check_srm
from analysis._clustered import (
    CaseResampler,
    bootstrap_case_weights,
    bootstrap_proportion,
    estimate_accuracy,
    gee_proportion,
    summarize_clustering,
)
from analysis._clustered_quantile import estimate_clustered_quantile
from analysis._comparisons import (
    adjust_pvalues,
    case_aggregate,
    estimate_clustered_mean,
    paired_difference,
    paired_quantile_difference,
)
from analysis._design_limits import (
    fewest_correct_to_pass,
    gate_requirement,
    min_cases_for_quantile_bound,
    min_n_for_quantile_upper_bound,
)
from analysis._effective_n import effective_n_bounds
from analysis._gate_results import ArmGateResult, GateResults
from analysis._gates import decide_gate, decide_viability
from analysis._icc import bootstrap_icc, icc_anova
from analysis._json import results_from_json, results_to_json
from analysis._meta import RunMeta
from analysis._paired import paired_mean_difference, paired_proportion_difference
from analysis._pareto import pareto_frontier
from analysis._plan_warnings import plan_warnings
from analysis._proportions import CI_METHODS, CiMethod, Side, estimate_proportion, proportion_bounds
from analysis._quantiles import (
    CURVE_POINTS,
    bootstrap_quantile,
    empirical_curve,
    estimate_quantile,
    order_statistic_ranks,
)
from analysis._results import (
    SCHEMA_VERSION,
    AccuracyComparison,
    ArmResult,
    ArmVerdict,
    BalanceResult,
    ClusteringResult,
    ConfusionMatrix,
    ControlComparison,
    DesignResult,
    DifferenceResult,
    DownstreamGroup,
    DownstreamResult,
    FamilyAccuracy,
    FlowCounts,
    GateRequirement,
    GateVerdict,
    Interval,
    LatencyCurve,
    MeanResult,
    ParetoPoint,
    PlanInfo,
    ProportionResult,
    QuantileResult,
    Results,
    SrmResult,
    Unit,
    Verdict,
)
from analysis._table import TrialTable, factorize

__all__ = [
    "CI_METHODS",
    "CURVE_POINTS",
    "SCHEMA_VERSION",
    "SRM_THRESHOLD",
    "AccuracyComparison",
    "ArmGateResult",
    "ArmResult",
    "ArmVerdict",
    "BalanceResult",
    "CaseResampler",
    "CiMethod",
    "ClusteringResult",
    "ConfusionMatrix",
    "ControlComparison",
    "DesignResult",
    "DifferenceResult",
    "DownstreamGroup",
    "DownstreamResult",
    "FamilyAccuracy",
    "FlowCounts",
    "GateRequirement",
    "GateResults",
    "GateVerdict",
    "Interval",
    "LatencyCurve",
    "MeanResult",
    "ParetoPoint",
    "PlanInfo",
    "ProportionResult",
    "QuantileResult",
    "Results",
    "RunMeta",
    "Side",
    "SrmResult",
    "TrialTable",
    "Unit",
    "Verdict",
    "adjust_pvalues",
    "analyze",
    "bootstrap_case_weights",
    "bootstrap_icc",
    "bootstrap_proportion",
    "bootstrap_quantile",
    "case_aggregate",
    "check_balance",
    "check_srm",
    "decide_gate",
    "decide_viability",
    "effective_n_bounds",
    "empirical_curve",
    "estimate_accuracy",
    "estimate_clustered_mean",
    "estimate_clustered_quantile",
    "estimate_proportion",
    "estimate_quantile",
    "factorize",
    "fewest_correct_to_pass",
    "gate_requirement",
    "gee_proportion",
    "icc_anova",
    "min_cases_for_quantile_bound",
    "min_n_for_quantile_upper_bound",
    "order_statistic_ranks",
    "paired_difference",
    "paired_mean_difference",
    "paired_proportion_difference",
    "paired_quantile_difference",
    "pareto_frontier",
    "plan_warnings",
    "proportion_bounds",
    "results_from_json",
    "results_to_json",
    "summarize_clustering",
]
