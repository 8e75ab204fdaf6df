"""Design diagnosis over replay ICCs, and the Monte Carlo interval of every share.

The ICC solver is checked by Monte Carlo through the simulated classifier itself (its per-case
probabilities of a correct answer and two replays drawn from them), so the check covers the
calibration of the intercept the arms do, not only the integral; the ICC grid is checked to be
in the results with the values asked for; every ``<share>_ci`` of a results document is checked
to be a real interval around its share (never of width zero at 0/N or N/N).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis import DiagnosisResult, design_results_to_json
from arms import ClassifierBehaviour, solve_intercept
from experiment.cli import main
from experiment.design import DesignSettings, EngineSettings, diagnose, format_icc_grid, load_design_results
from experiment.design.figures import share_ci
from experiment.design.icc import (
    DEFAULT_ICC_GRID,
    correctness_icc,
    difficulty_for_icc,
    exact_intercept,
    logistic_normal_moments,
)
from experiment.design.scenarios import accuracy_icc_scenario, latency_boundary_scenario
from prereg.errors import InputError
from prereg.records import Case
from prereg.schema import SimulatedClassifierSpec
from reports._power import power_view
from tests.test_design_plans import FAMILIES, make_cases, make_plan, write_plan


def test_a_share_of_none_or_all_gets_an_interval_of_positive_width() -> None:
    """0/N and N/N get the Wilson interval [0, z^2/(N+z^2)] and its mirror, never +/- 0."""
    z2 = 1.959963984540054**2
    for n in (1, 20, 200, 5000):
        lo, hi = share_ci(0, n) or [math.nan, math.nan]
        assert lo == 0.0 and hi == pytest.approx(z2 / (n + z2), abs=1e-6) and hi > 0.0
        lo, hi = share_ci(n, n) or [math.nan, math.nan]
        assert hi == 1.0 and lo == pytest.approx(n / (n + z2), abs=1e-6) and lo < 1.0
    assert share_ci(200, 200) == (0.981155, 1.0)  # "1.000 +/- 0.000" before
    assert share_ci(0, 0) is None


def test_icc_zero_is_no_difficulty_and_the_solver_inverts_its_icc() -> None:
    """ICC 0 means SD 0; otherwise the SD found gives the ICC asked for, and the ICC rises with SD."""
    d0 = difficulty_for_icc(0.85, 0.0)
    assert (d0.sd, d0.plan_accuracy) == (0.0, 0.85)
    assert d0.intercept == pytest.approx(math.log(0.85 / 0.15))
    for accuracy in (0.5, 0.85, 0.9):
        previous = 0.0
        for icc in (0.1, 0.3, 0.6, 0.9):
            d = difficulty_for_icc(accuracy, icc)
            assert d.sd > previous and d.achieved == pytest.approx(icc, abs=1e-8)
            assert correctness_icc(accuracy, d.sd) == pytest.approx(icc, abs=1e-8)
            assert logistic_normal_moments(d.intercept, d.sd)[0] == pytest.approx(accuracy, abs=1e-10)
            previous = d.sd
    # the arms' 64-node Gauss-Hermite intercept for 0.85 at ICC 0.9 would miss the marginal
    # accuracy by 0.6 points: the plan gets the accuracy that makes the arms land on the exact one
    d = difficulty_for_icc(0.85, 0.9)
    assert logistic_normal_moments(solve_intercept(0.85, d.sd), d.sd)[0] < 0.845
    assert solve_intercept(d.plan_accuracy, d.sd) == pytest.approx(d.intercept, abs=1e-9)
    # the starter plan's SD 1.5 at the 0.85 gate is an ICC of about 0.22 (a realistic 0.2-0.3)
    assert correctness_icc(0.85, 1.5) == pytest.approx(0.2217, abs=1e-3)
    assert exact_intercept(0.5, 3.0) == pytest.approx(0.0, abs=1e-9)


def test_the_solver_refuses_what_it_cannot_give() -> None:
    """Accuracy 0 or 1, an ICC out of [0, 0.99], or one beyond the arms' calibration: ValueError."""
    for accuracy, icc in ((1.0, 0.3), (0.0, 0.3), (0.85, 1.0), (0.85, -0.1), (0.999, 0.9)):
        with pytest.raises(ValueError):
            difficulty_for_icc(accuracy, icc)
    with pytest.raises(InputError, match="--icc-grid"):
        DesignSettings(icc_grid=(0.3, 1.0))
    assert DesignSettings(icc_grid=(0.6, 0.0, 0.6)).icc_values == (0.0, 0.6)
    assert DesignSettings().icc_values == DEFAULT_ICC_GRID
    assert DesignSettings(sims=50).icc_sim_count == 50
    assert DesignSettings(sims=5000).icc_sim_count == 200


def _classifier_draws(accuracy: float, icc: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-case probabilities of a correct answer of the simulated classifier at the solved
    difficulty, and two replays' 0/1 correctness per case drawn from them."""
    d = difficulty_for_icc(accuracy, icc)
    spec = SimulatedClassifierSpec.model_validate(
        {
            "kind": "simulated",
            "accuracy": dict.fromkeys(FAMILIES, d.plan_accuracy),
            "case_difficulty_sd": d.sd,
            "latency": {"median_ms": 500.0, "p95_ms": 1000.0},
        }
    )
    cases = [
        Case(id=f"c{i}", text="t", family=FAMILIES[i % 4], gold_labels=(FAMILIES[i % 4],)) for i in range(n)
    ]
    rng = np.random.default_rng(seed)
    behaviour = ClassifierBehaviour(spec, FAMILIES, cases, rng)
    p = np.array([behaviour.probability_correct(c.id) for c in cases])
    replays = rng.random((n, 2)) < p[:, None]
    return p, replays.astype(np.float64)


@pytest.mark.parametrize(("accuracy", "icc"), [(0.85, 0.3), (0.85, 0.9), (0.9, 0.25)])
def test_the_simulated_classifier_realises_the_target_icc(accuracy: float, icc: float) -> None:
    """Through the arms' own calibration: the marginal accuracy is the target (the Gauss-Hermite
    intercept alone would give 0.844 at ICC 0.9) and two replays of a case correlate at the ICC,
    within 4 Monte Carlo standard errors over 60,000 cases."""
    n = 60_000
    p, y = _classifier_draws(accuracy, icc, n, seed=7)
    assert abs(p.mean() - accuracy) <= 4 * p.std() / math.sqrt(n)
    icc_of_p = p.var() / (accuracy * (1 - accuracy))  # Var(p_c) / (p (1 - p))
    assert icc_of_p == pytest.approx(icc, abs=0.02)
    r = float(np.corrcoef(y[:, 0], y[:, 1])[0, 1])  # the correlation of two replays
    assert abs(r - icc) <= 4 * (1 - icc**2) / math.sqrt(n) + 0.005


def test_icc_worlds_are_the_boundary_with_the_correlation_asked_for() -> None:
    """An accuracy ICC world keeps the threshold as the exact truth with the solved SD; a latency
    ICC world is the latency boundary with the case ICC set."""
    plan, cases = make_plan(), make_cases(20)
    world = accuracy_icc_scenario(plan, cases, 0.85, 0.9, key="icc:accuracy:0.90")
    d = difficulty_for_icc(0.85, 0.9)
    for arm in world.plan.router_arms:
        backend = arm.classifier.backend
        assert isinstance(backend, SimulatedClassifierSpec)
        assert backend.case_difficulty_sd == d.sd
        assert set(backend.accuracy.values()) == {d.plan_accuracy} and d.plan_accuracy > 0.855
        assert world.true_accuracy[arm.id] == 0.85
    latency = latency_boundary_scenario(plan, cases, plan.gates[1], case_icc=0.6, key="icc:latency_p95:0.60")
    assert latency.key == "icc:latency_p95:0.60"
    for arm in latency.plan.router_arms:
        backend = arm.classifier.backend
        assert isinstance(backend, SimulatedClassifierSpec) and backend.latency.case_icc == 0.6
        assert backend.latency.p95_ms == 2000.0


def _intervals(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every ``(path, share, interval)`` of a results document, lists of shares element-wise."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("_ci") and key[:-3] in node and value is not None:
                share = node[key[:-3]]
                if isinstance(share, list):
                    yield from (
                        (f"{path}.{key}[{i}]", s, v)
                        for i, (s, v) in enumerate(zip(share, value, strict=False))
                    )
                elif isinstance(share, dict):  # min_cases.evaluated: {n: power}
                    yield from ((f"{path}.{key}.{n}", share[n], v) for n, v in value.items())
                else:
                    yield f"{path}.{key}", share, value
            else:
                yield from _intervals(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _intervals(value, f"{path}[{i}]")


@pytest.fixture(scope="module")
def icc_design() -> DiagnosisResult:
    """Two routers on 16 cases x 3 replays: a few simulations of every world, ICCs 0 and 0.6."""
    plan = make_plan(cases=16, replays=3)
    settings = DesignSettings(
        sims=5, curve_sims=3, grid=(0.8, 0.9), max_cases=24, icc_grid=(0.6, 0.0), icc_sims=4
    )
    return diagnose(
        plan, make_cases(16), base_dir=Path("."), settings=settings, engine=EngineSettings("local", 1)
    )


def _document(design: DiagnosisResult) -> dict[str, Any]:
    """The results file's JSON object (the layout docs/design.md describes)."""
    data: dict[str, Any] = json.loads(design_results_to_json(design))
    return data


def test_the_icc_grid_is_in_the_results_with_the_values_asked_for(icc_design: DiagnosisResult) -> None:
    """Per gate and ICC (sorted), per router arm: type I error, P(FAIL), coverage for accuracy,
    each with its interval and its number of simulations, and the difficulty SD used."""
    doc = _document(icc_design)
    grid = doc["icc_grid"]
    assert doc["icc_sims"] == grid["sims"] == 4 and grid["values"] == [0.0, 0.6]
    assert doc["mc_interval"] == {"method": "wilson", "level": 0.95}
    assert set(grid["gates"]) == {"accuracy", "latency_p95"}
    accuracy, latency = grid["gates"]["accuracy"], grid["gates"]["latency_p95"]
    assert (accuracy["icc_of"], latency["icc_of"]) == ("correctness", "log_latency")
    assert [p["icc"] for p in accuracy["points"]] == [0.0, 0.6] == [p["icc"] for p in latency["points"]]
    assert accuracy["points"][1]["case_difficulty_sd"] == round(difficulty_for_icc(0.85, 0.6).sd, 6)
    assert latency["points"][1]["case_icc"] == 0.6 and latency["points"][1]["case_difficulty_sd"] is None
    for gate in (accuracy, latency):
        for point in gate["points"]:
            assert set(point["arms"]) == {"small", "hosted"}
            for a in point["arms"].values():
                assert a["sims"] == 4 and a["nominal_alpha"] == 0.05
                assert a["type_i_error"] + a["p_fail"] + a["p_inconclusive"] == pytest.approx(1.0)
                assert len(a["type_i_error_ci"]) == 2 and len(a["p_fail_ci"]) == 2
                assert ("accuracy_interval" in a) == (gate is accuracy)
                assert a["realised_icc"] is None or -1.0 <= a["realised_icc"] <= 1.0
    cov = accuracy["points"][0]["arms"]["small"]["accuracy_interval"]
    assert cov["sims"] == 4 and cov["truth"] == 0.85 and len(cov["coverage_ci"]) == 2


def test_every_share_in_the_results_has_an_interval_around_it(icc_design: DiagnosisResult) -> None:
    """Every ``<share>_ci`` is [lower, upper] with lower <= share <= upper and lower < upper,
    none is a standard error, and the old ``mc_se`` keys of shares are gone."""
    doc = _document(icc_design)
    found = list(_intervals(doc))
    assert len(found) > 100
    for path, share, (lo, hi) in found:
        assert 0.0 <= lo <= share <= hi <= 1.0 and lo < hi, path
    text = repr(doc)
    for old in ("mc_se_pass", "power_mc_se", "type_i_error_mc_se", "coverage_mc_se"):
        assert old not in text


def test_a_point_out_of_reach_has_a_note_and_no_figures() -> None:
    """An accuracy gate at 0.999 cannot be given an ICC of 0.9 by the simulated arms: the point
    says why and has no arms; the other ICCs are simulated."""
    plan = make_plan(cases=8, replays=2, routers=("small",), control=False, gates=("accuracy",))
    data = plan.model_dump(mode="python")
    data["gates"][0]["threshold"] = 0.999
    plan = type(plan).model_validate(data)
    settings = DesignSettings(sims=2, curve_sims=1, grid=(), min_cases=False, icc_grid=(0.3, 0.9))
    out = diagnose(
        plan, make_cases(8), base_dir=Path("."), settings=settings, engine=EngineSettings("local", 1)
    )
    assert out.icc_grid is not None
    low, high = out.icc_grid.gates["accuracy"].points
    assert low.arms is not None and low.note is None
    assert high.arms is None and high.note is not None
    assert "beyond what the simulated arms calibrate" in high.note
    assert any("accuracy at ICC 0.90: " in line for line in format_icc_grid(out))


def test_the_report_and_the_command_show_the_icc_grid(icc_design: DiagnosisResult) -> None:
    """The Design section's rows and the command's table carry the grid with its intervals."""
    view = power_view(icc_design)
    assert view.icc_sims == 4 and len(view.icc) == 2 * 2 * 2
    gate, of, icc, arm, ppass, pfail, cov = view.icc[0]
    assert (gate, of, icc, arm) == ("accuracy", "correctness", "0.00", "small")
    assert ppass.count("[") == 1 and pfail.count("[") == 1 and cov.count("[") == 1
    assert view.icc[-1][1] == "log latency" and view.icc[-1][-1] == "–"
    assert "Wilson" in view.summary
    power_rows = [row for row in view.power if row[3] != "–"]
    assert power_rows and all("[" in row[5] for row in power_rows)
    lines = format_icc_grid(icc_design)
    assert "4 simulations per gate and ICC" in lines[0]
    assert sum(1 for line in lines if line.startswith(("accuracy ", "latency_p95 "))) == 8


def test_the_command_takes_the_icc_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--icc-grid and --icc-sims reach the results; a malformed grid is a one-line error."""
    plan_path = write_plan(tmp_path, cases=8, routers=("small",), control=False)
    main(
        [
            "design",
            str(plan_path),
            "--sims",
            "2",
            "--workers",
            "1",
            "--no-min-cases",
            "--curve-sims",
            "1",
            "--icc-grid",
            "0.3",
            "--icc-sims",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert "ICC grid" in out and "log_latency 0.30" in out
    loaded = load_design_results(plan_path)
    assert loaded is not None and loaded.icc_grid is not None
    assert loaded.icc_grid.values == (0.3,) and loaded.icc_sims == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["design", str(plan_path), "--sims", "2", "--icc-grid", "0.3,high"])
    assert exit_info.value.code == 2
    assert "--icc-grid" in capsys.readouterr().err


def test_the_realised_correctness_icc_matches_the_grid() -> None:
    """Over 30 campaigns of 40 cases x 5 replays the mean ANOVA ICC of the correctness is within
    the tolerance of the grid's ICC, so no point carries a note."""
    plan = make_plan(cases=40, replays=5, routers=("small",), control=False, gates=("accuracy",))
    settings = DesignSettings(sims=30, curve_sims=1, grid=(), min_cases=False, icc_grid=(0.3, 0.6))
    out = diagnose(
        plan, make_cases(40), base_dir=Path("."), settings=settings, engine=EngineSettings("local", 2)
    )
    assert out.icc_grid is not None
    for point in out.icc_grid.gates["accuracy"].points:
        assert point.arms is not None
        a = point.arms["small"]
        assert a.realised_icc is not None and abs(a.realised_icc - point.icc) < 0.1 and a.note is None
