"""Every number of a plan is strict, finite and within a stated limit: `check` refuses, one line.

Issue 12, items 4 and 11: absurd sizes (a rate of ``.inf``, 10^12 requests, replays 2^63, 10^12
bootstrap resamples, seed 2e200, concurrency 10^9) and lax numbers (``"5"``, ``true``) used to
pass ``check`` and ``freeze`` and crash ``run`` with a traceback. Products of fields that are each
in range (the bootstrap's resamples x cases, a campaign's requests over its rate) have limits too.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli import run_cli
from _experiment_plans import write_plan as write_experiment_plan
from strategies import small_plan, write_plan

from experiment.design import MAX_SIMS, DesignSettings
from prereg.errors import InputError
from prereg.schema import MAX_SEED
from prereg.size_limits import MAX_BOOTSTRAP_CELLS, MAX_CAMPAIGN_S

_MARK = "__VALUE__"


def _plan_with(tmp_path: Path, path: tuple[str | int, ...], value: str) -> Path:
    """The small plan with the field at ``path`` written as the YAML text ``value``."""
    data: Any = copy.deepcopy(small_plan())
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
    node[path[-1]] = _MARK
    plan = write_plan(tmp_path, data)
    text = plan.read_text(encoding="utf-8").replace(_MARK, value)
    plan.write_text(text, encoding="utf-8")
    return plan


_ARRIVAL = ("traffic", "arrival", "rate_per_s")
_LATENCY = ("arms", 1, "classifier", "backend", "latency")

# (field, YAML text, what the one-line message must contain)
_REFUSED = [
    (_ARRIVAL, ".inf", "rate_per_s: expected a finite number, found inf"),
    (_ARRIVAL, "-.inf", "rate_per_s: expected a finite number, found -inf"),
    (_ARRIVAL, ".nan", "rate_per_s: expected a finite number, found nan"),
    (_ARRIVAL, "1.0e+400", "rate_per_s: expected a finite number, found inf"),
    (_ARRIVAL, "1e400", "rate_per_s: expected a valid number, found '1e400'"),
    (_ARRIVAL, "1.0e+12", "rate_per_s: expected less than or equal to 1000000"),
    (_ARRIVAL, "1.0e-300", "rate_per_s: expected greater than or equal to 0.000001"),
    (_ARRIVAL, '"5"', "rate_per_s: expected a valid number, found '5'"),
    (_ARRIVAL, "true", "rate_per_s: expected a valid number, found True"),
    (("sample_size", "requests_total"), "1000000000000", "expected less than or equal to 10000000,"),
    (("sample_size", "unique_cases"), "10000000", "expected less than or equal to 1000000,"),
    (("sample_size", "requests_total"), "24.0", "requests_total: expected a valid integer, found 24.0"),
    (("sample_size", "requests_total"), '"24"', "requests_total: expected a valid integer, found '24'"),
    (("traffic", "replays_per_case"), str(2**63), "replays_per_case: expected less than or equal to 100000"),
    (("traffic", "replays_per_case"), "true", "replays_per_case: expected a valid integer, found True"),
    (
        ("analysis", "bootstrap", "resamples"),
        "1000000000000",
        "resamples: expected less than or equal to 100000,",
    ),
    (("randomization", "seed"), "2e200", "seed: expected a valid integer, found '2e200'"),
    (("randomization", "seed"), "2.0e+200", "seed: expected a valid integer, found 2e+200"),
    (("randomization", "seed"), str(2**63), f"seed: expected less than or equal to {MAX_SEED},"),
    (("randomization", "seed"), '"7"', "seed: expected a valid integer, found '7'"),
    ((*_LATENCY, "concurrency"), "1000000000", "concurrency: expected less than or equal to 10000,"),
    ((*_LATENCY, "median_ms"), ".inf", "median_ms: expected a finite number, found inf"),
    ((*_LATENCY, "p95_ms"), "1.0e+300", "p95_ms: expected less than or equal to 3600000"),
    (("arms", 1, "classifier", "timeout_ms"), "1.0e+300", "timeout_ms: expected less than or equal to"),
    (("arms", 1, "classifier", "timeout_ms"), ".inf", "timeout_ms: expected a finite number, found inf"),
    (("arms", 1, "classifier", "decoding", "max_tokens"), "1000000000", "max_tokens: expected less than or"),
    (("arms", 1, "classifier", "retry", "backoff_ms"), ".inf", "backoff_ms: expected a finite number"),
    (("models", "large", "price", "input_per_1k"), ".nan", "input_per_1k: expected a finite number"),
    (("gates", 0, "threshold"), ".nan", "threshold: expected a finite number, found nan"),
    (("gates", 0, "threshold"), '"0.85"', "threshold: expected a valid number, found '0.85'"),
    (("analysis", "alpha"), "true", "alpha: expected a valid number, found True"),
    (("analysis", "min_cases"), "false", "min_cases: expected a valid integer, found False"),
    (
        ("randomization", "ratio"),
        "{control: true, qwen: 1}",
        "ratio.control: expected a valid integer, found True",
    ),
    (("schema_version",), "true", "schema_version: expected 1, found True"),
]


@pytest.mark.parametrize(
    ("path", "value", "expected"), _REFUSED, ids=[f"{p[-1]}={v}" for p, v, _ in _REFUSED]
)
def test_check_refuses_with_the_limit_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: tuple[str | int, ...], value: str, expected: str
) -> None:
    """`check` exits 2 with one line naming the field and the limit; no traceback."""
    plan = _plan_with(tmp_path, path, value)
    code, out, err = run_cli(capsys, "check", plan)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err


def test_freeze_refuses_an_infinite_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What `check` refuses is never frozen: no lock file is written."""
    plan = _plan_with(tmp_path, _ARRIVAL, ".inf")
    code, _, err = run_cli(capsys, "freeze", plan)
    assert code == 2
    assert "expected a finite number" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.jsonl", "plan.yaml"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (_ARRIVAL, "2"),  # an integer is a number
        (("randomization", "seed"), str(2**63 - 1)),
        (("traffic", "replays_per_case"), "2"),
        ((*_LATENCY, "concurrency"), "10000"),
        (("gates", 1, "threshold"), "2000"),
    ],
)
def test_limits_are_inclusive_and_integers_are_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: tuple[str | int, ...], value: str
) -> None:
    """The stated limits themselves pass, and an integer is accepted where a float belongs."""
    code, out, err = run_cli(capsys, "check", _plan_with(tmp_path, path, value))
    assert code == 0, (out, err)


def test_the_limits_are_in_the_json_schema() -> None:
    """The limits are stated in the schema users read (`routetrial schema`)."""
    from prereg.schema import Plan

    schema = yaml.safe_dump(Plan.model_json_schema())
    assert "maximum: 10000000" in schema  # requests_total
    assert f"maximum: {MAX_SEED}" in schema


@pytest.mark.parametrize("option", ["--sims", "--curve-sims", "--icc-sims"])
def test_design_refuses_a_huge_simulation_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    """`design --sims 10^12` is refused at once with the limit, not run for days."""
    plan = write_plan(tmp_path)
    code, out, err = run_cli(capsys, "design", plan, option, "1000000000000", "--workers", "1")
    assert code == 2, (out, err)
    assert err.strip().count("\n") == 0
    assert f"{option}: expected 1 to {MAX_SIMS:,} simulations, found 1,000,000,000,000" in err
    assert not list(tmp_path.glob("*.design.json"))


def test_design_settings_limit() -> None:
    """The limit itself passes; one more is refused."""
    assert DesignSettings(sims=MAX_SIMS).sims == MAX_SIMS
    with pytest.raises(InputError, match="expected 1 to 100,000 simulations"):
        DesignSettings(sims=MAX_SIMS + 1)


def test_a_plan_at_the_limits_runs_and_analyses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What `check` accepts at the edges, `run` and `analyze` carry out without a traceback."""
    data: Any = copy.deepcopy(small_plan())
    data["randomization"]["seed"] = MAX_SEED
    data["traffic"]["arrival"]["rate_per_s"] = 1_000_000.0
    latency = data["arms"][1]["classifier"]["backend"]["latency"]
    latency.update({"concurrency": 10_000, "median_ms": 1.0, "p95_ms": 3_600_000.0})
    data["arms"][1]["classifier"]["timeout_ms"] = 1e12
    plan = write_plan(tmp_path, data)
    for command in (("check", plan), ("freeze", plan), ("run", plan), ("analyze", plan)):
        code, out, err = run_cli(capsys, *command)
        assert code == 0, (command, out, err)
        assert "Traceback" not in err


def _one_line(capsys: pytest.CaptureFixture[str], plan: Path) -> str:
    code, out, err = run_cli(capsys, "check", plan)
    assert code == 2 and "Traceback" not in err, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_check_refuses_a_bootstrap_too_big_for_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each of resamples and cases is in range; their product (the weight matrix) is not."""
    plan = write_experiment_plan(tmp_path, n_cases=250)
    data = yaml.safe_load(plan.read_text(encoding="utf-8"))
    data.setdefault("analysis", {})["bootstrap"] = {"resamples": 100_000}
    plan.write_text(yaml.safe_dump(data), encoding="utf-8")
    line = _one_line(capsys, plan)
    assert "analysis.bootstrap.resamples: expected resamples x cases <= 20,000,000" in line, line
    assert "found 100,000 x 250 = 25,000,000" in line, line
    data["analysis"]["bootstrap"] = {"resamples": MAX_BOOTSTRAP_CELLS // 250}  # at the limit: fine
    plan.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert run_cli(capsys, "check", plan)[0] == 0


def test_check_refuses_a_campaign_longer_than_a_year(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """4,800 requests at 1e-4/s is 556 days: every field in range, the campaign is not."""
    plan = write_experiment_plan(tmp_path, n_cases=60, replays=20, rate_per_s=1e-4)
    line = _one_line(capsys, plan)
    assert "traffic.arrival.rate_per_s: expected a campaign of at most 366 days" in line, line
    assert "found 4,800 requests at 0.0001/s = 556 days" in line, line
    fast_enough = write_experiment_plan(
        tmp_path / "ok", n_cases=60, replays=20, rate_per_s=4_800 / MAX_CAMPAIGN_S
    )
    assert run_cli(capsys, "check", fast_enough)[0] == 0
