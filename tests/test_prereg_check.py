"""Meaning checks: each contradiction is one line naming the file, the field and the line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from strategies import SMALL_CORPUS, small_plan, write_corpus, write_plan

from prereg.canonical import bytes_hash
from prereg.check import load_checked_plan
from prereg.errors import CorpusError, InputError, PlanMeaningError, TraceError

Mutation = Callable[[dict[str, Any]], None]


def _dup_arm(p: dict[str, Any]) -> None:
    p["arms"].append(dict(p["arms"][1]))
    p["sample_size"]["requests_total"] = 36


def _no_router(p: dict[str, Any]) -> None:
    p["arms"] = [p["arms"][0], {"id": "control2", "kind": "control", "model": "small"}]


PLAN_CASES: list[tuple[str, Mutation, str]] = [
    (
        "duplicate arm ids",
        _dup_arm,
        "arms[2].id: expected a unique arm id, found 'qwen' again (first at arms[1])",
    ),
    (
        "no router arm",
        _no_router,
        "arms: expected at least one arm of kind 'router' or 'service', found only control",
    ),
    (
        "control model undefined",
        lambda p: p["arms"][0].update(model="huge"),
        "arms[0].model: expected a model defined in models (large, small), found 'huge'",
    ),
    (
        "route to undefined model",
        lambda p: p["routing"]["routes"].update(code="coder"),
        "routing.routes.code: expected a model defined in models (large, small), found 'coder'",
    ),
    (
        "route label outside taxonomy",
        lambda p: p["routing"]["routes"].update(poetry="large"),
        "routing.routes.poetry: expected a taxonomy label",
    ),
    (
        "label not routed",
        lambda p: p["routing"]["routes"].pop("math"),
        "routing.routes: expected a route for every taxonomy label, found none for math",
    ),
    (
        "fallback undefined",
        lambda p: p["routing"].update(fallback="tiny"),
        "routing.fallback: expected a model defined in models (large, small), found 'tiny'",
    ),
    (
        "accuracy label outside taxonomy",
        lambda p: p["arms"][1]["classifier"]["backend"]["accuracy"].update(poetry=0.5),
        "arms[1].classifier.backend.accuracy.poetry: expected a taxonomy label",
    ),
    (
        "quality label outside taxonomy",
        lambda p: p["models"]["small"]["backend"]["quality"].update(poetry=0.5),
        "models.small.backend.quality.poetry: expected a taxonomy label",
    ),
    (
        "confusion label outside taxonomy",
        lambda p: p["arms"][1]["classifier"]["backend"].update(confusion={"code": {"poetry": 1.0}}),
        "arms[1].classifier.backend.confusion.code.poetry: expected a taxonomy label",
    ),
    (
        "confusion row names its gold label",
        lambda p: p["arms"][1]["classifier"]["backend"].update(confusion={"code": {"code": 1.0}}),
        "confusion.code.code: expected only wrong labels",
    ),
    (
        "ratio names unknown arm",
        lambda p: p["randomization"].update(ratio={"control": 1, "qwen": 1, "phi": 1}),
        "randomization.ratio.phi: expected an arm id (control, qwen), found 'phi'",
    ),
    (
        "ratio misses an arm",
        lambda p: p["randomization"].update(ratio={"control": 1}),
        "randomization.ratio: expected a weight for every arm, found none for qwen",
    ),
    (
        "accuracy gate above 1",
        lambda p: p["gates"][0].update(threshold=85),
        "gates[0].threshold: expected an accuracy strictly between 0 and 1, found 85",
    ),
    (
        "accuracy gate at 0",
        lambda p: p["gates"][0].update(threshold=0),
        "gates[0].threshold: expected an accuracy strictly between 0 and 1, found 0",
    ),
    (
        "latency gate not positive",
        lambda p: p["gates"][1].update(threshold=-1),
        "gates[1].threshold: expected a latency above 0 ms, found -1",
    ),
    (
        "accuracy gate upside down",
        lambda p: p["gates"][0].update(op="<="),
        "gates[0].op: expected '>=' for an accuracy gate, found '<='",
    ),
    (
        "prompt without labels",
        lambda p: p["arms"][1]["classifier"].update(prompt_template="Classify {text}"),
        "arms[1].classifier.prompt_template: expected a template containing {text} and {labels}, found none of {labels}",
    ),
    (
        "unique cases differ from corpus",
        lambda p: p["sample_size"].update(unique_cases=60),
        "sample_size.unique_cases: expected the corpus size 6, found 60",
    ),
    (
        "requests total inconsistent",
        lambda p: p["sample_size"].update(requests_total=1200),
        "sample_size.requests_total: expected 24 (6 cases x 2 replays x 2 arm weights), found 1200",
    ),
    (
        "duplicate taxonomy label",
        lambda p: p.update(taxonomy={"labels": ["code", "math", "code"]}),
        "taxonomy.labels[2]: expected distinct labels, found 'code' twice",
    ),
    (
        "judge model undefined",
        lambda p: p["graders"].update(judge={"kind": "judge", "judge_model": "gpt"}),
        "graders.judge.judge_model: expected a model defined in models (large, small), found 'gpt'",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), [c[1:] for c in PLAN_CASES], ids=[c[0] for c in PLAN_CASES])
def test_plan_contradictions(tmp_path: Path, mutate: Mutation, message: str) -> None:
    """Each contradiction raises PlanMeaningError with its field path, in one line."""
    plan = small_plan()
    mutate(plan)
    with pytest.raises(PlanMeaningError) as exc:
        load_checked_plan(write_plan(tmp_path, plan))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_error_names_the_line(tmp_path: Path) -> None:
    """The field's line in the plan file is part of the message."""
    plan = small_plan()
    plan["routing"]["fallback"] = "tiny"
    path = write_plan(tmp_path, plan)
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "fallback: tiny" in t)
    with pytest.raises(PlanMeaningError, match=rf"found 'tiny' \(line {line}\)$"):
        load_checked_plan(path)


def test_further_problems_are_counted(tmp_path: Path) -> None:
    """With several contradictions the first is reported and the rest counted."""
    plan = small_plan()
    plan["routing"]["fallback"] = "tiny"
    plan["gates"][0]["threshold"] = 2
    with pytest.raises(PlanMeaningError, match=r"\(and 1 more\)$"):
        load_checked_plan(write_plan(tmp_path, plan))


def _case(**changes: Any) -> list[dict[str, Any]]:
    return [dict(SMALL_CORPUS[0], **changes), *SMALL_CORPUS[1:]]


@pytest.mark.parametrize(
    ("cases", "message"),
    [
        (
            _case(gold_labels=["poetry"]),
            "line 1: gold_labels: expected taxonomy labels (code, math, summarization, translation, creative_writing, knowledge_qa), found 'poetry'",
        ),
        (_case(family="poetry", gold_labels=["poetry"]), "line 1: family: expected a taxonomy label"),
        (
            _case(gold_labels=["math"]),
            "line 1: family: expected one of the gold labels ['math'], found 'code'",
        ),
        (
            _case(reference="x", grader="judge"),
            "line 1: grader: expected a grader of the plan (numeric), found 'judge'",
        ),
        (
            [*SMALL_CORPUS, SMALL_CORPUS[0]],
            "line 7: id: expected a unique case id, found 'c1' again (first on line 1)",
        ),
    ],
    ids=[
        "gold label outside taxonomy",
        "family outside taxonomy",
        "family not a gold label",
        "unknown grader",
        "duplicate case ids",
    ],
)
def test_corpus_contradictions(tmp_path: Path, cases: list[dict[str, Any]], message: str) -> None:
    """Corpus problems name the corpus file and line (the hash is re-pinned so only the problem remains)."""
    from strategies import corpus_bytes

    path = write_plan(tmp_path, small_plan(bytes_hash(corpus_bytes(cases))), cases=cases)
    with pytest.raises(CorpusError) as exc:
        load_checked_plan(path)
    assert f"{tmp_path / 'corpus.jsonl'}: {message}" in str(exc.value)


def test_missing_corpus_file(tmp_path: Path) -> None:
    """A corpus path with no file names corpus.path."""
    path = write_plan(tmp_path)
    (tmp_path / "corpus.jsonl").unlink()
    with pytest.raises(
        CorpusError,
        match=r"plan.yaml: corpus.path: expected a corpus file at '.*corpus.jsonl', found no such file",
    ):
        load_checked_plan(path)


def test_corpus_hash_mismatch(tmp_path: Path) -> None:
    """One changed byte of the corpus breaks its pinned hash."""
    path = write_plan(tmp_path)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(corpus.read_bytes().replace(b"17 * 23", b"17 * 24"))
    with pytest.raises(
        CorpusError,
        match=f"corpus.sha256: expected the pinned hash {small_plan()['corpus']['sha256']}, found {bytes_hash(corpus.read_bytes())}",
    ):
        load_checked_plan(path)


def test_empty_corpus(tmp_path: Path) -> None:
    """An empty corpus file (pinned correctly) is refused."""
    path = write_plan(tmp_path, small_plan(bytes_hash(b"")))
    (tmp_path / "corpus.jsonl").write_bytes(b"")
    with pytest.raises(CorpusError, match="expected at least one case, found an empty corpus"):
        load_checked_plan(path)


def test_calibration_must_cover_corpus_families(tmp_path: Path) -> None:
    """A simulated classifier without an accuracy for a corpus family is refused."""
    plan = small_plan()
    del plan["arms"][1]["classifier"]["backend"]["accuracy"]["knowledge_qa"]
    with pytest.raises(
        PlanMeaningError,
        match=r"arms\[1\].classifier.backend.accuracy: expected an accuracy for every corpus family, found none for knowledge_qa",
    ):
        load_checked_plan(write_plan(tmp_path, plan))


def test_trace_file_must_exist(tmp_path: Path) -> None:
    """A trace arrival process needs its file; a present file with the pinned hash passes."""
    plan = small_plan()
    plan["traffic"]["arrival"] = {"kind": "trace", "path": "arrivals.txt"}
    path = write_plan(tmp_path, plan)
    with pytest.raises(TraceError, match="traffic.arrival.path: expected an arrival trace at"):
        load_checked_plan(path)
    (tmp_path / "arrivals.txt").write_text("".join(f"{i * 0.5}\n" for i in range(24)))
    checked = load_checked_plan(path)
    assert checked.plan.traffic.arrival.kind == "trace"
    assert checked.trace_sha256 == bytes_hash((tmp_path / "arrivals.txt").read_bytes())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "0\n2\n1\n" + "3\n" * 30,
            "line 3: expected timestamps in non-decreasing order, found 1 after 2.0 (line 2)",
        ),
        ("# nothing\n", "expected at least one timestamp, found none"),
        (
            "0\n1\n",
            "expected at least 24 timestamps (one per request of sample_size.requests_total), found 2",
        ),
    ],
    ids=["unsorted", "empty", "too-few"],
)
def test_bad_trace_is_refused_by_check(tmp_path: Path, text: str, message: str) -> None:
    """check (and so freeze) refuses an unsorted, empty or too short trace in one line naming it."""
    plan = small_plan()
    plan["traffic"]["arrival"] = {"kind": "trace", "path": "arrivals.txt"}
    path = write_plan(tmp_path, plan)
    (tmp_path / "arrivals.txt").write_text(text)
    with pytest.raises(TraceError) as exc:
        load_checked_plan(path)
    assert str(exc.value) == f"{tmp_path / 'arrivals.txt'}: {message}"


def test_valid_plan_returns_corpus_and_hashes(tmp_path: Path) -> None:
    """A valid plan comes back with its corpus, corpus hash and plan hashes."""
    path = write_plan(tmp_path)
    checked = load_checked_plan(path)
    assert [c.id for c in checked.corpus] == [c["id"] for c in SMALL_CORPUS]
    assert checked.corpus_sha256 == bytes_hash((tmp_path / "corpus.jsonl").read_bytes())
    assert checked.bytes_sha256 == bytes_hash(path.read_bytes())
    assert isinstance(checked.corpus_path, Path) and not isinstance(checked, InputError)


def test_corpus_written_beside_plan_is_resolved_relative_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """corpus.path is relative to the plan file, not to the working directory."""
    folder = tmp_path / "study"
    folder.mkdir()
    write_corpus(folder)
    path = write_plan(folder)
    monkeypatch.chdir(tmp_path)
    assert len(load_checked_plan(Path("study/plan.yaml")).corpus) == 6 and path.exists()
