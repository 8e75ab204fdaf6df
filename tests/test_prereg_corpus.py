"""Reading the case file: JSON Lines, one-line errors with the line at fault."""

from __future__ import annotations

from pathlib import Path

import pytest
from strategies import SMALL_CORPUS, corpus_bytes

import prereg
from prereg.corpus import load_corpus, parse_corpus
from prereg.errors import CorpusError


def test_starter_corpus_loads() -> None:
    """The shipped corpus has 60 cases; multi-label cases keep every gold label, family first."""
    cases = load_corpus(Path(prereg.__file__).parent / "starter" / "corpus.jsonl")
    assert len(cases) == 60
    assert all(c.gold_labels[0] == c.family for c in cases)
    assert any(len(c.gold_labels) == 2 for c in cases)


def test_fields_map_onto_case() -> None:
    """Optional reference and grader come through; absent ones are None."""
    cases = parse_corpus(corpus_bytes())
    assert cases[1].reference == "391" and cases[1].grader == "numeric"
    assert cases[2].gold_labels == ("summarization", "code") and cases[0].grader is None


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (b"", "expected at least one case, found an empty corpus"),
        (b"\n  \n", "expected at least one case, found an empty corpus"),
        (
            b'{"id": "a", "text": "t", "family": "code", "gold_labels": ["code"]}\n{"id": "a"',
            "line 2: column 11: expected a JSON object, found invalid JSON",
        ),
        (
            b'{"id": "a", "text": "t", "family": "code", "gold_label": ["code"]}',
            "line 1: unknown key 'gold_label': did you mean 'gold_labels'?",
        ),
        (
            b'{"id": "a", "text": "t", "family": "code"}',
            "line 1: gold_labels: expected a value (required), found nothing",
        ),
        (
            b'{"id": "a", "text": "t", "family": "code", "gold_labels": "code"}',
            'line 1: gold_labels: expected a non-empty list of labels, found "code"',
        ),
        (
            b'{"id": "a:b", "text": "t", "family": "code", "gold_labels": ["code"]}',
            "line 1: id: expected letters",
        ),
        (  # "$" in a pattern matches before a final newline: an id must match whole
            b'{"id": "a\\n", "text": "t", "family": "code", "gold_labels": ["code"]}',
            "line 1: id: expected letters, digits, '_', '.' or '-' (at most 64), found 'a\\n'",
        ),
        (
            b'{"id": "a", "text": 3, "family": "code", "gold_labels": ["code"]}',
            "line 1: text: expected a non-empty string, found 3",
        ),
        (b"[1, 2]", "line 1: expected a JSON object, found list"),
    ],
)
def test_malformed_corpus_is_one_line(lines: bytes, message: str) -> None:
    """Each malformed corpus is a single-line CorpusError naming the line and key."""
    with pytest.raises(CorpusError) as exc:
        parse_corpus(lines, name="c.jsonl")
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_duplicate_case_ids_name_both_lines() -> None:
    """A repeated id names the line it repeats on and where it first appeared."""
    data = corpus_bytes([*SMALL_CORPUS, SMALL_CORPUS[2]])
    with pytest.raises(
        CorpusError,
        match=r"c.jsonl: line 7: id: expected a unique case id, found 's1' again \(first on line 3\)",
    ):
        parse_corpus(data, name="c.jsonl")


def test_missing_file(tmp_path: Path) -> None:
    """A corpus path with no file behind it is a CorpusError."""
    with pytest.raises(CorpusError, match="expected a corpus file, found no such file"):
        load_corpus(tmp_path / "none.jsonl")
