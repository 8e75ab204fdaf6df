"""Meaning checks of the examples files an ``embedding`` or ``tfidf`` router learns from.

Split from :mod:`prereg.check`, which calls :func:`check_examples` once the corpus is known and
reports what it finds through the same one-line problems. For every such router arm: the file
named by ``examples.path`` (beside the plan) exists, matches ``examples.sha256``, parses
(:mod:`prereg.examples`, with the line at fault), names only taxonomy labels, covers at least
two of them, and does not overlap the corpus: no example has a case's id, and no example's text
is a case's text once whitespace and case are normalised (a router scored on the requests it
learnt from would look better than it is). Also: a ``knn`` router has at least ``k`` examples, a
model other than the bundled one is a folder beside the plan, and a simulated plan declares the
router's ``latency`` (nothing is measured in virtual time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from prereg._check_backends import Problems as PlanProblems
from prereg.backends import DEFAULT_EMBEDDING_MODEL, EmbeddingClassifierSpec, TfidfClassifierSpec
from prereg.canonical import bytes_hash
from prereg.errors import CorpusError, InputError
from prereg.examples import Example, normalise_text, parse_examples, read_examples_bytes
from prereg.loader import FieldPath, format_path, read_plan
from prereg.records import Case
from prereg.schema import Plan, RouterArmSpec

__all__ = ["check_examples", "examples_changes"]

ExampleRouterSpec = EmbeddingClassifierSpec | TfidfClassifierSpec


class Problems(PlanProblems, Protocol):
    """Where a check reports a problem: a plan field and its message, or an error of another file."""

    def add(self, error: InputError) -> None: ...


def check_examples(plan: Plan, plan_path: Path, corpus: tuple[Case, ...], problems: Problems) -> None:
    """Check every router arm's examples file against the plan, its taxonomy and its ``corpus``."""
    labels = list(plan.taxonomy.labels)
    for i, arm in enumerate(plan.arms):
        backend = arm.classifier.backend if isinstance(arm, RouterArmSpec) else None
        if not isinstance(backend, EmbeddingClassifierSpec | TfidfClassifierSpec):
            continue
        where: FieldPath = ("arms", i, "classifier", "backend")
        if not plan.is_live and backend.latency is None:
            problems.plan(
                (*where, "latency"),
                f"expected the declared service time (median_ms, p95_ms) of a {backend.kind} router in a "
                "simulated campaign (nothing is measured in virtual time), found none",
            )
        if isinstance(backend, EmbeddingClassifierSpec) and backend.model != DEFAULT_EMBEDDING_MODEL:
            folder = Path(plan_path).parent / backend.model
            if not folder.is_dir():
                problems.plan(
                    (*where, "model"),
                    f"expected {DEFAULT_EMBEDDING_MODEL!r} or a sentence-transformers folder beside the "
                    f"plan, found no folder at {str(folder)!r}",
                )
        path = Path(plan_path).parent / backend.examples.path
        examples = _read(backend, path, where, problems)
        if examples:
            _check_labels(examples, labels, backend, (str(path), where), problems)
            _check_overlap(examples, corpus, (str(path), where), problems)


def _read(
    backend: ExampleRouterSpec, path: Path, where: FieldPath, problems: Problems
) -> tuple[Example, ...]:
    """The parsed examples, or () after reporting why they cannot be had."""
    try:
        data = read_examples_bytes(path)
    except CorpusError as exc:
        problems.plan((*where, "examples", "path"), str(exc))
        return ()
    found = bytes_hash(data)
    if found != backend.examples.sha256:
        problems.plan(
            (*where, "examples", "sha256"),
            f"expected the pinned hash {backend.examples.sha256}, found {found} for {path}",
        )
    try:
        return parse_examples(data, name=str(path))
    except CorpusError as exc:
        exc.args = (f"{exc.args[0]} ({_of(where)})",)
        problems.add(exc)
        return ()


def _of(where: FieldPath) -> str:
    return f"the examples of {format_path(where)}"


#: Where an example's problem is: the examples file and the backend's field path.
_At = tuple[str, FieldPath]


def _check_labels(
    examples: tuple[Example, ...],
    labels: list[str],
    backend: ExampleRouterSpec,
    at: _At,
    problems: Problems,
) -> None:
    file, where = at
    for ex in examples:
        if ex.label not in labels:
            problems.add(
                CorpusError(
                    f"label: expected a taxonomy label ({', '.join(labels)}), found {ex.label!r} ({_of(where)})",
                    file=file,
                    field=f"line {ex.line}",
                )
            )
    named = sorted({ex.label for ex in examples if ex.label in labels})
    if len(named) == 1:
        problems.plan(
            (*where, "examples"),
            f"expected examples of at least two taxonomy labels (a router of one label does not route), "
            f"found only {named[0]!r}",
        )
    if isinstance(backend, EmbeddingClassifierSpec) and backend.method == "knn" and backend.k > len(examples):
        problems.plan(
            (*where, "k"),
            f"expected at most as many neighbours as examples ({len(examples)}), found {backend.k}",
        )


def _check_overlap(
    examples: tuple[Example, ...], corpus: tuple[Case, ...], at: _At, problems: Problems
) -> None:
    """No example is a corpus case, by id or by normalised text."""
    file, where = at
    ids = {c.id for c in corpus}
    texts: dict[str, str] = {}
    for case in corpus:
        texts.setdefault(normalise_text(case.text), case.id)
    for ex in examples:
        if ex.id in ids:
            problems.add(
                CorpusError(
                    f"id: expected an id that is no corpus case's (examples must not overlap the corpus), "
                    f"found the case id {ex.id!r} ({_of(where)})",
                    file=file,
                    field=f"line {ex.line}",
                )
            )
        case_id = texts.get(normalise_text(ex.text))
        if case_id is not None:
            problems.add(
                CorpusError(
                    f"text: expected a text that is no corpus case's (examples must not overlap the "
                    f"corpus), found the text of case {case_id!r}, whitespace and case aside ({_of(where)})",
                    file=file,
                    field=f"line {ex.line}",
                )
            )


def examples_changes(plan_path: Path) -> list[str]:
    """Each examples file of the plan at ``plan_path`` that no longer matches its pin, described.

    For ``verify``, which compares hashes without running every check: the pin is in the plan,
    so the plan's bytes are unchanged while the file it pins changed. A plan that does not load
    yields nothing here: its own change (plan bytes) is reported.
    """
    try:
        plan = read_plan(plan_path).plan
    except InputError:
        return []
    found: list[str] = []
    for i, arm in enumerate(plan.arms):
        backend = arm.classifier.backend if isinstance(arm, RouterArmSpec) else None
        if not isinstance(backend, EmbeddingClassifierSpec | TfidfClassifierSpec):
            continue
        path = Path(plan_path).parent / backend.examples.path
        where = format_path(("arms", i, "classifier", "backend", "examples"))
        try:
            sha = bytes_hash(read_examples_bytes(path))
        except CorpusError as exc:
            found.append(f"{where}.path: {exc}")
            continue
        if sha != backend.examples.sha256:
            found.append(
                f"{where}.sha256: expected the pinned hash {backend.examples.sha256}, found {sha} for {path}"
            )
    return found
