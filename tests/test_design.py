"""Design diagnosis: scenarios, search, determinism across engines, the results file, the CLI."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from analysis import DiagnosedPlan, design_results_to_json
from arms._calibration import marginal_accuracy, solve_intercept
from experiment.cli import main
from experiment.design import (
    DesignSettings,
    EngineSettings,
    design_results_path,
    diagnose,
    load_design_results,
    power_warnings,
    write_design_results,
)
from experiment.design.engine import chunk_bounds
from experiment.design.scenarios import (
    UNREACHABLE_TIMEOUT_MS,
    accuracy_scenario,
    assumed_scenario,
    latency_boundary_scenario,
    resize_corpus,
    sample_size_scenario,
)
from experiment.design.search import search_min_cases
from experiment.design.sim import ChunkTask, run_campaign, sim_seed
from prereg.canonical import canonical_hash
from prereg.errors import InputError
from prereg.schema import RouterArmSpec, SimulatedClassifierSpec
from tests.test_design_golden import golden_design
from tests.test_design_plans import make_cases, make_plan, write_plan

MIXED = {"code": 0.9, "math": 0.8, "summarization": 0.75, "translation": 0.7}
SMALL = DesignSettings(sims=4, curve_sims=2, grid=(0.8, 0.85), max_cases=30)


def _classifiers(plan: object) -> list[tuple[RouterArmSpec, SimulatedClassifierSpec]]:
    out = []
    for arm in plan.router_arms:  # type: ignore[attr-defined]
        assert isinstance(arm.classifier.backend, SimulatedClassifierSpec)
        out.append((arm, arm.classifier.backend))
    return out


def test_accuracy_boundary_has_true_marginal_accuracy_at_threshold() -> None:
    """At the accuracy boundary every router's calibrated marginal accuracy is the threshold."""
    plan, cases = make_plan(accuracy=MIXED, unparseable=0.05), make_cases(20)
    scenario = accuracy_scenario(plan, cases, 0.85, key="boundary:accuracy")
    for arm, spec in _classifiers(scenario.plan):
        assert spec.failures.unparseable_rate == 0.0 and spec.failures.http_error_rate == 0.0
        assert arm.classifier.timeout_ms == UNREACHABLE_TIMEOUT_MS
        families = {c.family for c in cases}
        calibrated = [
            marginal_accuracy(
                solve_intercept(spec.accuracy[f], spec.case_difficulty_sd), spec.case_difficulty_sd
            )
            for f in families
        ]
        assert calibrated == pytest.approx([0.85] * len(families), abs=1e-10)
        assert scenario.true_accuracy[arm.id] == pytest.approx(0.85, abs=1e-12)


def test_assumed_truth_weights_families_and_counts_failures_as_wrong() -> None:
    """The assumed truth is the family-weighted accuracy times the chance of no failure."""
    cases = make_cases(20)
    scenario = assumed_scenario(make_plan(accuracy=MIXED, unparseable=0.05), cases)
    assert scenario.true_accuracy["small"] == pytest.approx(0.7875 * 0.95)


def test_latency_boundary_puts_the_routing_p95_on_the_threshold() -> None:
    """With no queueing or network, 95% of routing latencies fall at or below the threshold."""
    plan, cases = make_plan(), make_cases(20)
    gate = plan.gates[1]
    scenario = latency_boundary_scenario(plan, cases, gate)
    for _, spec in _classifiers(scenario.plan):
        assert spec.latency.p95_ms == 2000.0 and spec.latency.network_rtt_ms == 0.0
        assert spec.latency.concurrency >= 20 * 2 * 3
    latencies = []
    for i in range(40):
        seeded = scenario.plan.model_copy(
            update={
                "randomization": scenario.plan.randomization.model_copy(
                    update={"seed": sim_seed(11, "h" * 64, i)}
                )
            }
        )
        _, records = run_campaign(seeded, scenario, "h" * 64, Path("."))
        latencies += [r.routing_latency_ms for r in records if r.routing_latency_ms is not None]
    share = float(np.mean(np.asarray(latencies) <= 2000.0))
    se = (0.95 * 0.05 / len(latencies)) ** 0.5
    assert abs(share - 0.95) < 3 * se


def test_resize_corpus_keeps_families_and_copies_beyond_the_corpus() -> None:
    """A resized corpus is family-balanced, and copies get fresh, unique ids."""
    cases = make_cases(20)
    small = resize_corpus(cases, 8)
    assert sorted(c.family for c in small) == sorted(["code", "math", "summarization", "translation"] * 2)
    big = resize_corpus(cases, 45)
    assert len({c.id for c in big}) == 45
    assert [c.id for c in big[40:]] == ["c000~3", "c001~3", "c002~3", "c003~3", "c004~3"]
    scenario = sample_size_scenario(make_plan(), cases, 45)
    assert scenario.plan.sample_size.unique_cases == 45
    assert scenario.plan.sample_size.requests_total == 45 * 2 * 3


def test_search_finds_the_smallest_size_within_tolerance() -> None:
    """Bracketing then bisection returns the first size whose power reaches the target."""
    calls: list[list[int]] = []

    def evaluate(sizes: list[int]) -> dict[int, dict[tuple[str, str], float]]:
        calls.append(sizes)
        return {
            n: {("a", "g"): min(1.0, n / 137), ("b", "g"): min(1.0, n / 20), ("c", "g"): 0.1} for n in sizes
        }

    found = search_min_cases(
        evaluate, [("a", "g"), ("b", "g"), ("c", "g")], 60, target=0.8, n_min=4, n_max=480, rel_tol=0.0
    )
    assert found[("a", "g")].n == 110  # 0.8 * 137 = 109.6
    assert found[("b", "g")].n == 16
    assert found[("c", "g")].n is None and found[("c", "g")].lo == 480


def test_sim_seed_is_fixed_by_index_and_chunks_cover_every_simulation() -> None:
    """Seeds depend only on (seed, hash, index); chunk bounds partition the simulations."""
    assert sim_seed(1, "a" * 64, 3) == sim_seed(1, "a" * 64, 3) != sim_seed(1, "a" * 64, 4)
    bounds = chunk_bounds(103, 2)
    assert bounds[0][0] == 0 and bounds[-1][1] == 103
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))


def test_results_do_not_depend_on_the_number_of_workers() -> None:
    """One worker and two workers write byte-identical design results."""
    plan, cases = make_plan(), make_cases(20)
    one = diagnose(plan, cases, base_dir=Path("."), settings=SMALL, engine=EngineSettings("local", 1))
    two = diagnose(plan, cases, base_dir=Path("."), settings=SMALL, engine=EngineSettings("local", 2))
    assert design_results_to_json(one) == design_results_to_json(two)
    assert one.plan.canonical_sha256 == canonical_hash(plan)
    assert set(one.boundary) == {"accuracy", "latency_p95"}
    assert one.curve is not None and one.curve["accuracy"].true_accuracy == (0.8, 0.85)
    assert one.min_cases is not None and one.min_cases.n_max == 30
    assert one.icc_grid is not None and one.icc_grid.values == (0.0, 0.3, 0.6, 0.9) and one.icc_sims == 4
    # the same requirement check and the results document state (analysis.gate_requirement)
    req = one.requirements
    assert req["latency_p95"].min_cases == 53 and req["latency_p95"].decidable is False
    assert req["accuracy"].unit == "case" and req["accuracy"].n == 20


def test_dask_engine_gives_the_same_results_as_the_local_pool() -> None:
    """A two-worker Dask cluster (threads) runs the same task function to the same results."""
    pytest.importorskip("dask.distributed")
    plan, cases = make_plan(routers=("small",), control=False), make_cases(12)
    settings = DesignSettings(sims=4, curve_sims=2, grid=(), min_cases=False)
    local = diagnose(plan, cases, base_dir=Path("."), settings=settings, engine=EngineSettings("local", 1))
    dask = diagnose(
        plan,
        cases,
        base_dir=Path("."),
        settings=settings,
        engine=EngineSettings("dask", 2, dask_processes=False),
    )
    assert design_results_to_json(dask) == design_results_to_json(local)


def test_engine_settings_reject_bad_values() -> None:
    """An unknown engine or zero workers is a one-line input error."""
    with pytest.raises(InputError, match="--engine"):
        EngineSettings("ray", 1)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="--workers"):
        EngineSettings("local", 0)


def test_results_file_round_trips_and_refuses_another_plan(tmp_path: Path) -> None:
    """Results are stored beside the plan and load back only for the same plan hash."""
    plan_path = tmp_path / "study.yaml"
    assert load_design_results(plan_path) is None
    design = golden_design("design_plan12_no_grid")
    results = dataclasses.replace(design, plan=DiagnosedPlan("study.yaml", "t", "ab"))
    written = write_design_results(plan_path, results)
    assert written == design_results_path(plan_path) == tmp_path / "study.design.json"
    assert load_design_results(plan_path) == results
    assert load_design_results(plan_path, plan_hash="ab") == results
    assert load_design_results(plan_path, plan_hash="cd") is None
    written.write_text("{not json", encoding="utf-8")
    assert load_design_results(plan_path) is None
    # a file of the previous layout (standard errors instead of intervals) is not read as this one
    write_design_results(plan_path, dataclasses.replace(results, schema_version=1))
    assert load_design_results(plan_path) is None
    # nor is a file of another layout
    written.write_text(json.dumps({"kind": "routetrial.design", "schema_version": 2}), encoding="utf-8")
    assert load_design_results(plan_path) is None


def test_design_command_prints_a_table_and_writes_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`routetrial design` checks the plan, simulates it and writes <stem>.design.json."""
    plan_path = write_plan(tmp_path, cases=12, routers=("small",), control=False)
    main(["design", str(plan_path), "--sims", "3", "--workers", "1", "--no-grid", "--no-min-cases"])
    out = capsys.readouterr().out
    assert "small" in out and "type I" in out and str(tmp_path / "plan.design.json") in out
    loaded = load_design_results(plan_path)
    assert loaded is not None and loaded.sims == 3 and loaded.curve is None
    assert loaded.icc_grid is None and "ICC grid" not in out  # --no-grid: no grids at all
    assert json.loads((tmp_path / "plan.design.json").read_text())["arms"] == ["small"]


def test_design_command_refuses_an_invalid_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A plan whose corpus does not match its pinned hash is a one-line error, exit 2."""
    plan_path = write_plan(tmp_path, cases=12)
    (tmp_path / "corpus.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["design", str(plan_path), "--sims", "2", "--workers", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("routetrial: error:") and len(err.strip().splitlines()) == 1


def test_chunk_task_is_what_the_engines_ship() -> None:
    """A chunk task pickles (process pools and Dask ship it to workers)."""
    import pickle

    plan, cases = make_plan(), make_cases(8)
    task = ChunkTask(assumed_scenario(plan, cases), 11, canonical_hash(plan), Path("."), 0, 2, False)
    assert pickle.loads(pickle.dumps(task)).scenario.identity == task.scenario.identity


def test_design_refuses_a_plan_with_a_live_backend() -> None:
    """A live classifier has no assumed truth to simulate: a one-line input error names the field."""
    data = make_plan().model_dump(mode="python")
    data["arms"][1]["classifier"]["backend"] = {"kind": "openai", "base_url": "http://127.0.0.1:1"}
    plan = type(make_plan()).model_validate(data)
    with pytest.raises(InputError, match=r"arms\[1\]\.classifier\.backend\.kind"):
        diagnose(plan, make_cases(20), base_dir=Path("."), settings=SMALL)


def test_power_warnings_name_each_underpowered_gate() -> None:
    """Gates below the target power give one line each; a boundary truth gives none."""
    design = golden_design("design_plan12_no_grid")
    qwen = design.assumed["qwen"]
    low = dataclasses.replace(
        qwen.gates["accuracy"], power=0.28, power_ci=None, p_pass=0.0, p_fail=0.28, p_inconclusive=0.72
    )
    high = dataclasses.replace(low, power=0.93, p_pass=0.93, p_fail=0.0, p_inconclusive=0.07)
    gates = {"accuracy": low, "latency_p95": high, "other": dataclasses.replace(low, power=None)}
    results = dataclasses.replace(
        design,
        target_power=0.8,
        unique_cases=60,
        sims=100,
        assumed={"qwen": dataclasses.replace(qwen, gates=gates)},
    )
    expected = (
        "design: qwen accuracy: power 0.28 < 0.80 at 60 unique cases "
        "(P(PASS) 0.00, P(FAIL) 0.28, P(INCONCLUSIVE) 0.72; 100 simulations)"
    )
    assert power_warnings(results) == [expected]
    gates["accuracy"] = dataclasses.replace(low, power_ci=(0.2, 0.37))
    results = dataclasses.replace(results, assumed={"qwen": dataclasses.replace(qwen, gates=gates)})
    assert power_warnings(results) == [expected.replace("0.28 <", "0.28 [0.20, 0.37] <")]
