"""The locked analysis: a frozen plan's trials analysed exactly as registered, and its report.

:func:`run_locked_analysis` loads a frozen, unchanged plan, reads its trials (from the store, or a
trial file checked against the plan's schedule), runs :func:`analysis.analyze` and records any
deviation in the plan's log; :func:`render_locked` and :func:`build_report` turn the result into
the HTML verdict report. Library code for ``analyze``, ``report`` and ``demo``.
"""

from experiment.locked.analysis import LockedAnalysis, check_trials_against_schedule, run_locked_analysis
from experiment.locked.report import build_report, registration_of, render_locked

__all__ = [
    "LockedAnalysis",
    "build_report",
    "check_trials_against_schedule",
    "registration_of",
    "render_locked",
    "run_locked_analysis",
]
