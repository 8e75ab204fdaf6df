"""Campaigns: a frozen plan's schedule carried through its arms into the trial store.

Two runners share one shape: the simulated runner (:mod:`~experiment.campaign.simulated`, SimPy
virtual time) and the live scheduler (:mod:`~experiment.campaign.live`, the wall clock, real HTTP;
its event loop is :mod:`~experiment.campaign.dispatch`). What they share lives beside them: the
requests from the schedule (:mod:`~experiment.campaign.requests`), the counts of what is stored
(:mod:`~experiment.campaign.tally`), the progress file (:mod:`~experiment.campaign.progress`,
:mod:`~experiment.campaign.reporter`), the terminal bar (:mod:`~experiment.campaign.bar`), the
background writer (:mod:`~experiment.campaign.writer`) and the summaries
(:mod:`~experiment.campaign.summary`). A live run also keeps a journal
(:mod:`~experiment.campaign.journal`).

The CLI and design diagnosis import this package; the runners import ``arms``, ``traffic``, ``prereg`` and
``experiment.store``. Design diagnosis drives its in-memory campaigns with the same driver
(:mod:`~experiment.campaign.driver`).
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from experiment.campaign.abort import ArmAborts
    from experiment.campaign.driver import drive
    from experiment.campaign.live import lateness_summary, run_live, run_live_plan
    from experiment.campaign.progress import ProgressState, format_status, pid_alive, read_progress
    from experiment.campaign.requests import ScheduleRequests
    from experiment.campaign.rows import aborted_row
    from experiment.campaign.simulated import (
        BATCH_SIZE_ENV,
        DEFAULT_BATCH_SIZE,
        batch_size_from_env,
        run_simulated,
        simulate_campaign,
    )
    from experiment.campaign.summary import CampaignSummary, LiveRunSummary, RunSummary
    from experiment.campaign.tally import planned_per_arm

#: Where each name of the face lives. Imported on first use: a simulated run never loads the live
#: scheduler (aiohttp), and ``routetrial status`` neither runner.
_HOME = {
    "ArmAborts": "abort",
    "aborted_row": "rows",
    "drive": "driver",
    "ScheduleRequests": "requests",
    "planned_per_arm": "tally",
    "lateness_summary": "live",
    "run_live": "live",
    "run_live_plan": "live",
    "ProgressState": "progress",
    "format_status": "progress",
    "pid_alive": "progress",
    "read_progress": "progress",
    "BATCH_SIZE_ENV": "simulated",
    "DEFAULT_BATCH_SIZE": "simulated",
    "batch_size_from_env": "simulated",
    "run_simulated": "simulated",
    "simulate_campaign": "simulated",
    "CampaignSummary": "summary",
    "LiveRunSummary": "summary",
    "RunSummary": "summary",
}

__all__ = [
    "BATCH_SIZE_ENV",
    "DEFAULT_BATCH_SIZE",
    "ArmAborts",
    "CampaignSummary",
    "LiveRunSummary",
    "ProgressState",
    "RunSummary",
    "ScheduleRequests",
    "aborted_row",
    "batch_size_from_env",
    "drive",
    "format_status",
    "lateness_summary",
    "pid_alive",
    "planned_per_arm",
    "read_progress",
    "run_live",
    "run_live_plan",
    "run_simulated",
    "simulate_campaign",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
