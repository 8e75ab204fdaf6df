"""The report of a campaign with no trials, or with an arm that never ran: no empty charts, no
bound invented, every arm still on the page and the flow still adding up."""

from __future__ import annotations

import numpy as np
import pytest
from test_reports_fixtures import Campaign, campaign, synthetic_columns

import analysis
from reports import render_report


@pytest.fixture(scope="module")
def camp(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    return campaign(tmp_path_factory.mktemp("edges"))


def _render(camp: Campaign, keep_arm: str | None, drop_all: bool = False) -> str:
    cols = synthetic_columns(camp.plan, camp.frozen.corpus, camp.frozen.canonical_hash, 5)
    arm = np.asarray(cols["arm"])
    keep = np.zeros(arm.size, dtype=bool) if drop_all else arm != keep_arm
    table = analysis.TrialTable.from_columns({k: np.asarray(v)[keep] for k, v in cols.items()})
    per_arm = len(camp.frozen.corpus) * 5
    meta = analysis.RunMeta(
        camp.frozen.canonical_hash,
        camp.frozen.bytes_hash,
        True,
        planned_per_arm=dict.fromkeys(camp.plan.arm_ids, per_arm),
    )
    results = analysis.analyze(camp.plan, table, meta)
    return render_report(results, camp.plan, camp.registration, corpus=camp.frozen.corpus)


def test_campaign_without_trials_draws_no_empty_chart(camp: Campaign) -> None:
    """No trial at all: every chart is replaced by a note and no gate claims a point-estimate decision."""
    html = _render(camp, None, drop_all=True)
    outcomes = html[html.index('id="outcomes"') : html.index('id="end-to-end"')]
    assert "<svg" not in outcomes
    for note in (
        "no accuracy to plot",
        "no latency distribution to draw",
        "no accuracy-latency chart",
        "No family has an analysed routing decision",
        "no confusion matrix to draw",
    ):
        assert note in outcomes
    verdict = html[html.index('id="verdict"') : html.index('id="flow"')]
    assert "decided by the point estimate" not in verdict
    assert verdict.count("no estimate, so no bounds") == len(camp.plan.gates) * len(camp.plan.router_arms)
    for arm in camp.plan.arm_ids:
        assert f"Allocated to {arm}</text>" in html


def test_arm_that_never_ran_keeps_its_place(camp: Campaign) -> None:
    """One router arm without trials: it is INCONCLUSIVE with no estimate; the others keep their charts."""
    missing = camp.plan.router_arms[-1].id
    html = _render(camp, missing)
    outcomes = html[html.index('id="outcomes"') : html.index('id="end-to-end"')]
    assert f'aria-label="Confusion matrix: {missing}"' not in outcomes
    assert 'aria-label="Cumulative distribution of routing latency per arm"' in outcomes
    row = html[html.index('id="verdict"') : html.index('id="flow"')].split(f"<strong>{missing}</strong>")[1]
    assert "INCONCLUSIVE" in row.split("</tr>")[0] and "no analysable trials" in row.split("</tr>")[0]


def test_file_source_and_deviation_are_marked(camp: Campaign) -> None:
    """Results from a CSV under a deviation: the limitations say so and the (escaped) reason is shown."""
    import dataclasses

    plan_info = dataclasses.replace(
        camp.results.plan,
        source="csv",
        analysis_code_matches=False,
        deviations=("fixed <b>typo</b> in the grader",),
    )
    results = dataclasses.replace(camp.results, plan=plan_info)
    html = render_report(results, camp.plan, camp.registration, corpus=camp.frozen.corpus)
    limitations = html[html.index('id="limitations"') :]
    assert "read from a csv file" in limitations
    assert "<b>typo</b>" not in html and "fixed &lt;b&gt;typo&lt;/b&gt; in the grader" in html
