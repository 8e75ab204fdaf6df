"""The gates' error rates, checked by simulation through the locked analysis itself.

Each dataset is a whole router arm (60 cases x 5 replays) with replays correlated within a case
(:mod:`tests._calibration`), analysed by :func:`analysis.analyze` with the plan's defaults. At a
gate's boundary (true accuracy exactly 0.85; true P95 exactly 2000 ms) a PASS is a type I error;
the targets are issue 11's: type I error at most alpha + 1 point for ICCs 0 to 0.9, coverage of the
95% accuracy interval within 93-97%, and power at a true accuracy of 0.90 (ICC 0.25) at least 0.5.
With 4,000 datasets a rate near 0.05 has a Monte Carlo standard error of 0.0035. A FAIL at the
boundary is wrong too (the gate holds there); it is not the issue's target, and Wilson's upper end
runs about half a point above nominal near 0.85, so it is held to alpha + 2 points.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis import TrialTable, analyze
from tests._calibration import META, columns, one_router_plan

SIMS = 4000
ALPHA = 0.05
PLAN = one_router_plan(bootstrap={"resamples": 100})


def _run(seed: int, sims: int, **data: float) -> tuple[dict[str, dict[str, int]], int]:
    """Verdict counts per gate, and how often the two-sided accuracy interval covers the truth."""
    rng = np.random.default_rng(seed)
    counts = {g.id: {"PASS": 0, "FAIL": 0, "INCONCLUSIVE": 0} for g in PLAN.gates}
    covered = 0
    for _ in range(sims):
        res = analyze(PLAN, TrialTable.from_columns(columns(rng, **data)), META, scope="gates")
        for v in res.gates:
            counts[v.gate][v.verdict] += 1
        iv = res.arms[0].accuracy.interval
        assert iv.lower is not None and iv.upper is not None
        covered += iv.lower <= data["accuracy"] <= iv.upper
    return counts, covered


@pytest.mark.slow
@pytest.mark.parametrize("icc", [0.0, 0.3, 0.6, 0.9])
def test_type_one_error_and_coverage_at_the_boundary(icc: float) -> None:
    counts, covered = _run(1000 + int(icc * 10), SIMS, accuracy=0.85, icc=icc, latency_icc=icc)
    for gate in ("accuracy", "p95"):
        # PASS at the boundary is the type I error; FAIL is wrong as well (the gate holds there)
        assert counts[gate]["PASS"] / SIMS <= ALPHA + 0.01, (gate, icc, counts[gate])
        assert counts[gate]["FAIL"] / SIMS <= ALPHA + 0.02, (gate, icc, counts[gate])
    assert 0.93 <= covered / SIMS <= 0.97, (icc, covered / SIMS)


@pytest.mark.slow
def test_power_at_true_accuracy_090_with_icc_025() -> None:
    counts, _ = _run(2000, SIMS, accuracy=0.90, icc=0.25, latency_icc=0.5)
    assert counts["accuracy"]["PASS"] / SIMS >= 0.5, counts["accuracy"]


def test_the_old_rule_is_what_the_new_one_replaces() -> None:
    """A binomial interval on n = cases over-covers (the audit's 99.8%); on the effective n it does not."""
    rng = np.random.default_rng(3)
    old = one_router_plan(bootstrap={"resamples": 100})
    widths = []
    for _ in range(50):
        res = analyze(
            old,
            TrialTable.from_columns(columns(rng, accuracy=0.85, icc=0.3, latency_icc=0.5)),
            META,
            scope="gates",
        )
        acc = res.arms[0].accuracy
        assert acc.effective_n is not None and acc.n <= acc.effective_n + 5 <= acc.n_requests + 5
        assert acc.interval.method == "wilson_effective_n"
        widths.append(acc.interval.upper - acc.interval.lower)  # type: ignore[operator]
    assert min(widths) > 0.0
