"""Post-stratified accuracy under the target mix: interval coverage and the gate's type I error.

One router arm sees 60 cases x 5 replays over the six families (10 cases each); each family has its
own accuracy (0.70 to 0.96) and the target mix weights them unevenly, so the post-stratified
accuracy differs from the corpus-mix one (0.8100 against 0.8467). Per-case probabilities are
beta-binomial within a family (:func:`tests._calibration.case_probabilities`) at replay ICC 0 and
0.6. Every dataset is a full trial table analysed by :func:`analysis.analyze` (``scope="gates"``)
with one gate, ``routing_accuracy >= 0.81`` under ``mix: target`` and its one-sided 95% bound:
the true post-stratified accuracy is exactly the threshold, so a PASS is a type I error (target:
at most alpha + 1 point). Coverage is that of the 95% two-sided interval of
:func:`analysis.estimate_post_stratified` with the plan's ``ci_method`` (the mix section's
accuracy) on the same datasets (target: at least 0.95 - 1 point). 1,000 datasets per world, fixed
seeds; the Monte Carlo standard error of a rate near 0.05 is 0.007. Both take about 25 s in all.

Measured with these seeds: type I error 0.028 (ICC 0) and 0.044 (ICC 0.6); coverage 0.963 and
0.947. The stratified case bootstrap's percentile bound, tried first for accuracy, measured
liberal here (0.063 and 0.073, 2,000 datasets; with each tail at a t on the Satterthwaite degrees
of freedom 0.054 and 0.064), which is why a post-stratified proportion takes the binomial interval
on its effective n instead (:func:`analysis.estimate_post_stratified`, Notes).
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis import Mix, TrialTable, analyze, estimate_post_stratified
from prereg.schema import DEFAULT_LABELS, GateSpec, Plan
from tests._calibration import META, case_probabilities, columns, one_router_plan

K, M, ALPHA = 60, 5, 0.05
#: Each family's accuracy and its target share, in DEFAULT_LABELS order (cases i % 6).
ACCURACY = np.array([0.70, 0.78, 0.84, 0.88, 0.92, 0.96])
SHARE = np.array([0.30, 0.20, 0.20, 0.10, 0.10, 0.10])
TRUE = float(SHARE @ ACCURACY)


def _plan() -> Plan:
    """One router, the target mix, and only an accuracy gate under it at the true value."""
    base = one_router_plan(target_mix=dict(zip(DEFAULT_LABELS, SHARE.tolist(), strict=True)))
    gate = GateSpec.model_validate(
        {"id": "acc_mix", "metric": "routing_accuracy", "op": ">=", "threshold": TRUE, "mix": "target"}
    )
    return base.model_copy(update={"gates": [gate]})


def _rates(icc: float, sims: int, seed: int) -> tuple[float, float]:
    """Type I error of the gate and coverage of the two-sided interval over ``sims`` datasets."""
    plan, rng = _plan(), np.random.default_rng(seed)
    of_case = np.arange(K) % len(DEFAULT_LABELS)
    mix = Mix(tuple(DEFAULT_LABELS), SHARE, of_case)
    cases = np.repeat(np.arange(K), M)
    cols = columns(rng, accuracy=0.85, icc=0.0, latency_icc=0.0, n_cases=K, replays=M)
    family = np.array(DEFAULT_LABELS)[of_case][cases]
    passed = covered = 0
    for _ in range(sims):
        p = np.empty(K)
        for f, acc in enumerate(ACCURACY):
            p[of_case == f] = case_probabilities(rng, float(acc), icc, int((of_case == f).sum()))
        correct = rng.random(K * M) < p[cases]
        cols["correct"] = correct.astype(np.float64)
        cols["predicted_label"] = np.where(correct, family, "translation_wrong").astype(object)
        res = analyze(plan, TrialTable.from_columns(cols), META, scope="gates")
        passed += res.gates[0].verdict == "PASS"
        est = estimate_post_stratified(
            cols["correct"], cases, mix, "case", 0.95, rng, 2000, 10, method=plan.analysis.ci_method
        )
        lo, hi = est.interval.lower, est.interval.upper
        covered += lo is not None and hi is not None and lo <= TRUE <= hi
    return passed / sims, covered / sims


@pytest.mark.slow
@pytest.mark.parametrize(("icc", "seed"), [(0.0, 31), (0.6, 32)])
def test_type_one_error_and_coverage_under_the_target_mix(icc: float, seed: int) -> None:
    """At the boundary the gate passes at most alpha + 1 point; the interval covers >= 94%."""
    type_one, coverage = _rates(icc, 1000, seed)
    assert type_one <= ALPHA + 0.01, f"type I error {type_one:.4f} (ICC {icc}, 1000 datasets)"
    assert coverage >= 0.94, f"coverage {coverage:.4f} (ICC {icc}, 1000 datasets)"
