"""The ``keyword`` backend: a deterministic rule-based router, in either time model.

A reference arm: no model, just the plan's rules (``rules: {label: [keywords...]}``). A keyword
matches as whole words, case-insensitively (no letter, digit or ``_`` right before or after it:
``sum`` matches "the sum of" but not "summary"); labels are tried in taxonomy order and the first
with a match wins, else ``default``, else the decision fails as ``unparseable``. The label of a
case is computed once, at construction (the rules and the text decide it, nothing random).

Latency is the plan's ``latency`` (a :class:`~prereg.schema.LatencySpec`), drawn exactly as a
simulated classifier's service time is (:mod:`arms._behaviour`: a per-case effect, then one draw
per call, in call order, from the ``"arm:<id>"`` stream of the plan's seed and hash), so a
simulated campaign stays a deterministic function of the frozen plan. In virtual time the drawn
service time is booked on a FIFO server of ``concurrency`` slots like any simulated backend's.
On the wall clock the same drawn time is *awaited* (``asyncio.sleep``, holding one of
``concurrency`` slots, plus ``network_rtt_ms``) rather than the real compute time measured: the
match itself takes microseconds, and a declared latency lets a live campaign compare the
router's end-to-end path at a stated cost; the latency stored is still what the campaign's clock
measured. Timeouts and retries follow the plan as for every backend. Tokens and cost are 0.
Classifier only: the schema has no keyword model.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from arms._backend import Backend, ChatResult, Classification, LiveContext, VirtualContext
from arms._behaviour import _case_scales, _Draws
from arms._protocol import ArmRequest
from arms._server import FifoServer
from arms._simulated_endpoint import Endpoint
from prereg.backends import KeywordClassifierSpec
from prereg.errors import ArmError
from prereg.records import Case, Status
from prereg.schema import ClassifierSpec, Plan, RouterArmSpec, TokenSpec
from prereg.seeding import derive_rng

__all__ = ["KEYWORD", "NO_MATCH", "KeywordBehaviour", "KeywordClassifier"]

#: The error text of a request no rule matches (the plan gives no default).
NO_MATCH = "keyword: no rule matches the request and the plan gives no default"
_NO_TOKENS = TokenSpec(input=0, output=0)


def _patterns(rules: Mapping[str, Sequence[str]], labels: Sequence[str]) -> list[tuple[str, re.Pattern[str]]]:
    """One pattern per label with rules, in taxonomy order: any of its keywords as whole words."""
    out: list[tuple[str, re.Pattern[str]]] = []
    for label in labels:
        words = rules.get(label)
        if words:
            either = "|".join(re.escape(w) for w in words)
            out.append((label, re.compile(rf"(?<!\w)(?:{either})(?!\w)", re.IGNORECASE)))
    return out


class KeywordBehaviour:
    """The keyword router as a behaviour: ``(label, status, service_ms)`` per request."""

    def __init__(
        self,
        spec: KeywordClassifierSpec,
        labels: Sequence[str],
        cases: Sequence[Case],
        rng: np.random.Generator,
    ) -> None:
        unknown = [k for k in [*spec.rules, spec.default] if k is not None and k not in labels]
        if unknown:
            raise ArmError(f"backend.rules: expected taxonomy labels, found {unknown}")
        patterns = _patterns(spec.rules, labels)
        self._labels: dict[str, str | None] = {}
        for case in cases:
            self._labels[case.id] = next(
                (label for label, p in patterns if p.search(case.text)), spec.default
            )
        self._scales = dict(zip((c.id for c in cases), _case_scales(rng, cases, spec.latency), strict=True))
        self._draws = _Draws(rng, spec.latency)

    def decide(self, case: Case, replay: int) -> tuple[str | None, Status, float]:
        """``(label, status, service_ms)``: ``unparseable`` (label None) when no rule matches."""
        try:
            label, scale = self._labels[case.id], self._scales[case.id]
        except KeyError:
            raise ArmError(f"case {case.id!r}: not in the corpus this classifier was built for") from None
        service, _ = self._draws.next(scale)  # one pair per request, as every behaviour draws
        return label, ("ok" if label is not None else "unparseable"), service


def _behaviour(
    plan: Plan, plan_hash: str, cases: Sequence[Case], index: int, arm: RouterArmSpec
) -> tuple[KeywordClassifierSpec, KeywordBehaviour]:
    """The arm's keyword spec and its behaviour, drawing from the ``"arm:<id>"`` stream."""
    backend = arm.classifier.backend
    if not isinstance(backend, KeywordClassifierSpec):  # the registry dispatches on kind: a bug if hit
        raise ArmError(f"arms[{index}].classifier.backend.kind: expected 'keyword', found {backend.kind!r}")
    rng = derive_rng(plan.randomization.seed, plan_hash, f"arm:{arm.id}")
    try:
        return backend, KeywordBehaviour(backend, plan.taxonomy.labels, cases, rng)
    except ArmError as exc:
        raise ArmError(f"arms[{index}] ({arm.id}): {exc}") from None


def virtual_classifier(ctx: VirtualContext, index: int, arm: RouterArmSpec) -> Endpoint[str]:
    """The keyword classifier of ``plan.arms[index]`` on a FIFO server in virtual time."""
    backend, behaviour = _behaviour(ctx.plan, ctx.plan_hash, ctx.cases, index, arm)
    spec = arm.classifier
    return Endpoint(
        spec.model,
        behaviour.decide,
        FifoServer(f"classifier:{arm.id}", backend.latency.concurrency),
        timeout_ms=spec.timeout_ms,
        network_rtt_ms=backend.latency.network_rtt_ms,
        retry=spec.retry,
        tokens=_NO_TOKENS,
        price=spec.price,
        errors={"unparseable": NO_MATCH, "timeout": f"keyword: no decision within {spec.timeout_ms:g} ms"},
    )


class KeywordClassifier:
    """The keyword router on the wall clock (a :class:`~arms._backend.LiveClassifier`)."""

    def __init__(
        self, spec: ClassifierSpec, backend: KeywordClassifierSpec, behaviour: KeywordBehaviour
    ) -> None:
        self._behaviour = behaviour
        self._rtt_s = backend.latency.network_rtt_ms / 1000.0
        self._timeout_ms = spec.timeout_ms
        self._retry = spec.retry
        self._slots = asyncio.Semaphore(backend.latency.concurrency)

    async def _attempt(self, request: ArmRequest) -> tuple[str | None, Status]:
        label, status, service_ms = self._behaviour.decide(request.case, request.replay)
        try:
            async with asyncio.timeout(self._timeout_ms / 1000.0):
                async with self._slots:
                    await asyncio.sleep(service_ms / 1000.0)
                await asyncio.sleep(self._rtt_s)
        except TimeoutError:
            return None, "timeout"
        return label, status

    async def classify(self, request: ArmRequest, clock: Callable[[], float]) -> Classification:
        """Wait the drawn service time (in a slot), then give the rules' label; retries as planned."""
        started = clock()
        label: str | None = None
        status: Status = "not_sent"
        attempts = 0
        retry = self._retry
        for attempts in range(1, retry.max_attempts + 1):
            label, status = await self._attempt(request)
            if status == "ok" or status not in retry.retry_on or attempts == retry.max_attempts:
                break
            await asyncio.sleep(retry.backoff_ms * 2 ** (attempts - 1) / 1000.0)
        error = None
        if status == "timeout":
            error = f"keyword: no decision within {self._timeout_ms:g} ms (attempt {attempts})"
        elif status == "unparseable":
            error = f"{NO_MATCH} (attempt {attempts})"
        end = clock()
        call = ChatResult(status, label, attempts, 0, 0, started, None, None, end, error)
        return Classification(label, status, error, call)


def live_classifier(ctx: LiveContext, index: int, arm: RouterArmSpec) -> KeywordClassifier:
    """The keyword classifier of ``plan.arms[index]`` on the wall clock."""
    backend, behaviour = _behaviour(ctx.plan, ctx.plan_hash, ctx.cases, index, arm)
    return KeywordClassifier(arm.classifier, backend, behaviour)


#: The registry's entry: a classifier in both time models; no downstream model.
KEYWORD = Backend(virtual_classifier=virtual_classifier, live_classifier=live_classifier)
