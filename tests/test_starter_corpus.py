"""The starter corpus that ``routetrial init`` ships: format, balance and labels."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import prereg
from prereg.schema import DEFAULT_LABELS

CORPUS = Path(prereg.__file__).parent / "starter" / "corpus.jsonl"
GRADERS = {"exact", "numeric", "regex"}


def _cases() -> list[dict[str, Any]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_parses_as_json_lines() -> None:
    """Every line is one JSON object with the keys in the documented order."""
    text = CORPUS.read_text(encoding="utf-8")
    assert text.endswith("\n") and not text.endswith("\n\n")
    for case in _cases():
        keys = list(case)
        assert keys[:4] == ["id", "text", "family", "gold_labels"]
        assert keys[4:] in ([], ["reference", "grader"])


def test_sixty_unique_ids() -> None:
    """The corpus holds 60 cases with distinct ids."""
    ids = [c["id"] for c in _cases()]
    assert len(ids) == 60
    assert len(set(ids)) == 60


def test_ten_cases_per_family() -> None:
    """Each of the six default task families has exactly ten cases."""
    counts = Counter(c["family"] for c in _cases())
    assert counts == dict.fromkeys(DEFAULT_LABELS, 10)


def test_gold_labels_in_taxonomy_with_family_first() -> None:
    """Gold labels are distinct default labels and the family is listed first."""
    for case in _cases():
        gold = case["gold_labels"]
        assert set(gold) <= set(DEFAULT_LABELS), case["id"]
        assert len(set(gold)) == len(gold), case["id"]
        assert gold[0] == case["family"], case["id"]


def test_at_least_five_multi_label_cases() -> None:
    """At least five cases are deliberately ambiguous and carry two acceptable labels."""
    assert sum(len(c["gold_labels"]) > 1 for c in _cases()) >= 5


def test_graders_only_with_reference() -> None:
    """A grader is one of exact, numeric or regex and appears exactly when a reference does."""
    graded = [c for c in _cases() if "grader" in c or "reference" in c]
    assert len(graded) >= 10
    for case in graded:
        assert case["grader"] in GRADERS, case["id"]
        assert isinstance(case["reference"], str) and case["reference"], case["id"]
