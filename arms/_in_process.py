"""What the in-process classifier backends share: ``embedding`` and ``tfidf`` routers, both time models.

Such a backend is a :class:`TextRouter`, trained or loaded once when the arm is built (before the
clock) from the examples file the plan pins, then asked for decisions on request texts. A
decision is ``(label, status, error)``: ``ok`` with a taxonomy label, ``abstained`` (no label:
the routing ``fallback`` takes the request) when the router's score is below the plan's
``abstain_below``, or ``router_error`` when the library raised. Failures are data, never
exceptions; a misconfiguration (a missing library, file or model) is an
:class:`~prereg.errors.ArmError` naming the field, before the clock.

In virtual time the router decides every case of the corpus once, in a batch, when the arm is
built (its decisions depend on the text only), and the service time is the plan's declared
``latency`` (:class:`arms._behaviour.DeclaredLatency`), so a simulated campaign stays a
deterministic function of the frozen plan and the examples. On the wall clock each decision runs
in a worker thread, at most ``concurrency`` at once, under the classifier's ``timeout_ms`` and
``retry``, and the latency stored is what the campaign's clock measured around it (as for
``kind: python``, :mod:`arms._python`).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Protocol

from arms._backend import ChatResult, Classification, VirtualContext
from arms._behaviour import DeclaredLatency
from arms._protocol import ArmRequest
from arms._server import FifoServer
from arms._simulated_endpoint import Endpoint
from prereg.backends import ExamplesSpec, LatencySpec
from prereg.errors import ArmError, CorpusError
from prereg.examples import Example, load_pinned_examples
from prereg.records import Case, Status
from prereg.schema import ClassifierSpec, RouterArmSpec, TokenSpec
from prereg.seeding import derive_rng

__all__ = [
    "EXTRA",
    "Decision",
    "InProcessClassifier",
    "TextRouter",
    "import_optional",
    "pinned_examples",
    "virtual_endpoint",
]

#: How to install the optional libraries these backends need (the ``local`` extra, pyproject.toml).
EXTRA = "pip install -e '.[local]'"
#: ``(label, status, error)`` of one decision; the label is None unless the status is ``ok``.
Decision = tuple[str | None, Status, str | None]
_NO_TOKENS = TokenSpec(input=0, output=0)
_MAX_ERROR_CHARS = 200


class TextRouter(Protocol):
    """A trained in-process router: request texts in, one decision each."""

    def decide(self, texts: Sequence[str]) -> list[Decision]:
        """One decision per text, in order; a failure is a status, never an exception."""
        ...


def import_optional(module: str, where: str) -> ModuleType:
    """Import an optional library, or refuse in one line naming ``where`` and the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ArmError(
            f"{where}: expected the optional library {module.partition('.')[0]} ({EXTRA}), found "
            f"{type(exc).__name__}: {exc}".replace("\n", " ")[: 2 * _MAX_ERROR_CHARS]
        ) from None


def pinned_examples(
    spec: ExamplesSpec, plan_dir: Path | None, labels: Sequence[str], where: str
) -> tuple[Example, ...]:
    """The examples file of ``spec``, read beside the plan, verified against its pinned hash.

    ``check`` refused examples outside the taxonomy ``labels``; refused here too, for a plan
    built in code that skipped it.
    """
    if plan_dir is None:
        raise ArmError(
            f"{where}.examples.path: expected a plan read from a file (the path is relative to its "
            "folder), found a plan without one"
        )
    try:
        examples = load_pinned_examples(plan_dir / spec.path, spec.sha256)
    except CorpusError as exc:
        raise ArmError(f"{where}.examples: {exc}") from None
    outside = sorted({e.label for e in examples} - set(labels))
    if outside:
        raise ArmError(f"{where}.examples: expected taxonomy labels ({', '.join(labels)}), found {outside}")
    return examples


def safe_decide(router: TextRouter, texts: Sequence[str], kind: str) -> list[Decision]:
    """``router.decide(texts)``, with an exception of the library as ``router_error`` for each text."""
    try:
        return router.decide(texts)
    except Exception as exc:  # a library failure on a request is data, like a python router's
        why = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:_MAX_ERROR_CHARS]
        return [(None, "router_error", f"{kind} router raised {why}")] * len(texts)


class _Precomputed:
    """The router in virtual time: each case's decision computed once, the declared service time."""

    def __init__(
        self, decisions: Mapping[str, Decision], latency: LatencySpec, ctx: VirtualContext, arm_id: str
    ) -> None:
        self._decisions = decisions
        rng = derive_rng(ctx.plan.randomization.seed, ctx.plan_hash, f"arm:{arm_id}")
        self._latency = DeclaredLatency(rng, ctx.cases, latency)

    def decide(self, case: Case, replay: int) -> tuple[str | None, Status, float]:
        try:
            label, status, _ = self._decisions[case.id]
        except KeyError:
            raise ArmError(f"case {case.id!r}: not in the corpus this classifier was built for") from None
        return label, status, self._latency.next(case)


def virtual_endpoint(
    ctx: VirtualContext,
    arm: RouterArmSpec,
    router: TextRouter,
    latency: LatencySpec | None,
    errors: Mapping[str, str],
) -> Endpoint[str]:
    """The router of ``arm`` on a FIFO server in virtual time; ``errors`` says each failure's text."""
    kind = arm.classifier.backend.kind
    if latency is None:  # check refuses this plan; a bug if hit
        raise ArmError(f"arm {arm.id}: a {kind} router needs a declared latency in virtual time")
    decisions = safe_decide(router, [c.text for c in ctx.cases], kind)
    behaviour = _Precomputed(
        dict(zip((c.id for c in ctx.cases), decisions, strict=True)), latency, ctx, arm.id
    )
    spec = arm.classifier
    return Endpoint(
        spec.model,
        behaviour.decide,
        FifoServer(f"classifier:{arm.id}", latency.concurrency),
        timeout_ms=spec.timeout_ms,
        network_rtt_ms=latency.network_rtt_ms,
        retry=spec.retry,
        tokens=_NO_TOKENS,
        price=spec.price,
        errors={**errors, "timeout": f"{kind} router: no decision within {spec.timeout_ms:g} ms"},
    )


class InProcessClassifier:
    """An in-process router on the wall clock (a :class:`~arms._backend.LiveClassifier`)."""

    def __init__(self, router: TextRouter, spec: ClassifierSpec, concurrency: int, kind: str) -> None:
        self._decide: Callable[[str], Decision] = lambda text: safe_decide(router, [text], kind)[0]
        self._kind = kind
        self._timeout_s = spec.timeout_ms / 1000.0
        self._retry = spec.retry
        self._slots = asyncio.Semaphore(concurrency)

    async def _attempt(self, text: str) -> Decision:
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._slots:
                    return await asyncio.to_thread(self._decide, text)
        except TimeoutError:
            return None, "timeout", f"{self._kind} router: no decision within {self._timeout_s * 1000:g} ms"

    async def classify(self, request: ArmRequest, clock: Callable[[], float]) -> Classification:
        """Decide the request text in a worker thread; retries as the plan says."""
        started = clock()
        label: str | None = None
        status: Status = "not_sent"
        error: str | None = None
        attempts = 0
        for attempts in range(1, self._retry.max_attempts + 1):
            label, status, error = await self._attempt(request.case.text)
            if status == "ok" or status not in self._retry.retry_on or attempts == self._retry.max_attempts:
                break
            await asyncio.sleep(min(self._retry.backoff_ms * 2 ** (attempts - 1) / 1000.0, self._timeout_s))
        end = clock()
        call = ChatResult(status, label, attempts, 0, 0, started, None, None, end, error)
        return Classification(label, status, error, call)
