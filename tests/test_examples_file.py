"""Examples files of ``embedding`` and ``tfidf`` routers: parsing, ``check``'s refusals, ``verify``.

Needs no optional library: parsing and checking an examples file is :mod:`prereg` only. Every
refusal is one line naming the file, the field path (or line) and what was expected; the plan's
pin makes an examples file changed after freezing fail ``verify`` and ``run``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from _cli import run_cli
from _live_plans import FAST, sim_plan, starter_cases
from _router_studies import EXAMPLES, examples_bytes, local_arm, write_study

from prereg.errors import CorpusError
from prereg.examples import normalise_text, parse_examples

BACKENDS: list[dict[str, Any]] = [
    {"kind": "embedding", "latency": FAST},
    {"kind": "tfidf", "latency": FAST},
]


def _check(capsys: pytest.CaptureFixture[str], plan: Path) -> tuple[int, str]:
    code, _out, err = run_cli(capsys, "check", plan)
    return code, err.strip()


def test_a_well_formed_file_parses_with_its_lines() -> None:
    """Blank lines are skipped; every example keeps the line it is on."""
    data = b'{"id": "a", "text": "hello", "label": "code"}\n\n{"id": "b", "text": "bye", "label": "math"}\n'
    parsed = parse_examples(data, name="ex.jsonl")
    assert [(e.id, e.label, e.line) for e in parsed] == [("a", "code", 1), ("b", "math", 3)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "a", "text": "x"', "line 2: column"),
        ('{"id": "a", "text": "x", "label": "code", "gold": 1}', "line 2: unknown key 'gold'"),
        ('{"id": "a", "text": "x"}', "line 2: label: expected a non-empty string, found nothing"),
        (
            '{"id": "a", "text": "  ", "label": "code"}',
            'line 2: text: expected a non-empty string, found "  "',
        ),
        (
            '{"id": "z", "text": "x", "label": "code"}',
            "line 2: id: expected a unique example id, found 'z' again",
        ),
        ("[1, 2]", "line 2: expected a JSON object, found list"),
    ],
)
def test_a_malformed_line_is_refused_with_its_number(line: str, message: str) -> None:
    """Each malformed line: one line naming the file, the line number and what was expected."""
    data = ('{"id": "z", "text": "first", "label": "math"}\n' + line + "\n").encode()
    with pytest.raises(CorpusError) as caught:
        parse_examples(data, name="ex.jsonl")
    assert str(caught.value).startswith("ex.jsonl: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_empty_file_is_refused() -> None:
    """No example at all is refused, not a router of nothing."""
    with pytest.raises(CorpusError, match="expected at least one example"):
        parse_examples(b"\n \n", name="ex.jsonl")


def test_normalising_ignores_whitespace_and_case() -> None:
    """Overlap compares texts with whitespace runs collapsed and case folded."""
    assert normalise_text("  Who  painted\nthe MONA lisa? ") == normalise_text("who painted the mona lisa?")


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b["kind"])
def test_check_accepts_a_good_study(
    backend: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A study whose examples are in the taxonomy and apart from the corpus passes ``check``."""
    code, err = _check(capsys, write_study(tmp_path, sim_plan(cases=12), local_arm(dict(backend))))
    assert code == 0, err


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b["kind"])
def test_check_refuses_a_missing_file_and_a_hash_mismatch(
    backend: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No file: the field ``examples.path``; other bytes than pinned: ``examples.sha256``."""
    arm = local_arm({**backend, "examples": {"path": "nowhere.jsonl", "sha256": "0" * 64}})
    code, err = _check(capsys, write_study(tmp_path / "missing", sim_plan(cases=12), arm))
    assert code == 2 and "\n" not in err
    assert "plan.yaml: arms[2].classifier.backend.examples.path: expected an examples file at" in err
    assert "nowhere.jsonl" in err and "found no such file" in err
    arm = local_arm({**backend, "examples": {"path": "examples.jsonl", "sha256": "0" * 64}})
    code, err = _check(capsys, write_study(tmp_path / "changed", sim_plan(cases=12), arm))
    assert code == 2 and "\n" not in err
    assert f"arms[2].classifier.backend.examples.sha256: expected the pinned hash {'0' * 64}, found" in err


def _refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[tuple[str, str]]) -> str:
    arm = local_arm({"kind": "tfidf", "latency": FAST})
    code, err = _check(capsys, write_study(tmp_path, sim_plan(cases=12), arm, examples=examples_bytes(rows)))
    assert code == 2 and "\n" not in err
    return err


def test_check_refuses_a_label_outside_the_taxonomy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An example labelled ``poetry``: the examples file, its line, the taxonomy expected."""
    err = _refusal(tmp_path, capsys, [*EXAMPLES, ("poetry", "Write me a sonnet about rain")])
    assert "examples.jsonl: line 25: label: expected a taxonomy label (code, math," in err
    assert "found 'poetry' (the examples of arms[2].classifier.backend)" in err


def test_check_refuses_a_malformed_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A line that is not JSON: the file and the line number, through ``check``."""
    arm = local_arm({"kind": "embedding", "latency": FAST})
    data = examples_bytes() + b'{"id": "broken", "text": \n'
    code, err = _check(capsys, write_study(tmp_path, sim_plan(cases=12), arm, examples=data))
    assert code == 2 and "examples.jsonl: line 25: column" in err and "invalid JSON" in err


def test_check_refuses_an_example_that_is_a_corpus_case_by_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An example with a case's id overlaps the corpus: refused, naming the id and the line."""
    case = starter_cases()[0]  # the corpus is the file's first 12 cases
    data = examples_bytes() + json.dumps({"id": case.id, "text": "something else", "label": "code"}).encode()
    arm = local_arm({"kind": "tfidf", "latency": FAST})
    code, err = _check(capsys, write_study(tmp_path, sim_plan(cases=12), arm, examples=data))
    assert code == 2 and "\n" not in err
    assert "examples.jsonl: line 25: id: expected an id that is no corpus case's" in err
    assert f"found the case id {case.id!r}" in err


def test_check_refuses_an_example_that_is_a_corpus_case_by_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A case's text with other spacing and case is still the case: refused, naming the case."""
    case = starter_cases()[3]
    disguised = "  " + " \n ".join(case.text.upper().split()) + " "
    err = _refusal(tmp_path, capsys, [*EXAMPLES, (case.family, disguised)])
    assert "examples.jsonl: line 25: text: expected a text that is no corpus case's" in err
    assert f"found the text of case {case.id!r}, whitespace and case aside" in err


def test_check_refuses_one_label_too_many_neighbours_and_no_latency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One label routes nothing; k above the examples; a simulated plan without a latency."""
    err = _refusal(tmp_path / "one", capsys, [r for r in EXAMPLES if r[0] == "math"])
    assert "arms[2].classifier.backend.examples: expected examples of at least two taxonomy labels" in err
    arm = local_arm({"kind": "embedding", "method": "knn", "k": 25, "latency": FAST})
    code, err = _check(capsys, write_study(tmp_path / "k", sim_plan(cases=12), arm))
    assert (
        code == 2
        and "arms[2].classifier.backend.k: expected at most as many neighbours as examples (24)" in err
    )
    code, err = _check(
        capsys, write_study(tmp_path / "lat", sim_plan(cases=12), local_arm({"kind": "tfidf"}))
    )
    assert code == 2 and "arms[2].classifier.backend.latency: expected the declared service time" in err


def test_an_examples_file_changed_after_freezing_fails_verify_and_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pin is in the plan: ``verify`` names the examples file, ``run`` refuses in one line."""
    plan = write_study(tmp_path, sim_plan(cases=12), local_arm({"kind": "tfidf", "latency": FAST}))
    assert run_cli(capsys, "freeze", plan)[0] == 0
    assert run_cli(capsys, "verify", plan)[0] == 0
    examples = tmp_path / "examples.jsonl"
    examples.write_bytes(examples.read_bytes().replace(b"Who painted", b"Who sculpted"))
    code, out, err = run_cli(capsys, "verify", plan)
    assert code != 0 and "examples (arms[2].classifier.backend.examples.sha256" in out + err
    assert hashlib.sha256(examples.read_bytes()).hexdigest() in out + err
    code, _out, err = run_cli(capsys, "run", plan, "--store", tmp_path / "s.duckdb")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "arms[2].classifier.backend.examples.sha256: expected the pinned hash" in err
    assert not (tmp_path / "s.duckdb").exists()
