"""The control's ``flow.analysed``: its analysed trials, as the report's flow shows, never 0.

The bug: the results JSON said ``analysed: 0`` for the control while the report showed 300, because
the analysis counted analysed routing decisions only and the control makes none. Now the count is
the control's downstream answers in its end-to-end analysis, the JSON and the page read the same
number, and it moves with the plan's failure and exclusion rules.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from reference.plans import HASH, study_plan, synthetic_columns

from analysis import Results, RunMeta, TrialTable, analyze, results_from_json, results_to_json
from reports import flow_from_results

ARMS = ("control", "phi", "qwen", "deepseek")
META = RunMeta(HASH, "c" * 64, True, planned_per_arm=dict.fromkeys(ARMS, 300))


def _results(cols: dict[str, Any] | None = None, **plan_analysis: Any) -> tuple[Results, dict[str, Any]]:
    """The analysis of the synthetic Study-2 campaign, and its JSON as read back by a consumer."""
    res = analyze(study_plan(**plan_analysis), TrialTable.from_columns(cols or synthetic_columns()), META)
    return res, json.loads(results_to_json(res))


def _control_json(doc: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in doc["arms"] if a["arm"] == "control")


def _report_analysed(res: Results, **plan_analysis: Any) -> int:
    flow = flow_from_results(results_from_json(results_to_json(res)), study_plan(**plan_analysis))
    return next(a.analysed for a in flow.arms if a.arm == "control")


def test_the_control_reports_its_300_analysed_trials_in_the_json() -> None:
    res, doc = _results()
    control = _control_json(doc)
    assert control["kind"] == "control"
    assert control["flow"]["analysed"] == 300 == control["e2e_latency_median"]["n"]
    assert _report_analysed(res) == 300
    # routers are unchanged: their analysed node is the routing-accuracy analysis
    for arm in doc["arms"][1:]:
        assert arm["flow"]["analysed"] == arm["accuracy"]["n_requests"] == 300


def test_failed_control_trials_leave_the_analysed_count_under_latency_exclude() -> None:
    cols = synthetic_columns()
    control_rows = np.flatnonzero(cols["arm"] == "control")[:7]
    status = cols["status"].astype(object)
    status[control_rows] = "timeout"
    cols["status"] = status.astype(str)
    res, doc = _results(cols, failures={"latency": "exclude"})
    assert _control_json(doc)["flow"]["analysed"] == 293
    assert _report_analysed(res, failures={"latency": "exclude"}) == 293
    kept, kept_doc = _results(cols)  # failures.latency: elapsed keeps their elapsed time
    assert _control_json(kept_doc)["flow"]["analysed"] == 300 == _report_analysed(kept)


def test_not_sent_and_plan_excluded_control_trials_are_not_analysed() -> None:
    cols = synthetic_columns()
    control = cols["arm"] == "control"
    status = cols["status"].astype(object)
    status[np.flatnonzero(control)[-3:]] = "not_sent"
    cols["status"] = status.astype(str)
    excluded_case = "case-000"
    res, doc = _results(cols, exclusions=[excluded_case])
    per_case = int(np.count_nonzero(control & (cols["case_id"] == excluded_case)))
    expected = 300 - 3 - per_case
    assert _control_json(doc)["flow"]["analysed"] == expected
    assert _report_analysed(res, exclusions=[excluded_case]) == expected
