"""The locked analysis end to end on synthetic campaigns, including the edge cases of issue 4."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from reference.plans import HASH, study_plan, synthetic_columns

import analysis
from analysis import RunMeta, TrialTable, analyze, results_from_json, results_to_json
from prereg.errors import AnalysisError
from prereg.records import TrialRecord

META = RunMeta(
    HASH, "c" * 64, True, planned_per_arm=dict.fromkeys(("control", "phi", "qwen", "deepseek"), 300)
)


def _run(cols: dict[str, Any] | None = None, **plan_analysis: Any) -> analysis.Results:
    return analyze(study_plan(**plan_analysis), TrialTable.from_columns(cols or synthetic_columns()), META)


def _arm(results: analysis.Results, arm: str) -> analysis.ArmResult:
    return next(a for a in results.arms if a.arm == arm)


def test_public_names_are_exported_sorted() -> None:
    """analysis.__all__ lists every public name once, constants, classes, then functions."""
    names = analysis.__all__
    assert len(set(names)) == len(names)
    assert all(hasattr(analysis, n) for n in names)
    assert {"analyze", "TrialTable", "RunMeta", "results_to_json", "fewest_correct_to_pass"} <= set(names)


def test_same_trials_give_byte_identical_json() -> None:
    """Re-running on the same trials gives the same bytes, and JSON round-trips."""
    text = results_to_json(_run())
    assert results_to_json(_run()) == text
    assert results_to_json(results_from_json(text)) == text
    assert '"schema_version": 4' in text


def test_study2_shape_counts_and_units() -> None:
    """60 cases x 5 replays: flow counts add up and accuracy is on the case unit by default."""
    res = _run()
    qwen = _arm(res, "qwen")
    assert (qwen.flow.scheduled, qwen.flow.sent, qwen.flow.completed, qwen.flow.analysed) == (
        300,
        300,
        300,
        300,
    )
    assert qwen.unique_cases == 60
    assert qwen.accuracy is not None and (qwen.accuracy.unit, qwen.accuracy.n) == ("case", 60.0)
    assert qwen.clustering is not None and qwen.clustering.design_effect is not None
    req = {r.gate: r for r in res.design.requirements}
    assert (req["accuracy"].fewest_correct, req["accuracy"].unit, req["accuracy"].decidable) == (
        56,
        "case",
        True,
    )
    assert (req["p95"].min_cases, req["p95"].unit, req["p95"].decidable) == (53, "case", True)
    assert res.design.warnings == ()
    assert _arm(res, "control").accuracy is None
    assert [c.difference.correction for c in res.accuracy_comparisons] == ["holm"] * 3
    assert len(res.downstream) == 3 and res.downstream[0].groups[-1].group == "control"
    assert not any(s.mismatch for s in res.srm)


def test_zero_and_all_successes() -> None:
    """An arm that is always wrong FAILs the accuracy gate; always right PASSes it."""
    cols = synthetic_columns()
    arm = cols["arm"]
    cols["correct"] = np.where(arm == "phi", 0.0, np.where(arm == "qwen", 1.0, cols["correct"]))
    res = _run(cols)
    phi, qwen = _arm(res, "phi"), _arm(res, "qwen")
    assert phi.accuracy is not None and phi.accuracy.estimate == 0.0 and phi.accuracy.interval.lower == 0.0
    assert qwen.accuracy is not None and qwen.accuracy.estimate == 1.0 and qwen.accuracy.interval.upper == 1.0
    verdicts = {(g.arm, g.gate): g.verdict for g in res.gates}
    assert verdicts[("phi", "accuracy")] == "FAIL" and verdicts[("qwen", "accuracy")] == "PASS"


def test_all_trials_failed_count_as_wrong_or_excluded() -> None:
    """Routing timeouts count as wrong by default; under 'exclude' they leave no analysable trial."""
    cols = synthetic_columns()
    phi = cols["arm"] == "phi"
    cols["correct"] = np.where(phi, np.nan, cols["correct"])
    cols["routing_status"] = np.where(phi, "timeout", cols["routing_status"]).astype(object)
    cols["status"] = np.where(phi, "timeout", cols["status"])
    wrong = _arm(_run(cols), "phi")
    assert wrong.accuracy is not None and wrong.accuracy.estimate == 0.0
    assert wrong.flow.failed_by_status == {"timeout": 300} and wrong.flow.completed == 0
    res = _run(cols, failures={"routing": "exclude"})
    gone = _arm(res, "phi")
    assert gone.accuracy is not None and gone.accuracy.estimate is None
    assert gone.flow.excluded == {"routing_timeout": 300} and gone.flow.analysed == 0
    gate = next(g for g in res.gates if (g.arm, g.gate) == ("phi", "accuracy"))
    assert (gate.verdict, gate.reason) == ("INCONCLUSIVE", "no analysable trials")


def test_arm_with_no_trials() -> None:
    """An arm of the plan absent from the table is reported with zero counts and no estimates."""
    cols = synthetic_columns()
    keep = cols["arm"] != "deepseek"
    cols = {k: v[keep] for k, v in cols.items()}
    res = _run(cols)
    ds = _arm(res, "deepseek")
    assert (ds.flow.rows, ds.flow.missing, ds.unique_cases) == (0, 300, 0)
    assert ds.accuracy is not None and ds.accuracy.estimate is None
    assert ds.e2e_latency_p95.estimate is None and ds.cost_per_1k.estimate is None
    srm = next(s for s in res.srm if s.what == "sent")
    assert srm.mismatch
    assert next(v for v in res.viability if v.arm == "deepseek").verdict == "INCONCLUSIVE"


def test_one_case() -> None:
    """A single case with five replays: an estimate, an interval, no ICC."""
    cols = synthetic_columns(n_cases=1)
    qwen = _arm(_run(cols), "qwen")
    assert qwen.accuracy is not None and qwen.accuracy.n == 1.0
    assert qwen.clustering is not None and qwen.clustering.icc is None


def test_ties_in_latency_and_p95_gate() -> None:
    """Tied latencies at 1,500 ms PASS the P95 gate; at 2,500 ms they FAIL it."""
    cols = synthetic_columns()
    cols["routing_latency_ms"] = np.where(
        cols["arm"] == "qwen", 1500.0, np.where(cols["arm"] == "phi", 2500.0, cols["routing_latency_ms"])
    )
    res = _run(cols)
    verdicts = {(g.arm, g.gate): g for g in res.gates}
    assert verdicts[("qwen", "p95")].verdict == "PASS" and verdicts[("qwen", "p95")].estimate == 1500.0
    assert verdicts[("phi", "p95")].verdict == "FAIL"


def test_p95_gate_inconclusive_below_53_cases() -> None:
    """With 10 cases x 5 replays no clustered upper bound exists: INCONCLUSIVE with the reason."""
    res = _run(synthetic_columns(n_cases=10))
    gate = next(g for g in res.gates if (g.arm, g.gate) == ("qwen", "p95"))
    assert gate.verdict in ("INCONCLUSIVE", "FAIL")
    if gate.verdict == "INCONCLUSIVE":
        assert "needs at least 53 cases" in gate.reason
    req = next(r for r in res.design.requirements if r.gate == "p95")
    assert req.decidable  # as planned (60 cases); the data had 10


def test_gee_and_bootstrap_latency_options() -> None:
    """The GEE alternative and the latency bootstrap run and state their methods."""
    res = _run(cluster_robust="gee", latency_interval="bootstrap", bootstrap={"resamples": 200})
    qwen = _arm(res, "qwen")
    assert qwen.clustering is not None and qwen.clustering.robust_method == "gee_exchangeable"
    assert qwen.routing_latency_bootstrap_p95 is not None
    assert qwen.routing_latency_bootstrap_p95.method == "case_bootstrap_percentile"


def test_trials_from_another_plan_or_duplicated_are_refused() -> None:
    """A row of another plan, an unknown arm or a duplicated trial raise AnalysisError."""
    cols = synthetic_columns()
    cols["plan_hash"] = cols["plan_hash"].copy()
    cols["plan_hash"][0] = "f" * 64
    with pytest.raises(AnalysisError, match="plan_hash"):
        _run(cols)
    cols = synthetic_columns()
    cols["replay"] = np.zeros_like(cols["replay"])
    with pytest.raises(AnalysisError, match="duplicates"):
        _run(cols)
    with pytest.raises(AnalysisError, match="missing|expected columns"):
        TrialTable.from_columns({"seq": [1]})


def test_from_records_equals_from_columns() -> None:
    """Records and columns of the same trials give the same results."""
    cols = synthetic_columns(n_cases=6, replays=2)
    names = [f.name for f in dataclasses.fields(TrialRecord)]
    records = [TrialRecord(**{n: _py(cols[n][i]) for n in names}) for i in range(len(cols["seq"]))]
    a = results_to_json(analyze(study_plan(), TrialTable.from_records(records), META))
    b = results_to_json(analyze(study_plan(), TrialTable.from_columns(cols), META))
    assert a == b


def test_masked_arrays_mean_null() -> None:
    """A masked entry in a nullable column is NULL (NaN for numbers, None for strings)."""
    cols = synthetic_columns(n_cases=2, replays=1)
    cols["correct"] = np.ma.masked_array(np.nan_to_num(cols["correct"]), mask=[True] + [False] * 7)
    cols["error"] = np.ma.masked_array(np.array(["x"] * 8), mask=[True] * 8)
    table = TrialTable.from_columns(cols)
    assert np.isnan(table.correct[0]) and table.error[0] is None


def _py(v: Any) -> Any:
    if isinstance(v, float) and np.isnan(v):
        return None
    return v.item() if hasattr(v, "item") else v


def test_flow_counts_add_up_with_interrupted_and_not_sent() -> None:
    """sent - exclusions (other than not_sent) = analysed, under the default failure rules."""
    cols = synthetic_columns()
    qwen = np.flatnonzero(cols["arm"] == "qwen")
    cols["status"] = cols["status"].astype("U16")
    cols["status"][qwen[:3]] = "not_sent"
    cols["status"][qwen[3:5]] = "interrupted"
    cols["correct"] = cols["correct"].copy()
    cols["correct"][qwen[:5]] = np.nan
    flow = _arm(_run(cols), "qwen").flow
    assert (flow.sent, flow.not_sent, flow.failed_by_status) == (297, 3, {"interrupted": 2})
    assert flow.excluded == {"interrupted": 2, "not_sent": 3}
    assert flow.sent - sum(v for k, v in flow.excluded.items() if k != "not_sent") == flow.analysed == 295
