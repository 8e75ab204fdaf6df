"""Meaning checks of a plan's backends: classifier prompts, calibrations, keys and time models.

Split from :mod:`prereg.check`, which runs these among its other checks and reports what they
find through the same one-line problems (anything with a ``plan(path, message)`` method).

Time models: every backend declares the ones it can run in (``TIME_MODELS``, see
:mod:`prereg.backends`); a plan runs in one of them, so its backends must share one. A plan
may mix kinds (a ``keyword`` classifier beside ``simulated`` or beside ``openai`` backends) as long
as they do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from prereg.backends import PythonClassifierSpec
from prereg.loader import FieldPath, format_path
from prereg.records import Case
from prereg.schema import (
    TIME_MODEL_NAMES,
    BackendSpec,
    OpenAIBackendSpec,
    Plan,
    RouterArmSpec,
    ServiceArmSpec,
    SimulatedClassifierSpec,
    SimulatedModelSpec,
)

__all__ = ["check_backends", "check_calibration_covers", "check_classifiers", "check_models"]

#: What an environment variable's name looks like; anything else may be a pasted key.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Problems(Protocol):
    """Where a check reports a problem: the field path and the one-line message."""

    def plan(self, path: FieldPath, message: str) -> None: ...


def _backends(plan: Plan) -> list[tuple[FieldPath, BackendSpec]]:
    found: list[tuple[FieldPath, BackendSpec]] = [
        (("models", name, "backend"), model.backend) for name, model in plan.models.items()
    ]
    for i, arm in enumerate(plan.arms):
        if isinstance(arm, RouterArmSpec):
            found.append((("arms", i, "classifier", "backend"), arm.classifier.backend))
        elif isinstance(arm, ServiceArmSpec):
            found.append((("arms", i, "backend"), arm.backend))
    return found


def check_classifiers(plan: Plan, labels: list[str], problems: Problems) -> None:
    """Prompts where the backend reads one; the labels a backend names are in the taxonomy."""
    for i, arm in enumerate(plan.arms):
        if not isinstance(arm, RouterArmSpec):
            continue
        base: FieldPath = ("arms", i, "classifier")
        backend = arm.classifier.backend
        template = arm.classifier.prompt_template
        if backend.USES_PROMPT:
            absent = [p for p in ("{text}", "{labels}") if p not in (template or "")]
            if absent:
                problems.plan(
                    (*base, "prompt_template"),
                    f"expected a template containing {{text}} and {{labels}}, found none of {' '.join(absent)}",
                )
        where = (*base, "backend")
        if isinstance(backend, SimulatedClassifierSpec):
            _check_simulated_classifier(backend, labels, where, problems)
        for suffix, label in backend.named_labels():
            if label not in labels:
                problems.plan(
                    (*where, *suffix), f"expected a taxonomy label ({', '.join(labels)}), found {label!r}"
                )


def _check_simulated_classifier(
    backend: SimulatedClassifierSpec, labels: list[str], where: FieldPath, problems: Problems
) -> None:
    _labels_in(labels, backend.accuracy, (*where, "accuracy"), problems)
    for gold, row in (backend.confusion or {}).items():
        _labels_in(labels, {gold: 0}, (*where, "confusion"), problems)
        _labels_in(labels, row, (*where, "confusion", gold), problems)
        if gold in row:
            problems.plan(
                (*where, "confusion", gold, gold),
                "expected only wrong labels in a confusion row, found the gold label itself",
            )
        if any(w < 0 for w in row.values()) or not sum(row.values()) > 0:
            problems.plan(
                (*where, "confusion", gold),
                f"expected non-negative weights with a positive sum, found {dict(row)}",
            )


def check_models(plan: Plan, labels: list[str], problems: Problems) -> None:
    """Simulated models' quality figures name taxonomy labels."""
    for name, model in plan.models.items():
        if isinstance(model.backend, SimulatedModelSpec):
            _labels_in(labels, model.backend.quality, ("models", name, "backend", "quality"), problems)


def _labels_in(labels: list[str], mapping: Mapping[str, object], path: FieldPath, problems: Problems) -> None:
    for key in mapping:
        if key not in labels:
            problems.plan((*path, key), f"expected a taxonomy label ({', '.join(labels)}), found {key!r}")


def check_backends(plan: Plan, problems: Problems) -> None:
    """``api_key_env`` names a variable (its value is never echoed); the backends share a time model."""
    backends = _backends(plan)
    for path, backend in backends:
        if (
            isinstance(backend, OpenAIBackendSpec)
            and backend.api_key_env is not None
            and not _ENV_NAME.fullmatch(backend.api_key_env)
        ):
            problems.plan(
                (*path, "api_key_env"),
                "expected the NAME of an environment variable (letters, digits and _, not "
                "starting with a digit), found a value that is not one (not shown: it may be "
                "the key itself)",
            )
    _check_time_models(backends, problems)
    _check_in_flight(backends, problems)
    if not plan.is_live:
        for path, backend in backends:
            if isinstance(backend, PythonClassifierSpec) and backend.latency is None:
                problems.plan(
                    (*path, "latency"),
                    "expected the declared service time (median_ms, p95_ms) of a python router in a "
                    "simulated campaign (nothing is measured in virtual time), found none",
                )


def _check_in_flight(backends: Sequence[tuple[FieldPath, BackendSpec]], problems: Problems) -> None:
    """Backends at one base URL share its connections, so they must not state different limits."""
    stated: dict[str, tuple[FieldPath, int]] = {}
    for path, backend in backends:
        if not isinstance(backend, OpenAIBackendSpec) or backend.max_in_flight is None:
            continue
        key = backend.base_url.rstrip("/")
        first = stated.setdefault(key, (path, backend.max_in_flight))
        if first[1] != backend.max_in_flight:
            problems.plan(
                (*path, "max_in_flight"),
                f"expected {first[1]} like {format_path((*first[0], 'max_in_flight'))} (backends at "
                f"{key} share its connections), found {backend.max_in_flight}",
            )
            return


def _check_time_models(backends: Sequence[tuple[FieldPath, BackendSpec]], problems: Problems) -> None:
    """Refuse the first backend that shares no time model with those before it (one problem)."""
    common: frozenset[str] = frozenset(TIME_MODEL_NAMES)
    anchor: tuple[FieldPath, BackendSpec] | None = None  # the backend that last narrowed `common`
    for path, backend in backends:
        shared = common & backend.TIME_MODELS
        if not shared and anchor is not None:
            need = " or ".join(TIME_MODEL_NAMES[t] for t in sorted(common))
            mode = "live" if common == {"wall"} else "simulated"
            problems.plan(
                (*path, "kind"),
                f"{mode} mode expected a backend that runs {need} (as {format_path(anchor[0])}, "
                f"kind: {anchor[1].kind}, does), found kind: {backend.kind} (runs {_runs(backend)} "
                "only): no time model serves every backend",
            )
            return
        if shared != common:
            anchor = (path, backend)
        common = shared


def _runs(backend: BackendSpec) -> str:
    return " or ".join(TIME_MODEL_NAMES[t] for t in sorted(backend.TIME_MODELS))


def check_calibration_covers(plan: Plan, corpus: tuple[Case, ...], problems: Problems) -> None:
    """Every corpus family has a simulated classifier's accuracy and a simulated model's quality."""
    families = sorted({c.family for c in corpus})
    for i, arm in enumerate(plan.arms):
        backend = arm.classifier.backend if isinstance(arm, RouterArmSpec) else None
        if isinstance(backend, SimulatedClassifierSpec):
            missing = [f for f in families if f not in backend.accuracy]
            if missing:
                problems.plan(
                    ("arms", i, "classifier", "backend", "accuracy"),
                    f"expected an accuracy for every corpus family, found none for {', '.join(missing)}",
                )
    for name, model in plan.models.items():
        if isinstance(model.backend, SimulatedModelSpec):
            missing = [f for f in families if f not in model.backend.quality]
            if missing:
                problems.plan(
                    ("models", name, "backend", "quality"),
                    f"expected a quality for every corpus family, found none for {', '.join(missing)}",
                )
