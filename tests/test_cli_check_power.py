"""``routetrial check`` reads the design diagnosis stored beside the plan and warns of low power."""

from __future__ import annotations

from pathlib import Path

import pytest
from _cli import run_cli

from prereg.starter import init_plan


@pytest.mark.slow
def test_check_says_to_simulate_then_warns_of_low_power(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before a design run check says power is unknown; after one it warns per gate below 80%."""
    plan, _ = init_plan(tmp_path / "study")
    code, out, _ = run_cli(capsys, "check", plan)
    assert code == 0 and "power: not simulated yet" in out
    code, _, _ = run_cli(
        capsys, "design", plan, "--sims", "40", "--no-grid", "--no-min-cases", "--workers", "1"
    )
    assert code == 0
    code, out, _ = run_cli(capsys, "check", plan)
    assert code == 0 and "power: not simulated yet" not in out
    # Phi-4-mini's assumed P95 (2,100 ms) sits just above the 2,000 ms gate: 60 cases cannot show it.
    assert any(
        line.startswith("  warning: design: phi-4-mini latency_p95: power") for line in out.splitlines()
    )
    plan.write_text(
        plan.read_text(encoding="utf-8").replace("seed: 20260401", "seed: 20260402"), encoding="utf-8"
    )
    code, out, _ = run_cli(capsys, "check", plan)
    assert "the stored one is for another version of the plan" in out
