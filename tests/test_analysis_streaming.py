"""Streaming timings in the results: per-arm TTFT median/P95 and median ITL, with intervals."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from reference.plans import HASH, study_plan, synthetic_columns

import analysis
from analysis import RunMeta, TrialTable, analyze, results_from_json, results_to_json
from analysis._streaming import TTFT_NOTE

META = RunMeta(
    HASH, "c" * 64, True, planned_per_arm=dict.fromkeys(("control", "phi", "qwen", "deepseek"), 300)
)


def _streamed_columns() -> dict[str, Any]:
    cols = synthetic_columns()
    n = len(cols["arm"])
    rng = np.random.default_rng(7)
    router = np.asarray(cols["arm"]) != "control"
    cols["routing_first_token_ms"] = np.where(router, rng.uniform(20.0, 60.0, n), np.nan)
    cols["downstream_first_token_ms"] = rng.uniform(100.0, 300.0, n)
    itl = rng.uniform(10.0, 30.0, n)
    itl[::7] = np.nan  # one reply in seven: a single token, no ITL
    cols["downstream_itl_ms"] = itl
    return cols


def _arm(res: analysis.Results, arm: str) -> analysis.StreamingArm:
    assert res.streaming is not None
    return next(a for a in res.streaming.arms if a.arm == arm)


def test_simulated_runs_have_no_streaming_section() -> None:
    """No trial carries a value: the section is None and its key absent from the JSON."""
    res = analyze(study_plan(), TrialTable.from_columns(synthetic_columns()), META)
    assert res.streaming is None
    text = results_to_json(res)
    assert '"streaming"' not in text
    assert results_from_json(text).streaming is None


def test_streamed_runs_report_ttft_and_itl_per_arm_with_intervals() -> None:
    """Router arms get routing TTFT; every arm downstream TTFT and ITL; each with its interval."""
    res = analyze(study_plan(), TrialTable.from_columns(_streamed_columns()), META)
    assert res.streaming is not None and res.streaming.note == TTFT_NOTE
    assert "content or reasoning" in res.streaming.note
    control, phi = _arm(res, "control"), _arm(res, "phi")
    assert control.routing_ttft_median is None and control.routing_ttft_p95 is None
    for arm in (control, phi):
        for q in (arm.downstream_ttft_median, arm.itl_median):
            assert q is not None and q.estimate is not None and q.unit == "case"
            assert q.interval.lower is not None and q.interval.upper is not None
            assert q.interval.lower <= q.estimate <= q.interval.upper
        # At 60 cases a two-sided P95 interval has no upper end: None with a note, never a number.
        p95 = arm.downstream_ttft_p95
        assert p95 is not None and p95.estimate is not None
        assert p95.upper_bound.upper is not None and p95.estimate <= p95.upper_bound.upper
        assert p95.interval.upper is not None or p95.interval.note
    assert phi.routing_ttft_p95 is not None and phi.routing_ttft_p95.estimate is not None
    assert 20.0 <= phi.routing_ttft_p95.estimate <= 60.0
    assert control.downstream_ttft_median is not None and control.downstream_ttft_median.n == 300
    assert control.itl_median is not None and control.itl_median.n < 300
    text = results_to_json(res)
    assert results_to_json(results_from_json(text)) == text


def test_the_interval_is_the_latency_gates_own() -> None:
    """The same values through plan_quantile give what the e2e P95 of analyze_arm gives."""
    cols = synthetic_columns()
    cols["downstream_first_token_ms"] = np.asarray(cols["e2e_latency_ms"], dtype=float)
    res = analyze(study_plan(), TrialTable.from_columns(cols), META)
    control = _arm(res, "control")
    e2e = next(a for a in res.arms if a.arm == "control").e2e_latency_p95
    assert control.downstream_ttft_p95 == e2e


def test_not_sent_rows_are_left_out() -> None:
    cols = _streamed_columns()
    status = np.asarray(cols["status"], dtype=object)
    arm = np.asarray(cols["arm"])
    status[(arm == "control")] = "not_sent"
    cols["status"] = status
    res = analyze(study_plan(), TrialTable.from_columns(cols), META)
    control = _arm(res, "control")
    assert control.downstream_ttft_median is None and control.itl_median is None


def test_the_report_shows_streaming_timings_only_when_present(tmp_path: Any) -> None:
    """A simulated run's report hides the subsection; a streamed run's states what TTFT counts."""
    from test_reports_fixtures import campaign

    from reports import render_report

    camp = campaign(tmp_path)
    plain = render_report(camp.results, camp.plan, camp.registration)
    assert "Streaming timings" not in plain
    arms = tuple(
        analysis.StreamingArm(
            a.arm,
            a.routing_latency_median,
            a.routing_latency_p95,
            a.e2e_latency_median,
            a.e2e_latency_p95,
            a.e2e_latency_median,
        )
        for a in camp.results.arms
    )
    streamed = dataclasses.replace(camp.results, streaming=analysis.StreamingResult(TTFT_NOTE, arms))
    html = render_report(streamed, camp.plan, camp.registration)
    assert "Streaming timings" in html
    assert "TTFT counts the first token of any kind (content or reasoning)" in html
    assert html.count('id="streaming"') == 1
