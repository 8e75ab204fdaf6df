"""Studies for the ``embedding`` and ``tfidf`` router tests: example files, plans, the extra's guard.

The examples are four short utterances per label of the six default labels, written for these
tests (none is a starter-corpus case, by id or text). A study is a plan from
:mod:`_live_plans` with a third arm, ``local``, whose classifier is the backend under test, beside
the starter corpus's first cases and the examples file, both pinned by hash.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from _cli import run_cli
from _live_plans import LABELS, STARTER

from prereg.schema import Plan

#: Set to 1 (``.ci/run`` does) and a missing ``local`` extra fails these tests instead of skipping.
REQUIRE_ENV = "ROUTETRIAL_REQUIRE_LOCAL"

EXAMPLES: list[tuple[str, str]] = [
    ("code", "Why does my Python script raise KeyError when the dictionary lookup fails?"),
    ("code", "Write a JavaScript function that debounces another function."),
    ("code", "How do I join two tables in SQL and keep the rows without a match?"),
    ("code", "My unit test passes locally but fails in CI with a segmentation fault."),
    ("math", "What is the derivative of x cubed times sine of x?"),
    ("math", "If a train travels 180 km in 2.5 hours, what is its average speed?"),
    ("math", "Solve the equation 3x + 7 = 25 for x."),
    ("math", "What is the probability of rolling two sixes with two dice?"),
    ("summarization", "Summarize this article about climate policy in three bullet points."),
    ("summarization", "Give me a short summary of the meeting notes below."),
    ("summarization", "Condense this long email thread into one paragraph."),
    ("summarization", "TL;DR this research abstract for a general audience."),
    ("translation", "Translate 'where is the train station' into German."),
    ("translation", "How do you say 'thank you very much' in Japanese?"),
    ("translation", "Please translate this paragraph from French to English."),
    ("translation", "Render this menu in Italian for our restaurant."),
    ("creative_writing", "Write a short poem about autumn leaves falling."),
    ("creative_writing", "Tell me a bedtime story about a dragon who is afraid of the dark."),
    ("creative_writing", "Come up with a catchy tagline for a bakery."),
    ("creative_writing", "Write a limerick about a cat who loves jazz."),
    ("knowledge_qa", "Who painted the Mona Lisa?"),
    ("knowledge_qa", "What is the capital city of Australia?"),
    ("knowledge_qa", "How many bones are in the adult human body?"),
    ("knowledge_qa", "When did the Berlin Wall fall?"),
]


def require_local(*modules: str) -> list[ModuleType]:
    """Import the ``local`` extra's libraries; skip when absent, fail when ``REQUIRE_ENV=1``."""
    found: list[ModuleType] = []
    for name in modules:
        try:
            found.append(importlib.import_module(name))
        except ImportError as exc:
            reason = f"the local extra is not installed (pip install -e '.[local]'): {exc}"
            if os.environ.get(REQUIRE_ENV) == "1":
                pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
            pytest.skip(reason)
    return found


def examples_bytes(rows: list[tuple[str, str]] | None = None) -> bytes:
    """The examples as JSON Lines, ids ``ex-<label>-<n>``."""
    lines = [
        json.dumps({"id": f"ex-{label}-{i}", "text": text, "label": label})
        for i, (label, text) in enumerate(rows if rows is not None else EXAMPLES)
    ]
    return ("\n".join(lines) + "\n").encode()


def local_arm(backend: dict[str, Any], **classifier: Any) -> dict[str, Any]:
    """The ``local`` router arm over ``backend``."""
    return {
        "id": "local",
        "kind": "router",
        "classifier": {"model": f"{backend['kind']}-router", "backend": backend, **classifier},
    }


def write_study(directory: Path, plan: Plan, arm: dict[str, Any], *, examples: bytes | None = None) -> Path:
    """``plan`` plus ``arm`` as ``plan.yaml`` beside the starter corpus's first cases and the examples.

    The arm's ``examples`` field is filled in (``examples.jsonl``, its hash) unless it has one.
    """
    directory.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = plan.model_dump(mode="json", exclude_none=True)
    doc["arms"] = [*doc["arms"], arm]
    size = doc["sample_size"]
    size["requests_total"] = size["unique_cases"] * doc["traffic"]["replays_per_case"] * len(doc["arms"])
    corpus = b"".join(STARTER.read_bytes().splitlines(keepends=True)[: size["unique_cases"]])
    (directory / "corpus.jsonl").write_bytes(corpus)
    doc["corpus"] = {"path": "corpus.jsonl", "sha256": hashlib.sha256(corpus).hexdigest()}
    data = examples_bytes() if examples is None else examples
    (directory / "examples.jsonl").write_bytes(data)
    arm["classifier"]["backend"].setdefault(
        "examples", {"path": "examples.jsonl", "sha256": hashlib.sha256(data).hexdigest()}
    )
    path = directory / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def campaign(capsys: pytest.CaptureFixture[str], plan: Path) -> list[dict[str, str]]:
    """``freeze``, ``run``, ``export`` in this process (the model stays loaded): the local arm's rows."""
    assert run_cli(capsys, "freeze", plan)[0] == 0
    code, _out, err = run_cli(capsys, "run", plan, "--store", plan.parent / "s.duckdb")
    assert code == 0, err
    out = plan.parent / "trials.csv"
    assert run_cli(capsys, "export", plan.parent / "s.duckdb", "--format", "csv", "--out", out)[0] == 0
    with out.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["arm"] == "local"]


def threshold(scores: list[float]) -> float:
    """A floor halfway between two middle scores: some decisions abstain, some do not."""
    ranked = sorted(scores)
    mid = len(ranked) // 2
    return round((ranked[mid - 1] + ranked[mid]) / 2.0, 6)


def expected_rows(cases: Any, scores: list[tuple[str, float]], floor: float) -> dict[str, tuple[str, str]]:
    """``(label, status)`` per case id as the exported rows spell them ("" for no label)."""
    return {
        c.id: ((lab, "ok") if s >= floor else ("", "abstained"))
        for c, (lab, s) in zip(cases, scores, strict=True)
    }


def check_rows(
    rows: list[dict[str, str]], expected: dict[str, tuple[str, str]], routes: dict[str, str]
) -> None:
    """Each row's label and status as the router decides; abstentions go to the fallback."""
    for row in rows:
        label, status = expected[row["case_id"]]
        assert (row["predicted_label"], row["routing_status"]) == (label, status), row
        assert float(row["routing_latency_ms"]) > 0.0 and row["routing_attempts"] == "1"
        if status == "ok":
            assert label in LABELS and row["routed_model"] == routes[label]
        else:
            assert row["routed_model"] == "large" and row["status"] == "abstained"
            assert "below abstain_below" in row["error"]
        assert row["downstream_status"] == "ok", row


#: A Python program that runs ``routetrial ARGS`` with one top-level package unimportable (``% name``).
BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == %r:
            raise ImportError("blocked by the test")
        return None
sys.meta_path.insert(0, Block())
from experiment.cli import main
main(sys.argv[1:])
"""
