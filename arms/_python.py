"""The ``python`` backend: the user's own router code, in either time model.

``callable: "package.module:function"`` is imported (the campaign puts the plan's folder first on
the module path); with ``options`` it is a factory called once, ``callable(**options)``, that
returns the router function. The router takes the request text and returns a taxonomy label, or a
``(label, confidence)`` pair. Its outcomes are data: a label outside the taxonomy (or a value that
is not a label) is ``unparseable``, an exception is ``router_error``, with the reason in the
trial's error; neither stops the campaign. Building the arm (the import, the factory) happens
before the clock and fails there with one line naming the field.

On the wall clock each decision runs in a worker thread (at most ``concurrency`` at once, under the
plan's timeout and retries), so the event loop keeps dispatching, and the latency stored is what
the campaign's clock measured around the call. A decision that times out leaves its thread to
finish in the background (a thread cannot be cancelled); its late answer is discarded. In
virtual time the router is called for every request in call order and the service time is the
declared ``latency``, drawn as a simulated classifier's (:mod:`arms._behaviour`), so a simulated
campaign stays a deterministic function of the frozen plan and the router.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from arms._backend import Backend, LiveContext, VirtualContext
from arms._behaviour import _case_scales, _Draws
from arms._in_process import InProcessClassifier
from arms._server import FifoServer
from arms._simulated_endpoint import Endpoint
from prereg.backends import PythonClassifierSpec
from prereg.errors import ArmError
from prereg.records import Case, Status
from prereg.schema import RouterArmSpec, TokenSpec
from prereg.seeding import derive_rng

__all__ = ["PYTHON", "load_router"]

_NO_TOKENS = TokenSpec(input=0, output=0)
_MAX_ERROR_CHARS = 200
Router = Callable[[str], object]


def _spec(index: int, arm: RouterArmSpec) -> PythonClassifierSpec:
    backend = arm.classifier.backend
    if not isinstance(backend, PythonClassifierSpec):  # the registry dispatches on kind: a bug if hit
        raise ArmError(f"arms[{index}].classifier.backend.kind: expected 'python', found {backend.kind!r}")
    return backend


def load_router(spec: PythonClassifierSpec, where: str) -> Router:
    """The router function ``spec.callable`` names (built by the factory when ``options`` are given)."""
    module_name, _, attr = spec.callable.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any failure of the user's import is the same one-line error
        raise ArmError(
            f"{where}.callable: expected an importable module {module_name!r}, found {_why(exc)}"
        ) from None
    target: Callable[..., Any] | None = getattr(module, attr, None)
    if not callable(target):
        raise ArmError(f"{where}.callable: expected a function {attr!r} in {module_name}, found {target!r}")
    if spec.options is None:
        plain: Router = target
        return plain
    try:
        built = target(**spec.options)
    except Exception as exc:
        raise ArmError(f"{where}.options: the factory {spec.callable} failed: {_why(exc)}") from None
    if not callable(built):
        raise ArmError(
            f"{where}.options: expected {spec.callable}(**options) to return a function, found {built!r}"
        )
    router: Router = built
    return router


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:_MAX_ERROR_CHARS]


def decide(router: Router, text: str, labels: frozenset[str]) -> tuple[str | None, Status, str | None]:
    """``(label, status, error)`` of one call of the router on ``text``."""
    try:
        value: Any = router(text)
    except Exception as exc:
        return None, "router_error", f"python router raised {_why(exc)}"
    label = value[0] if isinstance(value, tuple) and value else value
    if isinstance(label, str) and label in labels:
        return label, "ok", None
    return None, "unparseable", f"python router returned {value!r:.80}, not a taxonomy label"


class _VirtualBehaviour:
    """The router in virtual time: its label per request, the declared service time."""

    def __init__(self, router: Router, spec: PythonClassifierSpec, ctx: VirtualContext, arm_id: str) -> None:
        if spec.latency is None:  # check refuses this plan; a bug if hit
            raise ArmError(f"arm {arm_id}: a python router needs a declared latency in virtual time")
        rng = derive_rng(ctx.plan.randomization.seed, ctx.plan_hash, f"arm:{arm_id}")
        self._router = router
        self._labels = frozenset(ctx.plan.taxonomy.labels)
        self._scales = dict(
            zip((c.id for c in ctx.cases), _case_scales(rng, ctx.cases, spec.latency), strict=True)
        )
        self._draws = _Draws(rng, spec.latency)

    def decide(self, case: Case, replay: int) -> tuple[str | None, Status, float]:
        label, status, _ = decide(self._router, case.text, self._labels)
        service, _ = self._draws.next(self._scales[case.id])
        return label, status, service


def virtual_classifier(ctx: VirtualContext, index: int, arm: RouterArmSpec) -> Endpoint[str]:
    """The python router of ``plan.arms[index]`` on a FIFO server in virtual time."""
    spec = _spec(index, arm)
    where = f"arms[{index}].classifier.backend"
    behaviour = _VirtualBehaviour(load_router(spec, where), spec, ctx, arm.id)
    assert spec.latency is not None  # _VirtualBehaviour refused None
    classifier = arm.classifier
    return Endpoint(
        classifier.model,
        behaviour.decide,
        FifoServer(f"classifier:{arm.id}", spec.latency.concurrency),
        timeout_ms=classifier.timeout_ms,
        network_rtt_ms=spec.latency.network_rtt_ms,
        retry=classifier.retry,
        tokens=_NO_TOKENS,
        price=classifier.price,
        errors={
            "unparseable": "python router: the value returned is not a taxonomy label",
            "router_error": "python router: the call raised an exception",
            "timeout": f"python router: no decision within {classifier.timeout_ms:g} ms",
        },
    )


class _TextRouter:
    """The user's router as an :class:`~arms._in_process.TextRouter`: the wall clock's harness is
    the one every in-process backend shares (:class:`~arms._in_process.InProcessClassifier`)."""

    def __init__(self, router: Router, labels: Sequence[str]) -> None:
        self._router = router
        self._labels = frozenset(labels)

    def decide(self, texts: Sequence[str]) -> list[tuple[str | None, Status, str | None]]:
        """One call of the router per text."""
        return [decide(self._router, text, self._labels) for text in texts]


def live_classifier(ctx: LiveContext, index: int, arm: RouterArmSpec) -> InProcessClassifier:
    """The python router of ``plan.arms[index]`` on the wall clock (in worker threads)."""
    spec = _spec(index, arm)
    router = load_router(spec, f"arms[{index}].classifier.backend")
    return InProcessClassifier(
        _TextRouter(router, ctx.plan.taxonomy.labels), arm.classifier, spec.concurrency, "python"
    )


#: The registry's entry: a classifier in both time models; no downstream model.
PYTHON = Backend(virtual_classifier=virtual_classifier, live_classifier=live_classifier)
