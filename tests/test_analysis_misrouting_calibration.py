"""The ``misrouting_cost_per_1k`` gate's error rate and its interval's coverage, by simulation
through :func:`analysis.analyze`.

One router arm sees 60 cases x 5 replays (:func:`tests._calibration.columns` builds the trial
table; this test redraws the predictions). Each case has one gold label (the six default labels in
turn); a request is misrouted with the case's error probability ``q_i``, beta-binomial across cases
(:func:`tests._calibration.case_probabilities`, mean 0.15), and a misrouted request goes to one of
the five other labels, whose pre-registered cost is between 0.5 and 3 (:data:`PAIRS`; 1 for the
pairs not listed), or 1 for every pair (unit costs, the accuracy gate's world). Two worlds:

- ``independent``: replay ICC 0 and each misrouted request picks its wrong label afresh;
- ``clustered``: replay ICC 0.6 and each case always goes to the same wrong label (a router that
  confuses a case confuses it the same way), so both whether and how much a case costs are shared
  by its replays.

The true expected cost per 1,000 requests is ``1000 * 0.15 * mean_g mean_w c(g, w)`` in both
worlds (the wrong label is uniform and independent of ``q_i``). The gate ``<=`` that value under
its one-sided 95% bound: a PASS is a type I error (target: at most alpha + 1 point). A second gate
on the same data at level 0.975 has as its two bounds the two-sided 95% interval the results
report (:func:`analysis._misrouting.misrouting_result`), whose coverage is counted.

Measured with these seeds (1,000 datasets each, Monte Carlo standard error about 0.007), type I
error and coverage: pairs, ICC 0: 0.050 and 0.957; pairs, ICC 0.6: 0.049 and 0.965; unit costs,
ICC 0: 0.049 and 0.950; unit costs, ICC 0.6: 0.036 and 0.972 (docs/design.md, "Misrouting cost").
The four tests take about 40 s on 2 cores.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis import TrialTable, analyze
from prereg.schema import DEFAULT_LABELS, GateSpec, Plan
from tests._calibration import META, case_probabilities, columns, one_router_plan

K, M, ALPHA, ERROR = 60, 5, 0.05, 0.15
#: Pre-registered costs of some gold -> predicted pairs (the rest cost the default, 1).
PAIRS = (
    ("code", "math", 3.0),
    ("code", "creative_writing", 2.0),
    ("math", "code", 0.5),
    ("knowledge_qa", "summarization", 0.5),
    ("summarization", "creative_writing", 2.5),
    ("translation", "knowledge_qa", 1.5),
)
LABELS = np.array(DEFAULT_LABELS)
Pairs = tuple[tuple[str, str, float], ...]


def _cost_matrix(pairs: Pairs) -> np.ndarray:
    """``c[g, p]``: the cost of predicting label ``p`` for gold label ``g`` (0 on the diagonal)."""
    index = {lab: i for i, lab in enumerate(DEFAULT_LABELS)}
    c = np.ones((LABELS.size, LABELS.size)) - np.eye(LABELS.size)
    for g, p, cost in pairs:
        c[index[g], index[p]] = cost
    return c


def true_cost_per_1k(pairs: Pairs) -> float:
    """``1000 * ERROR * mean over gold labels of the mean cost of the five wrong labels``."""
    c = _cost_matrix(pairs)
    return 1000.0 * ERROR * float((c.sum(axis=1) / (LABELS.size - 1)).mean())


def _plan(threshold: float, pairs: Pairs) -> Plan:
    """One router, the misrouting costs, and two misrouting gates at the true value (95%, 97.5%)."""
    base = one_router_plan(
        K,
        M,
        misrouting_cost={"pairs": [{"gold": g, "predicted": p, "cost": c} for g, p, c in pairs]},
    )
    gates = [
        GateSpec.model_validate(
            {
                "id": f"mis{level}",
                "metric": "misrouting_cost_per_1k",
                "op": "<=",
                "threshold": threshold,
                "rule": {"kind": "confidence_bound", "level": level},
            }
        )
        for level in (0.95, 0.975)
    ]
    return base.model_copy(update={"gates": gates})


def _rates(world: str, pairs: Pairs, sims: int, seed: int) -> tuple[float, float]:
    """Share of datasets with a PASS at the true value, and share whose 95% interval covers it."""
    truth = true_cost_per_1k(pairs)
    plan = _plan(truth, pairs)
    rng = np.random.default_rng(seed)
    cols = columns(rng, accuracy=1.0 - ERROR, icc=0.0, latency_icc=0.0, n_cases=K, replays=M)
    case_i = np.repeat(np.arange(K), M)
    gold = case_i % LABELS.size
    passed = covered = 0
    for _ in range(sims):
        icc = 0.0 if world == "independent" else 0.6
        wrong = rng.random(K * M) < case_probabilities(rng, ERROR, icc, K)[case_i]
        shift = rng.integers(1, LABELS.size, size=K * M if world == "independent" else K)
        shift = shift if world == "independent" else shift[case_i]
        predicted = np.where(wrong, (gold + shift) % LABELS.size, gold)
        cols["predicted_label"] = LABELS[predicted].astype(object)
        cols["correct"] = (~wrong).astype(np.float64)
        res = analyze(plan, TrialTable.from_columns(cols), META, scope="gates")
        one_sided, two_sided = res.gates
        passed += one_sided.verdict == "PASS"
        lo, hi = two_sided.opposite_bound, two_sided.deciding_bound
        covered += (
            lo is not None
            and hi is not None
            and lo.lower is not None
            and hi.upper is not None
            and lo.lower <= truth <= hi.upper
        )
    return passed / sims, covered / sims


@pytest.mark.slow
@pytest.mark.parametrize(
    ("world", "costs", "seed"),
    [
        ("independent", "pairs", 31),
        ("clustered", "pairs", 32),
        ("independent", "unit", 33),
        ("clustered", "unit", 34),
    ],
)
def test_type_one_error_at_the_boundary_and_coverage(world: str, costs: str, seed: int) -> None:
    """True expected cost equal to the threshold: PASS at most alpha + 1 point; the two-sided 95%
    interval covers the truth at least 95% - 1.5 points of the time."""
    rate, coverage = _rates(world, PAIRS if costs == "pairs" else (), 1000, seed)
    where = f"({world}, {costs} costs, 1000 datasets)"
    assert rate <= ALPHA + 0.01, f"type I error {rate:.4f} {where}"
    assert coverage >= 1.0 - ALPHA - 0.015, f"coverage {coverage:.4f} {where}"
