"""Every estimator of the analysis documents itself numpydoc-style: parameters, returns, the method
(Notes), its sources (References) and its unit of analysis."""

from __future__ import annotations

import inspect

import pytest

import analysis

ESTIMATORS = (
    "adjust_pvalues",
    "boundaries",
    "crossing_probabilities",
    "sequential_gates",
    "spent_alpha",
    "bootstrap_case_weights",
    "bootstrap_proportion",
    "bootstrap_quantile",
    "check_balance",
    "check_srm",
    "decide_gate",
    "decide_viability",
    "empirical_curve",
    "estimate_accuracy",
    "estimate_clustered_mean",
    "estimate_proportion",
    "estimate_quantile",
    "bootstrap_icc",
    "fewest_correct_to_pass",
    "gee_proportion",
    "icc_anova",
    "min_n_for_quantile_upper_bound",
    "order_statistic_ranks",
    "paired_difference",
    "paired_quantile_difference",
    "pareto_frontier",
    "proportion_bounds",
    "summarize_clustering",
    "effective_n_bounds",
    "estimate_clustered_quantile",
    "gate_requirement",
    "min_cases_for_quantile_bound",
    "plan_warnings",
    "paired_mean_difference",
    "paired_proportion_difference",
    "estimate_gap_share",
    "estimate_quality_difference",
    "estimate_misrouting_cost",
    "misrouting_costs",
    "estimate_post_stratified",
    "stratified_case_weights",
)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimator_docstring_has_numpydoc_sections_and_unit(name: str) -> None:
    """Parameters, Returns, Notes and References sections, and the unit of analysis named."""
    doc = inspect.getdoc(getattr(analysis, name)) or ""
    for section in ("Parameters", "Returns", "Notes", "References"):
        assert f"\n{section}\n{'-' * len(section)}\n" in doc, f"{name}: no {section} section"
    assert "unit" in doc.lower(), f"{name}: unit of analysis not stated"
    assert "doi:" in doc or "http" in doc or "Wiley" in doc, f"{name}: reference without a source"


def test_every_public_function_of_the_estimator_modules_is_listed() -> None:
    """A new public estimator joins the list above (constructors, I/O and helpers excepted)."""
    helpers = {
        "analyze",
        "case_aggregate",
        "design_results_from_json",
        "design_results_to_json",
        "factorize",
        "results_from_json",
        "results_to_json",
    }
    functions = {n for n in analysis.__all__ if inspect.isfunction(getattr(analysis, n))}
    assert functions - helpers == set(ESTIMATORS)
