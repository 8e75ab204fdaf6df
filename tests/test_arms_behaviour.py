"""Pure simulated behaviours: calibration, case-level correlation, confusion, failures, latency."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from scipy.stats import lognorm

from arms import ClassifierBehaviour, ModelBehaviour, fit_lognormal, utilisation
from prereg.errors import ArmError
from prereg.records import Case
from prereg.schema import DEFAULT_LABELS, SimulatedClassifierSpec, SimulatedModelSpec

LATENCY = {"median_ms": 988.0, "p95_ms": 2295.0}


def classifier_spec(**fields: Any) -> SimulatedClassifierSpec:
    spec: dict[str, Any] = {"kind": "simulated", "accuracy": {"code": 0.793}, "latency": LATENCY}
    spec.update(fields)
    return SimulatedClassifierSpec.model_validate(spec)


def model_spec(**fields: Any) -> SimulatedModelSpec:
    spec: dict[str, Any] = {"kind": "simulated", "quality": {"code": 0.9}, "latency": LATENCY}
    spec.update(fields)
    return SimulatedModelSpec.model_validate(spec)


def cases(n: int, family: str = "code", gold: tuple[str, ...] | None = None) -> list[Case]:
    return [Case(f"{family}{i}", "text", family, gold or (family,)) for i in range(n)]


def rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


def correctness(b: ClassifierBehaviour, corpus: list[Case], replays: int) -> np.ndarray:
    """A cases x replays matrix of 1 (label among the gold labels) or 0."""
    return np.array(
        [[b.decide(c, r)[0] in c.gold_labels for r in range(replays)] for c in corpus], dtype=float
    )


def intra_case_correlation(x: np.ndarray) -> float:
    """One-way ANOVA intra-class correlation of a cases x replays matrix."""
    k = x.shape[1]
    msb = k * x.mean(axis=1).var(ddof=1)
    msw = x.var(axis=1, ddof=1).mean()
    return float((msb - msw) / (msb + (k - 1) * msw))


def test_marginal_accuracy_matches_the_spec_per_family() -> None:
    """Over many cases the share of correct labels is each family's accuracy."""
    spec = classifier_spec(accuracy={"code": 0.793, "math": 0.55}, case_difficulty_sd=1.5)
    corpus = cases(10_000, "code") + cases(10_000, "math")
    x = correctness(ClassifierBehaviour(spec, DEFAULT_LABELS, corpus, rng()), corpus, 2)
    # Binomial SE at n = 20,000 is <= 0.0036 (replays correlate, so allow a little over 4 SE).
    assert x[:10_000].mean() == pytest.approx(0.793, abs=0.02)
    assert x[10_000:].mean() == pytest.approx(0.55, abs=0.02)


def test_replays_of_a_case_are_correlated_only_with_case_difficulty() -> None:
    """Intra-case correlation is clearly positive with difficulty SD 1.5 and about zero with 0."""
    corpus = cases(2_000)
    hard = ClassifierBehaviour(classifier_spec(case_difficulty_sd=1.5), DEFAULT_LABELS, corpus, rng())
    flat = ClassifierBehaviour(classifier_spec(case_difficulty_sd=0.0), DEFAULT_LABELS, corpus, rng())
    assert intra_case_correlation(correctness(hard, corpus, 10)) > 0.2
    assert abs(intra_case_correlation(correctness(flat, corpus, 10))) < 0.03


def test_zero_difficulty_sd_gives_every_case_the_family_accuracy() -> None:
    """With no case difficulty each case's probability of a correct label is exactly the spec's."""
    corpus = cases(5)
    b = ClassifierBehaviour(classifier_spec(case_difficulty_sd=0.0), DEFAULT_LABELS, corpus, rng())
    assert [b.probability_correct(c.id) for c in corpus] == pytest.approx([0.793] * 5, abs=1e-12)


def test_a_case_with_several_gold_labels_is_correct_on_any_of_them() -> None:
    """A multi-label case is answered with one of its gold labels when right, never when wrong."""
    gold = ("summarization", "code")
    corpus = cases(50, "summarization", gold)
    right = ClassifierBehaviour(
        classifier_spec(accuracy={"summarization": 1.0}), DEFAULT_LABELS, corpus, rng()
    )
    wrong = ClassifierBehaviour(
        classifier_spec(accuracy={"summarization": 0.0}), DEFAULT_LABELS, corpus, rng()
    )
    assert {right.decide(c, 0)[0] for c in corpus} == {"summarization"}
    assert {wrong.decide(c, 0)[0] for c in corpus}.isdisjoint(gold)


def test_wrong_labels_follow_the_confusion_row_without_gold_labels() -> None:
    """Wrong labels are drawn from the family's confusion row, renormalised after removing gold."""
    spec = classifier_spec(
        accuracy={"code": 0.0}, confusion={"code": {"code": 5.0, "math": 3.0, "translation": 1.0}}
    )
    corpus = cases(4_000)
    b = ClassifierBehaviour(spec, DEFAULT_LABELS, corpus, rng())
    counts = Counter(b.decide(c, 0)[0] for c in corpus)
    assert set(counts) == {"math", "translation"}
    assert counts["math"] / 4_000 == pytest.approx(0.75, abs=0.03)


def test_without_a_confusion_row_wrong_labels_are_uniform_over_non_gold() -> None:
    """With no confusion row every non-gold label is about equally likely."""
    corpus = cases(10_000)
    b = ClassifierBehaviour(classifier_spec(accuracy={"code": 0.0}), DEFAULT_LABELS, corpus, rng())
    counts = Counter(b.decide(c, 0)[0] for c in corpus)
    assert set(counts) == set(DEFAULT_LABELS) - {"code"}
    assert max(counts.values()) / min(counts.values()) < 1.15


def test_failures_come_at_their_rates_with_no_label() -> None:
    """HTTP errors and unparseable answers occur at the spec's rates and carry no label."""
    spec = classifier_spec(failures={"http_error_rate": 0.1, "unparseable_rate": 0.2})
    corpus = cases(20_000)
    b = ClassifierBehaviour(spec, DEFAULT_LABELS, corpus, rng())
    decisions = [b.decide(c, 0) for c in corpus]
    status = Counter(s for _, s, _ in decisions)
    assert status["http_error"] / 20_000 == pytest.approx(0.1, abs=0.01)
    assert status["unparseable"] / 20_000 == pytest.approx(0.2, abs=0.01)
    assert {label for label, s, _ in decisions if s != "ok"} == {None}


def test_lognormal_fit_reproduces_median_and_p95_exactly_and_in_a_large_sample() -> None:
    """The fitted lognormal has the spec's median and P95; 200,000 service times agree within 1%.

    With ``case_icc: 0`` one case's service times are the marginal distribution (with a case
    effect they are not: tests/test_arms_latency_icc.py checks the marginal over many cases).
    """
    mu, sigma = fit_lognormal(988.0, 2295.0)
    assert lognorm.ppf([0.5, 0.95], sigma, scale=np.exp(mu)) == pytest.approx([988.0, 2295.0])
    case = cases(1)[0]
    b = ModelBehaviour(model_spec(latency={**LATENCY, "case_icc": 0.0}), [case], rng())
    service = np.array([b.answer(case, 0)[2] for _ in range(200_000)])
    assert np.quantile(service, [0.5, 0.95]) == pytest.approx([988.0, 2295.0], rel=0.01)


def test_model_answers_at_its_quality_for_the_true_family() -> None:
    """A model's answers are correct at its quality for the request's own family."""
    corpus = cases(10_000, "math")
    b = ModelBehaviour(model_spec(quality={"code": 0.9, "math": 0.2}), corpus, rng())
    math_share = np.mean([b.answer(c, 0)[0] for c in corpus])
    assert math_share == pytest.approx(0.2, abs=0.02)


def test_same_generator_seed_gives_the_same_outcomes() -> None:
    """Two behaviours built from equal seeds decide and answer identically, call for call."""
    corpus = cases(300)
    a = ClassifierBehaviour(classifier_spec(), DEFAULT_LABELS, corpus, rng(7))
    b = ClassifierBehaviour(classifier_spec(), DEFAULT_LABELS, corpus, rng(7))
    c = ClassifierBehaviour(classifier_spec(), DEFAULT_LABELS, corpus, rng(8))
    run_a = [a.decide(x, 0) for x in corpus]
    assert run_a == [b.decide(x, 0) for x in corpus]
    assert run_a != [c.decide(x, 0) for x in corpus]
    m, n = (ModelBehaviour(model_spec(), corpus, rng(7)) for _ in range(2))
    assert [m.answer(x, 0) for x in corpus] == [n.answer(x, 0) for x in corpus]


def test_a_model_refuses_a_case_outside_its_corpus_or_without_a_quality_figure() -> None:
    """A model raises ArmError for a case outside its corpus or a family without a quality figure."""
    corpus = cases(3) + cases(2, "math")
    b = ModelBehaviour(model_spec(), corpus, rng())
    assert b.answer(corpus[0], 0)[1] in ("ok", "http_error", "unparseable")
    with pytest.raises(ArmError, match="not in the corpus"):
        b.answer(Case("elsewhere", "text", "code", ("code",)), 0)
    with pytest.raises(ArmError, match="task family 'math'"):
        b.answer(corpus[-1], 0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"accuracy": {"math": 0.8}}, "missing code"),
        ({"confusion": {"code": {"poetry": 1.0}}}, "expected a taxonomy label"),
        ({"failures": {"http_error_rate": 0.6, "unparseable_rate": 0.6}}, "<= 1"),
    ],
)
def test_misconfigured_classifier_is_an_arm_error(fields: dict[str, Any], message: str) -> None:
    """A calibration the corpus cannot use raises ArmError naming what is wrong."""
    with pytest.raises(ArmError, match=message):
        ClassifierBehaviour(classifier_spec(**fields), DEFAULT_LABELS, cases(3), rng())


def test_utilisation_uses_the_mean_service_time() -> None:
    """Offered load is rate x the sampled mean service time / concurrency (not the median)."""
    case = cases(1)[0]
    b = ModelBehaviour(model_spec(latency={**LATENCY, "case_icc": 0.0}), [case], rng())
    mean_s = np.mean([b.answer(case, 0)[2] for _ in range(200_000)]) / 1000.0
    assert utilisation(2.0, 988.0, 2295.0, 4) == pytest.approx(2.0 * mean_s / 4, rel=0.01)


def test_fast_trial_record_is_the_frozen_dataclass_it_replaces() -> None:
    """make_trial_record builds a record equal to TrialRecord(*values), with its hash, and still frozen."""
    import dataclasses

    from arms._records import make_trial_record
    from prereg.records import TrialRecord

    values = tuple(f"v{i}" for i in range(len(dataclasses.fields(TrialRecord))))
    record = make_trial_record(values)
    assert record == TrialRecord(*values) and hash(record) == hash(TrialRecord(*values))
    assert dataclasses.astuple(record) == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.seq = 1  # type: ignore[misc]
    with pytest.raises(ValueError):
        make_trial_record(values[:-1])
