"""Statistical properties the design diagnosis measures, over enough simulations (slow).

Configuration chosen to be fast and to have known answers: one router arm, no control, 60 cases,
one replay per case, no failures or timeouts and a true accuracy of 0.85 in every family, so the
plan's assumed truth *is* the accuracy boundary (one world, simulated once) and the accuracy
analysed is a binomial proportion on 60 cases: Wilson 95% coverage is exactly 0.956 there, and
the one-sided 95% lower bound passes with probability 0.042. 1,900 simulations give a Monte Carlo
standard error of 0.5 percentage points on a 95% coverage (a 95% Wilson interval about 2 points
wide). One replay per case: the ICC grid has nothing to show here and is not simulated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analysis import design_results_to_json
from experiment.design import DesignSettings, EngineSettings, diagnose
from experiment.design.scenarios import (
    UNREACHABLE_TIMEOUT_MS,
    accuracy_scenario,
    assumed_scenario,
)
from tests.test_design_plans import make_cases, make_plan

SIMS = 1900
PLAN = make_plan(
    cases=60,
    replays=1,
    routers=("small",),
    control=False,
    accuracy=0.85,
    unparseable=0.0,
    gates=("accuracy",),
    timeout_ms=UNREACHABLE_TIMEOUT_MS,
)


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    """Design figures of the binomial configuration at the 0.85 boundary (the file's JSON object)."""
    settings = DesignSettings(sims=SIMS, curve_sims=1, grid=(), min_cases=False, icc_grid=())
    design = diagnose(
        PLAN, make_cases(60), base_dir=Path("."), settings=settings, engine=EngineSettings("local", 2)
    )
    data: dict[str, Any] = json.loads(design_results_to_json(design))
    return data


def test_the_configuration_is_one_world() -> None:
    """The assumed truth and the accuracy boundary are the same world, so it is simulated once."""
    cases = make_cases(60)
    boundary = accuracy_scenario(PLAN, cases, 0.85, key="boundary:accuracy")
    assert boundary.identity == assumed_scenario(PLAN, cases).identity


@pytest.mark.slow
def test_accuracy_interval_covers_the_truth_at_its_nominal_level(figures: dict[str, Any]) -> None:
    """Coverage of the 95% accuracy interval is within 1.5 points of nominal."""
    cov = figures["boundary"]["accuracy"]["small"]["accuracy_interval"]
    assert cov["truth"] == 0.85 and cov["level"] == 0.95
    lo, hi = cov["coverage_ci"]
    assert cov["sims"] == SIMS and lo < cov["coverage"] < hi
    assert hi - lo == pytest.approx(2 * 1.96 * 0.005, abs=0.003)
    assert abs(cov["coverage"] - 0.95) <= 0.015
    assert figures["assumed"]["small"]["accuracy_interval"] == cov


@pytest.mark.slow
def test_type_i_error_at_the_boundary_is_at_most_alpha(figures: dict[str, Any]) -> None:
    """P(PASS) with the true accuracy on the 0.85 threshold: alpha is not below its 95% interval."""
    boundary = figures["boundary"]["accuracy"]["small"]
    assert boundary["nominal_alpha"] == 0.05
    assert boundary["type_i_error_ci"][0] <= 0.05
    assert abs(boundary["bias"]) <= 3 * boundary["bias_mc_se"]
