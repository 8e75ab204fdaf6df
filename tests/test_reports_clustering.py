"""The report shows the ICC and the design effect with their intervals, or says why there are none."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from test_reports_fixtures import Campaign, campaign

from analysis import ArmResult, ClusteringResult, Interval, Results
from reports import build_context, render_report

BOOT = "case_bootstrap_percentile"


@pytest.fixture(scope="module")
def camp(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    return campaign(tmp_path_factory.mktemp("clustering"))


def _with_clustering(results: Results, arm: str, **changes: object) -> Results:
    def edit(a: ArmResult) -> ArmResult:
        if a.arm != arm or a.clustering is None:
            return a
        return dataclasses.replace(a, clustering=dataclasses.replace(a.clustering, **changes))

    return dataclasses.replace(results, arms=tuple(edit(a) for a in results.arms))


def _router(camp: Campaign) -> tuple[str, ClusteringResult]:
    arm = next(a for a in camp.results.arms if a.clustering is not None and a.clustering.icc is not None)
    assert arm.clustering is not None
    return arm.arm, arm.clustering


def test_page_shows_icc_and_design_effect_with_their_intervals(camp: Campaign) -> None:
    """Every router arm's ICC and design effect appear with [lower, upper] from the results."""
    html = render_report(camp.results, camp.plan, camp.registration, corpus=camp.frozen.corpus)
    for arm in camp.results.arms:
        c = arm.clustering
        if c is None or c.icc is None or c.design_effect is None:
            continue
        iv, dv = c.icc_interval, c.design_effect_interval
        assert iv.lower is not None and iv.upper is not None and dv.lower is not None and dv.upper is not None
        assert (
            f"ICC {c.icc:.2f} [{iv.lower:.2f}, {iv.upper:.2f}], design effect {c.design_effect:.2f} "
            f"[{dv.lower:.2f}, {dv.upper:.2f}] (95% case bootstrap percentile)"
        ) in html


def test_undefined_icc_is_said_in_words(camp: Campaign) -> None:
    """No ICC: the row and the page say it is undefined and why, with no number."""
    arm, _ = _router(camp)
    none = Interval(None, None, 0.95, BOOT, "two-sided", "only one case, and the ICC needs at least two")
    res = _with_clustering(
        camp.results,
        arm,
        icc=None,
        design_effect=None,
        effective_n=None,
        icc_interval=none,
        design_effect_interval=none,
    )
    row = next(o for o in build_context(res, camp.plan, camp.registration).outcomes if o.arm == arm)
    assert row.clustering == "ICC undefined: only one case, and the ICC needs at least two"
    assert "ICC undefined: only one case, and the ICC needs at least two" in render_report(
        res, camp.plan, camp.registration
    )


def test_defined_icc_without_bounds_gives_the_reason_once(camp: Campaign) -> None:
    """A point ICC whose interval has no ends: the estimate, then 'no intervals' and the note."""
    arm, c = _router(camp)
    none = Interval(None, None, 0.95, BOOT, "two-sided", "no case resamples were drawn")
    res = _with_clustering(camp.results, arm, icc_interval=none, design_effect_interval=none)
    row = next(o for o in build_context(res, camp.plan, camp.registration).outcomes if o.arm == arm)
    assert c.design_effect is not None
    assert row.clustering == (
        f"ICC {c.icc:.2f}, design effect {c.design_effect:.2f}; no intervals: no case resamples were drawn"
    )


def test_correlated_replays_limitation_carries_the_intervals(camp: Campaign) -> None:
    """A design effect above 1.5: the limitation gives both intervals and the effective n the
    accuracy interval and gate use."""
    arm, c = _router(camp)
    res = _with_clustering(
        camp.results,
        arm,
        icc=0.4,
        design_effect=2.6,
        effective_n=c.n_requests / 2.6,
        icc_interval=Interval(0.25, 0.55, 0.95, BOOT, "two-sided"),
        design_effect_interval=Interval(2.0, 3.2, 0.95, BOOT, "two-sided"),
    )
    lines = build_context(res, camp.plan, camp.registration).limitations
    line = next(x for x in lines if x.startswith(f"{arm}: replays of a case are correlated"))
    assert "ICC 0.40 [0.25, 0.55], design effect 2.60 [2.00, 3.20] (95% case bootstrap percentile)" in line
    acc = next(a.accuracy for a in res.arms if a.arm == arm)
    assert acc is not None and acc.effective_n is not None
    assert (
        f"its {acc.n_requests:,} accuracy requests over {acc.n:,.0f} cases count as about "
        f"{acc.effective_n:,.0f} independent observations in the accuracy interval and gate"
    ) in line


def test_icc_resample_note_is_shown(camp: Campaign, tmp_path: Path) -> None:
    """When some resamples had no ICC, the row says how many were left out."""
    arm, c = _router(camp)
    note = "ICC undefined in 3 of 2,000 resamples (drawn cases with one request each or all outcomes equal), left out"
    res = _with_clustering(
        camp.results,
        arm,
        icc_interval=dataclasses.replace(c.icc_interval, note=note),
        design_effect_interval=dataclasses.replace(c.design_effect_interval, note=note),
    )
    row = next(o for o in build_context(res, camp.plan, camp.registration).outcomes if o.arm == arm)
    assert row.clustering.endswith(f"(95% case bootstrap percentile; {note})")
