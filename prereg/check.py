"""Meaning checks: a plan that parses can still contradict itself, its taxonomy or its corpus.

:func:`check_plan` runs every check, then raises the first problem found as one line naming the
file, the field path, what was expected and what was found (and how many more problems there are).
Checks, in order: arms (unique ids, at least one router, the control's model defined), taxonomy,
routing (every label routed, targets defined), classifier prompts (where the backend reads one),
simulated calibrations and keyword rules (labels in the taxonomy), allocation ratio, gates
(thresholds in range), hypotheses (their gates and arms), graders, backends (API key names; one
time model they all run in: see :mod:`prereg._check_backends`), the corpus (present, matching its
pinned hash, labels in the taxonomy, graders defined), the declared sample size and the arrival
trace (present, matching its pin, parseable, sorted, with a timestamp for every request).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prereg._check_arms import check_arms
from prereg._check_backends import (
    check_backends,
    check_calibration_covers,
    check_classifiers,
    check_models,
)
from prereg._check_examples import check_examples
from prereg._check_misrouting import MISROUTING_METRIC, check_misrouting
from prereg._check_mix import check_mix
from prereg._check_servers import check_servers
from prereg._check_stopping import check_stopping
from prereg._check_study import check_study
from prereg.canonical import bytes_hash, canonical_hash
from prereg.corpus import json_lines, parse_corpus, read_corpus_bytes
from prereg.errors import CorpusError, InputError, PlanMeaningError, TraceError
from prereg.loader import FieldPath, LoadedPlan, format_path, read_plan
from prereg.records import Case
from prereg.schema import GateSpec, Plan, TraceArrival
from prereg.size_limits import size_problems
from prereg.trace import parse_trace

__all__ = ["CheckedPlan", "check_plan", "load_checked_plan", "resolve_beside"]


@dataclass(frozen=True)
class CheckedPlan:
    """A plan that passed every check, with its corpus and the hashes that identify both."""

    path: Path
    data: bytes
    plan: Plan
    corpus: tuple[Case, ...]
    corpus_path: Path
    corpus_sha256: str
    bytes_sha256: str
    canonical_sha256: str
    #: The SHA-256 of the arrival trace file (``kind: trace`` only), bound by the lock with the plan.
    trace_sha256: str | None = None


def load_checked_plan(path: Path) -> CheckedPlan:
    """Read a plan file and run every check (:func:`prereg.loader.read_plan` then :func:`check_plan`)."""
    return check_plan(read_plan(path))


def resolve_beside(plan_path: Path, relative: str) -> Path:
    """A path written in a plan, resolved against the plan file's folder."""
    return Path(plan_path).parent / relative


@dataclass
class _Problems:
    """Problems in the order found; the first is raised, the rest are counted."""

    loaded: LoadedPlan
    found: list[InputError] = field(default_factory=list)

    def plan(self, path: FieldPath, message: str) -> None:
        line = self.loaded.line_of(path)
        suffix = f" (line {line})" if line is not None else ""
        self.found.append(
            PlanMeaningError(message + suffix, file=str(self.loaded.path), field=format_path(path) or None)
        )

    def add(self, error: InputError) -> None:
        self.found.append(error)

    def raise_first(self) -> None:
        if not self.found:
            return
        first, more = self.found[0], len(self.found) - 1
        if more:
            first.args = (f"{first.args[0]} (and {more} more)",)
        raise first


def check_plan(loaded: LoadedPlan) -> CheckedPlan:
    """Check a validated plan against itself, its corpus and its trace file.

    Raises :class:`PlanMeaningError`, :class:`CorpusError` or :class:`TraceError` (the first
    problem found); returns the plan with its corpus and hashes when all is well.
    """
    plan = loaded.plan
    problems = _Problems(loaded)
    labels = list(plan.taxonomy.labels)
    check_arms(plan, problems)
    _check_taxonomy(labels, problems)
    _check_routing(plan, labels, problems)
    check_classifiers(plan, labels, problems)
    check_models(plan, labels, problems)
    _check_ratio(plan, problems)
    _check_gates(plan, problems)
    check_study(plan, problems)
    check_misrouting(plan, problems)
    _check_graders(plan, problems)
    check_backends(plan, problems)
    check_servers(plan, loaded.path, problems)
    corpus_path = resolve_beside(loaded.path, plan.corpus.path)
    corpus, corpus_sha = _check_corpus(plan, corpus_path, labels, problems)
    if corpus:
        _check_sample_size(plan, len(corpus), problems)
        check_stopping(plan, len(corpus), problems)
        for path, message in size_problems(plan, len(corpus)):
            problems.plan(path, message)
        check_calibration_covers(plan, corpus, problems)
        check_examples(plan, loaded.path, corpus, problems)
    check_mix(plan, corpus, problems)
    trace_sha = _check_trace(plan, loaded.path, problems)
    problems.raise_first()
    return CheckedPlan(
        path=loaded.path,
        data=loaded.data,
        plan=plan,
        corpus=corpus,
        corpus_path=corpus_path,
        corpus_sha256=corpus_sha,
        bytes_sha256=bytes_hash(loaded.data),
        canonical_sha256=canonical_hash(plan),
        trace_sha256=trace_sha,
    )


def _check_taxonomy(labels: list[str], problems: _Problems) -> None:
    for label, count in Counter(labels).items():
        if count > 1:
            problems.plan(
                ("taxonomy", "labels", labels.index(label, labels.index(label) + 1)),
                f"expected distinct labels, found {label!r} twice",
            )


def _check_routing(plan: Plan, labels: list[str], problems: _Problems) -> None:
    routes = plan.routing.routes
    for label, model in routes.items():
        if label not in labels:
            problems.plan(
                ("routing", "routes", label),
                f"expected a taxonomy label ({', '.join(labels)}), found {label!r}",
            )
        if model not in plan.models:
            problems.plan(
                ("routing", "routes", label),
                f"expected a model defined in models ({_names(plan.models)}), found {model!r}",
            )
    missing = [label for label in labels if label not in routes]
    if missing:
        problems.plan(
            ("routing", "routes"),
            f"expected a route for every taxonomy label, found none for {', '.join(missing)}",
        )
    if plan.routing.fallback not in plan.models:
        problems.plan(
            ("routing", "fallback"),
            f"expected a model defined in models ({_names(plan.models)}), found {plan.routing.fallback!r}",
        )


def _check_ratio(plan: Plan, problems: _Problems) -> None:
    ratio = plan.randomization.ratio
    if ratio is None:
        return
    arm_ids = plan.arm_ids
    for arm_id, weight in ratio.items():
        if arm_id not in arm_ids:
            problems.plan(
                ("randomization", "ratio", arm_id),
                f"expected an arm id ({', '.join(arm_ids)}), found {arm_id!r}",
            )
        elif weight < 1:
            problems.plan(
                ("randomization", "ratio", arm_id), f"expected a weight of at least 1, found {weight}"
            )
    missing = [a for a in arm_ids if a not in ratio]
    if missing:
        problems.plan(
            ("randomization", "ratio"),
            f"expected a weight for every arm, found none for {', '.join(missing)}",
        )


def _check_gates(plan: Plan, problems: _Problems) -> None:
    seen: set[str] = set()
    for i, gate in enumerate(plan.gates):
        if gate.id in seen:
            problems.plan(("gates", i, "id"), f"expected a unique gate id, found {gate.id!r} again")
        seen.add(gate.id)
        if gate.metric == "routing_accuracy":
            if not 0.0 < gate.threshold < 1.0:
                problems.plan(
                    ("gates", i, "threshold"),
                    f"expected an accuracy strictly between 0 and 1, found {gate.threshold}",
                )
            if gate.op != ">=":
                problems.plan(("gates", i, "op"), f"expected '>=' for an accuracy gate, found {gate.op!r}")
        elif gate.metric in _CONTROL_GATES:
            _check_control_gate(plan, i, gate, problems)
        elif gate.metric != MISROUTING_METRIC:  # op and threshold: prereg._check_misrouting
            if not gate.threshold > 0.0:
                problems.plan(
                    ("gates", i, "threshold"), f"expected a latency above 0 ms, found {gate.threshold}"
                )
            if gate.op != "<=":
                problems.plan(("gates", i, "op"), f"expected '<=' for a latency gate, found {gate.op!r}")


#: Each gate against the control: its op and why, and the open range of its threshold with the
#: words of that range (None: any finite threshold, e.g. a latency margin, negative for "faster").
_CONTROL_GATES: dict[str, tuple[str, str, tuple[float, float, str] | None]] = {
    "downstream_quality_vs_control": (
        ">=",
        "non-inferiority",
        (-1.0, 1.0, "a difference strictly between -1 and 1 (e.g. -0.05)"),
    ),
    "cost_vs_control": (
        "<=",
        "savings",
        (-1.0, 10.0, "a relative cost strictly between -1 and 10 (e.g. -0.30)"),
    ),
    "e2e_latency_p95_vs_control": ("<=", "non-inferiority", None),
    "e2e_latency_median_vs_control": ("<=", "non-inferiority", None),
}


def _check_control_gate(plan: Plan, i: int, gate: GateSpec, problems: _Problems) -> None:
    """A gate against the control: a control arm, the metric's op, a threshold in its range."""
    op, why, bounds = _CONTROL_GATES[gate.metric]
    if not any(a.kind == "control" for a in plan.arms):
        problems.plan(
            ("gates", i, "metric"),
            f"expected an arm of kind 'control' for {gate.metric}, found none",
        )
    if gate.op != op:
        problems.plan(
            ("gates", i, "op"),
            f"expected '{op}' for {gate.metric} ({why}), found {gate.op!r}",
        )
    if bounds is not None and not bounds[0] < gate.threshold < bounds[1]:
        problems.plan(("gates", i, "threshold"), f"expected {bounds[2]}, found {gate.threshold}")


def _check_graders(plan: Plan, problems: _Problems) -> None:
    for name, grader in plan.graders.items():
        if grader.kind == "judge" and grader.judge_model not in plan.models:
            problems.plan(
                ("graders", name, "judge_model"),
                f"expected a model defined in models ({_names(plan.models)}), found {grader.judge_model!r}",
            )


def _check_corpus(
    plan: Plan, path: Path, labels: list[str], problems: _Problems
) -> tuple[tuple[Case, ...], str]:
    try:
        data = read_corpus_bytes(path, name=str(problems.loaded.path), field="corpus.path")
    except CorpusError as exc:
        line = problems.loaded.line_of(("corpus", "path"))
        if line is not None:
            exc.args = (f"{exc.args[0]} (line {line})",)
        problems.add(exc)
        return (), ""
    sha = bytes_hash(data)
    if sha != plan.corpus.sha256:
        line = problems.loaded.line_of(("corpus", "sha256"))
        where = f" (line {line})" if line is not None else ""
        problems.add(
            CorpusError(
                f"expected the pinned hash {plan.corpus.sha256}, found {sha} for {path}{where}",
                file=str(problems.loaded.path),
                field="corpus.sha256",
            )
        )
    try:
        cases = parse_corpus(data, name=str(path))
    except CorpusError as exc:
        problems.add(exc)
        return (), sha
    lines = _case_lines(data)
    for case in cases:
        where = f"line {lines.get(case.id, '?')}"
        if case.family not in labels:
            problems.add(
                CorpusError(
                    f"family: expected a taxonomy label ({', '.join(labels)}), found {case.family!r}",
                    file=str(path),
                    field=where,
                )
            )
        for label in case.gold_labels:
            if label not in labels:
                problems.add(
                    CorpusError(
                        f"gold_labels: expected taxonomy labels ({', '.join(labels)}), found {label!r}",
                        file=str(path),
                        field=where,
                    )
                )
        if case.family not in case.gold_labels:
            problems.add(
                CorpusError(
                    f"family: expected one of the gold labels {list(case.gold_labels)}, found {case.family!r}",
                    file=str(path),
                    field=where,
                )
            )
        if case.grader is not None and case.grader not in plan.graders:
            problems.add(
                CorpusError(
                    f"grader: expected a grader of the plan ({_names(plan.graders) or 'none defined'}), found {case.grader!r}",
                    file=str(path),
                    field=where,
                )
            )
        if case.grader is not None and case.reference is None:
            problems.add(
                CorpusError(
                    "reference: expected a reference answer for the grader, found nothing",
                    file=str(path),
                    field=where,
                )
            )
    return cases, sha


def _case_lines(data: bytes) -> dict[str, int]:
    lines: dict[str, int] = {}
    for number, line in json_lines(data.decode("utf-8")):
        lines.setdefault(str(json.loads(line)["id"]), number)
    return lines


def _check_sample_size(plan: Plan, n_cases: int, problems: _Problems) -> None:
    size = plan.sample_size
    if size.unique_cases != n_cases:
        problems.plan(
            ("sample_size", "unique_cases"), f"expected the corpus size {n_cases}, found {size.unique_cases}"
        )
    weights = sum(plan.ratio_of(a) for a in plan.arm_ids)
    replays = plan.traffic.replays_per_case
    expected = n_cases * replays * weights
    if size.requests_total != expected:
        problems.plan(
            ("sample_size", "requests_total"),
            f"expected {expected} ({n_cases} cases x {replays} replays x {weights} arm weights), found {size.requests_total}",
        )
    warmup = plan.traffic.warmup
    if warmup is not None and warmup.requests is not None and warmup.requests >= size.requests_total:
        # A warm-up of every request would leave nothing to analyse.
        problems.plan(
            ("traffic", "warmup", "requests"),
            f"expected fewer than sample_size.requests_total ({size.requests_total}), found {warmup.requests}",
        )


def _check_trace(plan: Plan, plan_path: Path, problems: _Problems) -> str | None:
    """Check a trace file (present, pinned hash, parseable, sorted, long enough); its SHA-256."""
    arrival = plan.traffic.arrival
    if not isinstance(arrival, TraceArrival):
        return None
    path = resolve_beside(plan_path, arrival.path)
    try:
        data = path.read_bytes()
    except (OSError, ValueError):  # ValueError: a NUL character in the path
        problems.add(
            TraceError(
                f"expected an arrival trace at {str(path)!r}, found no such file",
                file=str(plan_path),
                field="traffic.arrival.path",
            )
        )
        return None
    sha = bytes_hash(data)
    if arrival.sha256 is not None and sha != arrival.sha256:
        problems.add(
            TraceError(
                f"expected the pinned hash {arrival.sha256}, found {sha} for {path}",
                file=str(plan_path),
                field="traffic.arrival.sha256",
            )
        )
    try:
        times = parse_trace(data, str(path))
    except TraceError as exc:
        problems.add(exc)
        return sha
    needed = plan.sample_size.requests_total
    if len(times) < needed:
        problems.add(
            TraceError(
                f"expected at least {needed} timestamps (one per request of sample_size.requests_total), "
                f"found {len(times)}",
                file=str(path),
            )
        )
    return sha


def _names(mapping: Mapping[str, object]) -> str:
    return ", ".join(mapping)
