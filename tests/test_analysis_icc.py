"""Intervals of the ICC and the design effect: exact enumeration of every case resample
(tests/reference/clustered.py), a request-level brute-force loop with scipy, the undefined cases,
the shared deterministic streams of the locked analysis."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pytest
from numpy.typing import NDArray
from reference import clustered as cref
from reference import estimators as ref
from reference.plans import HASH, study_plan, synthetic_columns
from scipy import stats

from analysis import (
    RunMeta,
    TrialTable,
    analyze,
    bootstrap_case_weights,
    bootstrap_icc,
    icc_anova,
    results_from_json,
    results_to_json,
    summarize_clustering,
)
from analysis._icc import case_moments
from prereg.seeding import derive_rng

SMALL_CASES = np.array(cref.ICC_SMALL_CASES)
SMALL_Y = np.array(cref.ICC_SMALL_Y, dtype=float)
Y = np.array(ref.ICC_Y, dtype=float)
CASES = np.array(ref.ICC_CASES)
META = RunMeta(
    HASH, "c" * 64, True, planned_per_arm=dict.fromkeys(("control", "phi", "qwen", "deepseek"), 300)
)


def _all_resamples(k: int) -> NDArray[np.float64]:
    return np.array(
        [np.bincount(d, minlength=k) for d in itertools.product(range(k), repeat=k)], dtype=np.float64
    )


def _brute_icc(groups: list[NDArray[np.float64]]) -> tuple[float, float] | None:
    """ICC and design effect of expanded groups from scipy's one-way ANOVA F (None: undefined)."""
    n_total, k = sum(g.size for g in groups), len(groups)
    n0 = (n_total - sum(g.size**2 for g in groups) / n_total) / (k - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = float(stats.f_oneway(*groups).statistic)
    if np.isnan(f):
        return None
    r = 1.0 if np.isinf(f) else (f - 1.0) / (f + n0 - 1.0)
    return r, 1.0 + (n_total / k - 1.0) * r


def test_interval_equals_the_stored_enumeration() -> None:
    """All 256 resamples of four cases: the 90% percentile intervals are the reference's, one resample left out."""
    s, q, n = case_moments(SMALL_Y, SMALL_CASES)
    icc_iv, deff_iv = bootstrap_icc(s, q, n, 0.9, _all_resamples(4))
    assert (icc_iv.lower, icc_iv.upper) == pytest.approx(cref.ICC_SMALL_INTERVAL_90, abs=1e-12)
    assert (deff_iv.lower, deff_iv.upper) == pytest.approx(cref.DEFF_SMALL_INTERVAL_90, abs=1e-12)
    assert icc_iv.method == deff_iv.method == "case_bootstrap_percentile"
    assert icc_iv.note is not None and f"{cref.ICC_SMALL_UNDEFINED} of 256 resamples" in icc_iv.note
    assert icc_anova(SMALL_Y, SMALL_CASES) == pytest.approx(cref.ICC_SMALL_POINT[0], rel=1e-12)


def test_interval_equals_a_request_level_loop_on_random_resamples() -> None:
    """91 requests in 25 cases, 300 seeded resamples: each resample rebuilt request by request."""
    w = bootstrap_case_weights(np.random.default_rng(3), 25, 300)
    groups = [Y[c == CASES] for c in range(25)]
    brute = [_brute_icc([groups[c] for c in np.repeat(np.arange(25), row.astype(int))]) for row in w]
    kept = [b for b in brute if b is not None]
    s, q, n = case_moments(Y, CASES)
    icc_iv, deff_iv = bootstrap_icc(s, q, n, 0.95, w)
    a = [0.025, 0.975]
    assert (icc_iv.lower, icc_iv.upper) == pytest.approx(
        tuple(np.quantile([b[0] for b in kept], a)), abs=1e-12
    )
    assert (deff_iv.lower, deff_iv.upper) == pytest.approx(
        tuple(np.quantile([b[1] for b in kept], a)), abs=1e-12
    )
    assert (icc_iv.note is None) == (len(kept) == 300)


@pytest.mark.parametrize(
    ("y", "cases", "reason"),
    [
        ([1.0, 0.0, 1.0], [0, 0, 0], "one case"),
        ([1.0, 0.0, 1.0], [0, 1, 2], "no replicate"),
        ([1.0, 1.0, 1.0, 1.0], [0, 0, 1, 1], "no variance"),
        ([0.0, 0.0, 0.0, 0.0], [0, 0, 1, 1], "no variance"),
        ([], [], "no cases"),
    ],
)
def test_undefined_icc_gives_null_ends_with_the_reason(y: list[float], cases: list[int], reason: str) -> None:
    """One case, all clusters of size one, zero variance, no data: no ICC, ends None, a note, no NaN."""
    yy, cc = np.array(y, dtype=float), np.array(cases, dtype=np.intp)
    k = len(set(cases))
    w = bootstrap_case_weights(np.random.default_rng(0), k, 50) if k else None
    res = summarize_clustering(yy, cc, "case", 0.95, "bootstrap", w)
    assert res.icc is None and res.design_effect is None
    for iv in (res.icc_interval, res.design_effect_interval):
        assert (iv.lower, iv.upper) == (None, None)
        assert iv.note is not None and reason in iv.note


def test_without_resamples_the_interval_says_so() -> None:
    """A defined ICC but no case resamples (weights None): ends None, note says none were drawn."""
    res = summarize_clustering(Y, CASES, "case", 0.95, "gee", None)
    assert res.icc is not None
    assert res.icc_interval.lower is None and res.icc_interval.note == "no case resamples were drawn"


def test_too_many_undefined_resamples_give_no_bounds() -> None:
    """Two constant cases and one mixed: 8 of 27 resamples lack the mixed case (> 5%), so no bounds."""
    y = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    c = np.array([0, 0, 1, 1, 2, 2])
    s, q, n = case_moments(y, c)
    icc_iv, deff_iv = bootstrap_icc(s, q, n, 0.9, _all_resamples(3))
    assert icc_anova(y, c) is not None
    for iv in (icc_iv, deff_iv):
        assert (iv.lower, iv.upper) == (None, None)
        assert iv.note is not None and "8 of 27 resamples" in iv.note


def test_locked_analysis_shares_the_accuracy_resamples_and_is_deterministic() -> None:
    """Bootstrap plans reuse the arm's 'bootstrap' stream; the JSON carries the intervals byte-identically."""
    cols = synthetic_columns()
    res = analyze(study_plan(), TrialTable.from_columns(cols), META)
    qwen = next(a for a in res.arms if a.arm == "qwen")
    assert qwen.clustering is not None
    rows = cols["arm"] == "qwen"
    cases = np.searchsorted(np.unique(cols["case_id"]), cols["case_id"][rows])
    b = study_plan().analysis.bootstrap.resamples
    w = bootstrap_case_weights(derive_rng(7, HASH, "analysis:bootstrap:qwen"), 60, b)
    expected = bootstrap_icc(*case_moments(cols["correct"][rows], cases), 0.95, w)
    assert (qwen.clustering.icc_interval, qwen.clustering.design_effect_interval) == expected
    assert expected[0].lower is not None and expected[0].upper is not None
    text = results_to_json(res)
    assert results_to_json(analyze(study_plan(), TrialTable.from_columns(cols), META)) == text
    assert results_to_json(results_from_json(text)) == text
    arm = next(a for a in json.loads(text)["arms"] if a["arm"] == "qwen")
    assert set(arm["clustering"]["icc_interval"]) == {"lower", "upper", "level", "method", "side", "note"}


def test_gee_plans_draw_the_icc_resamples_from_their_own_stream() -> None:
    """Under GEE the ICC bootstrap uses the 'icc_bootstrap' stream, other bootstraps are unchanged."""
    cols = synthetic_columns()
    res = analyze(
        study_plan(cluster_robust="gee", bootstrap={"resamples": 200}), TrialTable.from_columns(cols), META
    )
    qwen = next(a for a in res.arms if a.arm == "qwen")
    assert qwen.clustering is not None
    rows = cols["arm"] == "qwen"
    cases = np.searchsorted(np.unique(cols["case_id"]), cols["case_id"][rows])
    w = bootstrap_case_weights(derive_rng(7, HASH, "analysis:icc_bootstrap:qwen"), 60, 200)
    expected = bootstrap_icc(*case_moments(cols["correct"][rows], cases), 0.95, w)
    assert (qwen.clustering.icc_interval, qwen.clustering.design_effect_interval) == expected


def test_one_case_campaign_serialises_null_bounds() -> None:
    """A single case: the JSON has null ends and the reason, never NaN."""
    res = analyze(study_plan(), TrialTable.from_columns(synthetic_columns(n_cases=1)), META)
    arm = next(a for a in json.loads(results_to_json(res))["arms"] if a["arm"] == "qwen")
    iv = arm["clustering"]["design_effect_interval"]
    assert iv["lower"] is None and iv["upper"] is None and "one case" in iv["note"]
