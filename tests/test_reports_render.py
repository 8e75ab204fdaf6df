"""The rendered page: every arm, every section in order, escaped untrusted text, self-contained, small."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from test_design_golden import golden_design
from test_reports_fixtures import HOSTILE, Campaign, campaign

from analysis import Interval
from prereg.errors import AnalysisError
from reports import CHECKLIST, build_context, render_report


@pytest.fixture(scope="module")
def camp(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    return campaign(tmp_path_factory.mktemp("render"), hostile=True)


@pytest.fixture(scope="module")
def html(camp: Campaign) -> str:
    return render_report(camp.results, camp.plan, camp.registration, corpus=camp.frozen.corpus)


def test_sections_appear_in_the_issue_order(html: str) -> None:
    """The nine sections are present, top to bottom, in the order the issue lists them."""
    ids = re.findall(r'<section id="([^"]+)"', html)
    assert ids == [
        "verdict",
        "flow",
        "registration",
        "baseline",
        "outcomes",
        "end-to-end",
        "design",
        "checklist",
        "limitations",
    ]


def test_page_has_every_arm_of_the_plan(camp: Campaign, html: str) -> None:
    """Each arm of the plan has a box in the flow diagram and a row in the outcomes; each router a verdict."""
    for arm in camp.plan.arm_ids:
        assert f"Allocated to {arm}</text>" in html
        assert html.count(f"{arm}</td>") >= 3
    verdict = html[html.index('id="verdict"') : html.index('id="flow"')]
    assert re.findall(r"<strong>([^<]+)</strong></td>", verdict) == [a.id for a in camp.plan.router_arms]


def test_hostile_corpus_text_is_escaped(html: str) -> None:
    """A case whose text holds <script> and an onerror handler appears as text, never as markup."""
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    assert "<img" not in html and "<script" not in html


def test_page_is_self_contained(html: str) -> None:
    """No scripts, stylesheets, images, frames or fonts from elsewhere: the only URLs are SVG namespaces."""
    assert not re.search(r"<(script|link|iframe|object|embed|img)\b", html, re.I)
    assert not re.search(r"@import|url\((?!#)|\bdata:[a-z]+/", html)
    urls = set(re.findall(r"https?://[^\s\"')<]+", html))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def test_no_estimate_without_its_interval(html: str) -> None:
    """Every printed estimate is followed by its interval (or says there is no estimate)."""
    for m in re.finditer(r'<span class="est">([^<]*)</span>', html):
        if m.group(1) == "no estimate":
            continue
        assert 'class="ci"' in html[m.end() : m.end() + 40], html[m.start() : m.end() + 80]


def test_rendering_is_deterministic(camp: Campaign, html: str) -> None:
    """The same results, plan and registration render to the same bytes."""
    assert render_report(camp.results, camp.plan, camp.registration, corpus=camp.frozen.corpus) == html


def test_registration_shows_hashes_and_code_match(camp: Campaign, html: str) -> None:
    """Byte and canonical hashes, freeze time and the analysis-code match are on the page."""
    reg = camp.registration
    for text in (reg.bytes_sha256, reg.canonical_sha256, reg.frozen_at_utc, "matches the code that produced"):
        assert text in html


def test_every_checklist_item_is_answered_or_explained(html: str) -> None:
    """Each CONSORT item links to a section of the page or says why it does not apply."""
    checklist = html[html.index('id="checklist"') : html.index('id="limitations"')]
    assert checklist.count("<tr>") == len(CHECKLIST) + 1
    for item in CHECKLIST:
        assert (item.section is not None and f'href="#{item.section}"' in checklist) or item.note in checklist


def test_results_for_other_arms_are_refused(camp: Campaign) -> None:
    """Results that do not cover exactly the plan's arms cannot be rendered against it."""
    results = dataclasses.replace(camp.results, arms=camp.results.arms[:-1])
    with pytest.raises(AnalysisError, match="expected the plan's arms"):
        render_report(results, camp.plan, camp.registration)


def test_missing_p95_bound_is_stated_as_a_limitation(camp: Campaign) -> None:
    """An inconclusive P95 gate with no finite upper bound is named in the limitations, not given a number."""
    gates = tuple(
        dataclasses.replace(
            g,
            verdict="INCONCLUSIVE",
            deciding_bound=Interval(None, None, 0.95, "order_statistic", "upper", "needs n >= 59"),
        )
        if g.metric == "routing_latency_p95_ms" and g.arm == "qwen-2.5-3b"
        else g
        for g in camp.results.gates
    )
    ctx = build_context(dataclasses.replace(camp.results, gates=gates), camp.plan, camp.registration)
    assert any(
        line.startswith(
            "qwen-2.5-3b: gate latency_p95 is inconclusive because no upper bound on the routing "
            "latency p95 ms exists at this n (needs n >= 59)"
        )
        for line in ctx.limitations
    )
    cell = next(c for v in ctx.verdicts if v.arm == "qwen-2.5-3b" for c in v.gates if c.gate == "latency_p95")
    assert "one-sided 95% upper bound none at this n" in cell.estimate.interval


def test_design_power_figures_are_shown_with_their_monte_carlo_error(camp: Campaign) -> None:
    """A design diagnosis puts power per arm and gate, with Wilson intervals, in the Design section."""
    page = render_report(camp.results, camp.plan, camp.registration, golden_design("design_plan12_no_grid"))
    section = page[page.index('id="design"') : page.index('id="checklist"')]
    assert "0.400 [0.246, 0.577]" in section  # phi's power for the accuracy gate
    assert "95% Wilson intervals" in section and "56 of 60" in section
    assert "Fewest unique cases for the target power" not in section  # not searched


def test_design_sample_size_and_pass_curve_are_shown(camp: Campaign) -> None:
    """The sample-size search is a table (with "> n_max" where power is never reached) and the
    P(PASS) curve over true accuracies is drawn as an inline SVG chart."""
    page = render_report(camp.results, camp.plan, camp.registration, golden_design("design_plan12"))
    section = page[page.index('id="design"') : page.index('id="checklist"')]
    assert "Fewest unique cases for the target power" in section
    assert ">45</td>" in section and "&gt; 48" in section and "power stays below 0.8 up to 48" in section
    assert "arms ›" not in section  # no flattened key paths
    assert "<svg" in section and "Probability of passing the accuracy gate" in section
    assert "Share of 20 simulations per grid point" in section


def test_page_size_does_not_grow_with_the_number_of_trials(camp: Campaign, tmp_path: Path) -> None:
    """Ten times the replays gives a page of about the same size (charts draw summaries, not trials)."""
    small = render_report(camp.results, camp.plan, camp.registration)
    big_camp = campaign(tmp_path, replays=50)
    big = render_report(big_camp.results, big_camp.plan, big_camp.registration)
    assert len(big.encode()) < 1.15 * len(small.encode()) < 2_000_000


@pytest.mark.slow
def test_million_trial_campaign_page_is_under_2_mb(tmp_path: Path) -> None:
    """The report of a 1,000,080-trial campaign (4 arms x 60 cases x 4,167 replays) is under 2 MB."""
    big = campaign(tmp_path, replays=4167)
    assert big.table.seq.size == 1_000_080
    page = render_report(big.results, big.plan, big.registration, corpus=big.frozen.corpus)
    assert len(page.encode()) < 2_000_000


def test_outcomes_draw_every_chart(camp: Campaign, html: str) -> None:
    """Forest plot, latency CDF (with the 2,000 ms gate and P95 marks), Pareto, per-family and one
    confusion matrix per router arm are drawn as inline SVG in the Outcomes section."""
    outcomes = html[html.index('id="outcomes"') : html.index('id="end-to-end"')]
    for title in (
        "Forest plot of routing accuracy per arm",
        "Cumulative distribution of routing latency per arm",
        "Accuracy against P95 latency per arm, marker area by cost",
        "Routing accuracy per task family and arm",
    ):
        assert f'aria-label="{title}"' in outcomes
    for arm in camp.plan.router_arms:
        assert f'aria-label="Confusion matrix: {arm.id}"' in outcomes
    assert "P95 gate 2,000 ms" in outcomes and "no latency distribution" not in outcomes
    assert all(a.routing_latency_curve is not None for a in camp.results.arms if a.kind == "router")
