"""The starter plan: a commented Study 2 replication that checks, freezes and verifies."""

from __future__ import annotations

from pathlib import Path
from statistics import mean

import pytest

from prereg.check import load_checked_plan
from prereg.errors import InputError
from prereg.schema import DEFAULT_LABELS, RouterArmSpec, SimulatedClassifierSpec
from prereg.starter import STARTER_CORPUS, init_plan


@pytest.fixture(scope="module")
def starter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The starter plan written by init into a fresh folder."""
    plan_path, _ = init_plan(tmp_path_factory.mktemp("starter"))
    return plan_path


def _accuracy(plan_path: Path, arm_id: str) -> float:
    arm = load_checked_plan(plan_path).plan.arm(arm_id)
    assert isinstance(arm, RouterArmSpec) and isinstance(arm.classifier.backend, SimulatedClassifierSpec)
    return mean(arm.classifier.backend.accuracy[label] for label in DEFAULT_LABELS)


def test_starter_plan_replicates_study_2(starter: Path) -> None:
    """Four arms, 60 cases x 5 replays per arm = 1,200 requests, the two study gates and the quality NI gate."""
    checked = load_checked_plan(starter)
    plan = checked.plan
    assert plan.arm_ids == ("control", "phi-4-mini", "qwen-2.5-3b", "deepseek-v3")
    assert len(checked.corpus) == 60 and plan.sample_size.requests_total == 1200
    assert [(g.metric, g.op, g.threshold, g.rule.kind) for g in plan.gates] == [
        ("routing_accuracy", ">=", 0.85, "confidence_bound"),
        ("routing_latency_p95_ms", "<=", 2000.0, "confidence_bound"),
        ("downstream_quality_vs_control", ">=", -0.05, "confidence_bound"),
    ]


def test_phi_is_below_qwen(starter: Path) -> None:
    """Phi-4-mini routes below Qwen-2.5-3B (the study's only statement about it); the marginal
    figures, failures included, are checked in tests/test_starter_calibration.py."""
    assert _accuracy(starter, "phi-4-mini") < _accuracy(starter, "qwen-2.5-3b")


def test_starter_plan_says_where_figures_come_from(starter: Path) -> None:
    """The plan is commented and marks figures as [study] or [illustrative]."""
    text = starter.read_text()
    assert "[study]" in text and "[illustrative]" in text and text.count("\n#") > 20


def test_init_copies_the_corpus_and_refuses_to_overwrite(starter: Path) -> None:
    """init ships the project's corpus and never overwrites an existing plan."""
    assert (starter.parent / "corpus.jsonl").read_bytes() == STARTER_CORPUS.read_bytes()
    with pytest.raises(InputError, match="plan.yaml: expected no plan here, found one"):
        init_plan(starter.parent)
