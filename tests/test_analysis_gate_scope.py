"""analyze(..., scope="gates") returns exactly the gate-deciding fields of the full analysis."""

from __future__ import annotations

from typing import Any

import pytest
from reference.plans import HASH, study_plan, synthetic_columns

from analysis import GateResults, Results, RunMeta, TrialTable, analyze

META = RunMeta(
    HASH, "c" * 64, True, planned_per_arm=dict.fromkeys(("control", "phi", "qwen", "deepseek"), 300)
)

OPTIONS: list[dict[str, Any]] = [
    {},
    {"unit": "request"},
    {"ci_method": "clopper_pearson", "alpha": 0.1},
    {"cluster_robust": "gee"},
    {"latency_interval": "bootstrap", "bootstrap": {"resamples": 300}},
    {"failures": {"routing": "exclude", "latency": "exclude"}},
]


def _both(cols: dict[str, Any], **options: Any) -> tuple[Results, GateResults]:
    plan = study_plan(**options)
    table = TrialTable.from_columns(cols)
    return analyze(plan, table, META), analyze(plan, table, META, scope="gates")


def _assert_same(full: Results, gates: GateResults) -> None:
    assert gates.gates == full.gates
    assert gates.viability == full.viability
    routers = [a for a in full.arms if a.kind == "router"]
    assert [a.arm for a in gates.arms] == [a.arm for a in routers]
    for mine, theirs in zip(gates.arms, routers, strict=True):
        assert theirs.accuracy is not None and theirs.clustering is not None
        assert mine.accuracy == theirs.accuracy
        assert mine.robust_method == theirs.clustering.robust_method
        assert mine.robust_estimate == theirs.clustering.robust_estimate
        assert mine.robust_interval == theirs.clustering.robust_interval


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_gate_scope_equals_the_full_analysis(options: dict[str, Any]) -> None:
    """Every option that changes a verdict or an interval gives the same values in both scopes."""
    full, gates = _both(synthetic_columns(), **options)
    _assert_same(full, gates)


@pytest.mark.parametrize("n_cases", [1, 10])
def test_gate_scope_equals_the_full_analysis_on_small_corpora(n_cases: int) -> None:
    """Also where bounds do not exist (one case, fewer than 59 latencies)."""
    full, gates = _both(synthetic_columns(n_cases=n_cases))
    _assert_same(full, gates)


def test_gate_scope_with_an_arm_without_trials() -> None:
    """A router arm with no trials gets the full analysis' empty accuracy and INCONCLUSIVE gates."""
    full, gates = _both(synthetic_columns(arms=("control", "phi", "qwen"), accuracy=(0.0, 0.75, 0.79)))
    _assert_same(full, gates)
    assert {v.verdict for v in gates.gates if v.arm == "deepseek"} == {"INCONCLUSIVE"}
