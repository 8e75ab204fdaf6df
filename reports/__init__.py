"""The CONSORT-style HTML verdict report, built from analysis results and the plan.

``reports`` is pure: results, plan and registration facts in, one self-contained HTML page out.
It imports only ``prereg``, ``analysis``, jinja2 and matplotlib (drawn on ``Figure`` objects, never
``pyplot``, so importing it changes no global state).
"""

from reports._checklist import CHECKLIST, ChecklistItem
from reports._context import ReportContext, build_context, flow_from_results
from reports._flow import ArmFlow, Flow, check_flow
from reports._flow_svg import flow_svg
from reports._registration import LogEvent, ManagedServerFact, Registration
from reports._render import render_report

__all__ = [
    "CHECKLIST",
    "ArmFlow",
    "ChecklistItem",
    "Flow",
    "LogEvent",
    "ManagedServerFact",
    "Registration",
    "ReportContext",
    "build_context",
    "check_flow",
    "flow_from_results",
    "flow_svg",
    "render_report",
]
