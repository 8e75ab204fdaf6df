"""Render the verdict report: one self-contained HTML page from results, plan and registration."""

from __future__ import annotations

from collections.abc import Sequence

from analysis import DiagnosisResult, Results
from prereg.records import Case
from prereg.schema import Plan
from reports._context import build_context
from reports._env import environment
from reports._registration import Registration

__all__ = ["render_report"]


def render_report(
    results: Results,
    plan: Plan,
    registration: Registration,
    design: DiagnosisResult | None = None,
    *,
    corpus: Sequence[Case] = (),
) -> str:
    """The report as one HTML document (inline CSS and SVG, no scripts, no network requests).

    Parameters
    ----------
    results
        The locked analysis's results for this plan's trials.
    plan
        The frozen plan the results belong to; the page shows every one of its arms.
    registration
        The lock record and log of the plan, as plain data.
    design
        Optional figures of a design diagnosis (power, type I error), shown in the Design section.
    corpus
        Optional corpus cases; one example request per family is shown (escaped) under Baseline.

    Raises
    ------
    prereg.errors.AnalysisError
        When the results do not cover the plan's arms or the CONSORT flow does not add up.
    """
    ctx = build_context(results, plan, registration, design, corpus)
    return environment().get_template("report.html.j2").render(ctx=ctx)
