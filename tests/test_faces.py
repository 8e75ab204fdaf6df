"""Each sub-package of ``experiment/`` has a face (``__all__``), pinned here.

A face is what other parts of the house may import (``tests/test_house_rules.py`` refuses imports
that go behind it). Changing one is a decision: it is made here, in a diff a reviewer sees. Every
name must resolve, and a lazy face must load nothing heavy until a name is used.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FACES: dict[str, list[str]] = {
    "experiment.cli": ["USER_ERROR_EXIT", "main"],
    "experiment.campaign": [
        "ArmAborts",
        "BATCH_SIZE_ENV",
        "CampaignSummary",
        "DEFAULT_BATCH_SIZE",
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
    ],
    "experiment.store": [
        "ARROW_TRIAL_SCHEMA",
        "ExportFormat",
        "ROW_DIGEST_CHARS",
        "TRIAL_COLUMN_NAMES",
        "TrialStore",
        "arrow_to_columns",
        "columns_markdown",
        "progress_path",
        "read_trial_file",
        "row_digests",
        "store_path",
        "store_trials",
        "store_url",
        "trial_file_format",
    ],
    "experiment.design": [
        "DEFAULT_GRID",
        "DEFAULT_ICC_GRID",
        "DEFAULT_ICC_SIMS",
        "DesignRun",
        "DesignSettings",
        "ENGINES",
        "Engine",
        "EngineSettings",
        "MAX_SIMS",
        "Progress",
        "default_workers",
        "design_results_path",
        "diagnose",
        "format_design",
        "format_icc_grid",
        "load_design_results",
        "power_warnings",
        "require_simulated",
        "run_design",
        "write_design_results",
    ],
    "experiment.serve": [
        "FaultSpec",
        "LOG_BODY_BYTES",
        "LOG_SIZE",
        "MAX_BODY_BYTES",
        "ServedRequest",
        "ServerThread",
        "SimulatedServer",
        "answer_text",
        "bind_socket",
        "build_app",
        "judge_verdict",
        "uvicorn_config",
    ],
    "experiment.locked": [
        "LockedAnalysis",
        "build_report",
        "check_trials_against_schedule",
        "registration_of",
        "render_locked",
        "run_locked_analysis",
    ],
}


@pytest.mark.parametrize("package", sorted(FACES))
def test_the_face_is_pinned_and_every_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == FACES[package]
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert missing == []


def test_every_sub_package_has_a_pinned_face() -> None:
    packages = {f"experiment.{p.parent.name}" for p in (ROOT / "experiment").glob("*/__init__.py")}
    assert packages == set(FACES)


@pytest.mark.parametrize(
    ("package", "absent"),
    [
        ("experiment.campaign", "experiment.campaign.live"),  # a simulated run never loads aiohttp's runner
        ("experiment.store", "duckdb"),
        ("experiment.design", "experiment.design.diagnosis"),
    ],
)
def test_lazy_faces_load_on_first_use(package: str, absent: str) -> None:
    code = f"import sys, {package}\nprint({absent!r} in sys.modules)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "False"
