"""Live arms: the control, router and reference arms on the wall clock, over the plan's backends.

A :class:`LiveRouterArm` asks its classifier for a label (a :class:`~arms._backend.LiveClassifier`:
one chat call parsed by the plan's rule for ``openai``, the rules for ``keyword``), sends the
request on to the model the routing table names for that label (the ``fallback`` model when
routing failed), and grades the answer when the case has a grader. A :class:`LiveControlArm`
sends every request straight to its default model (a ``fixed`` arm is one too), and a
:class:`LiveReferenceArm` to the model a ``random`` or ``oracle`` arm's routes name
(:mod:`arms._reference`, drawn from the frozen plan as in virtual time). All satisfy
:class:`arms.LiveArm` and return a :class:`LiveArmOutcome`, an :class:`~arms.ArmOutcome` that also
carries the per-request timeline (:class:`LiveTimings`) the live scheduler journals. Backends are
built by the factories of :data:`arms._registry.BACKENDS`, keyed by the plan's ``kind``; this
module knows none of them.

Latencies are measured from the request's *scheduled* time on the caller's clock, so a late send
or a retry is counted, never hidden (no coordinated omission). The downstream latency is the
duration of the downstream call (retries included); the judge call of a ``judge`` grader is
grading, not serving, so its time and tokens are not part of the trial.

Secrets: every text a live reply puts into a trial goes through the plan's
:class:`~arms._redaction.Redactor` before the trial is journalled, stored, printed or rendered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from arms._backend import ChatResult, LiveClassifier, LiveContext, LiveModel, cost_usd
from arms._client_pool import ClientPool
from arms._grading import JudgeCall, grade_case
from arms._parsing import parse_verdict
from arms._protocol import ArmOutcome, ArmRequest, DownstreamOutcome, LiveArm, RoutingOutcome
from arms._redaction import Redactor, plan_secrets
from arms._reference import ReferenceRoutes, oracle_decision
from arms._registry import live_classifier, live_model
from arms._service import LiveServiceArm
from prereg.canonical import canonical_hash
from prereg.errors import ArmError
from prereg.records import Case
from prereg.schema import (
    ControlArmSpec,
    FixedArmSpec,
    OracleArmSpec,
    Plan,
    RandomArmSpec,
    RouterArmSpec,
    ServiceArmSpec,
)

__all__ = [
    "LiveArmOutcome",
    "LiveControlArm",
    "LiveReferenceArm",
    "LiveRouterArm",
    "LiveTimings",
    "build_live_arms",
    "cost_usd",
]


@dataclass(frozen=True, slots=True)
class LiveTimings:
    """One request's timeline on the caller's clock (s); None where the step did not happen.

    ``first_byte_s`` / ``first_token_s`` belong to the first call of the trial (the classifier
    for a router arm, the downstream model for the control).
    """

    sent_s: float
    first_byte_s: float | None
    first_token_s: float | None
    routing_done_s: float | None
    downstream_first_token_s: float | None
    done_s: float


@dataclass(frozen=True, slots=True)
class LiveArmOutcome(ArmOutcome):
    """An :class:`~arms.ArmOutcome` with the request's live timeline."""

    timings: LiveTimings | None = None


def _ms(t: float | None, origin: float) -> float | None:
    return None if t is None else (t - origin) * 1000.0


def itl_ms(call: ChatResult) -> float | None:
    """Mean inter-token latency (ms): (last token - first token) / (tokens out - 1).

    Tokens out come from the stream's usage chunk; when the server sent no usage (tokens_out 0)
    the number of token-bearing chunks stands in (``token_chunks``, when the call records it),
    which is exact for servers that send one token per chunk. None when either time is unknown
    (a JSON reply has no last token) or fewer than two tokens came out.
    """
    first, last = call.first_token_s, call.last_token_s
    tokens = call.tokens_out or call.token_chunks
    if first is None or last is None or tokens < 2:
        return None
    return (last - first) * 1000.0 / (tokens - 1)


class _Downstream:
    """The downstream models and graders shared by every arm of a plan."""

    def __init__(self, ctx: LiveContext, model_keys: set[str]) -> None:
        plan = ctx.plan
        self._plan = plan
        self.redactor = ctx.redactor
        self._models: dict[str, LiveModel] = {
            key: live_model(ctx, key, plan.models[key]) for key in sorted(model_keys)
        }
        self._judges: dict[str, JudgeCall] = {}
        for name, grader in sorted(plan.graders.items()):
            if grader.kind != "judge":
                continue
            if grader.judge_model is None or grader.judge_model not in plan.models:
                raise ArmError(
                    f"graders.{name}.judge_model: expected a key of models, found {grader.judge_model!r}"
                )
            judge = live_model(ctx, grader.judge_model, plan.models[grader.judge_model])
            self._judges[grader.judge_model] = _make_judge(judge)

    async def answer(
        self, key: str, request: ArmRequest, clock: Callable[[], float]
    ) -> tuple[DownstreamOutcome, ChatResult]:
        spec = self._plan.models[key]
        call = await self._models[key].answer(request.case.text, clock, tag=request.trial_id)
        correct: bool | None = None
        if call.status == "ok" and call.text is not None:
            correct = await self.grade(request, call.text)
        outcome = DownstreamOutcome(
            model=key,
            status=call.status,
            latency_ms=(call.end_s - call.started_s) * 1000.0,
            correct=correct,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            cost_usd=cost_usd(call.tokens_in, call.tokens_out, spec.price),
            error=self.redactor.optional(call.error),
            first_token_ms=_ms(call.first_token_s, request.scheduled_s),
            itl_ms=itl_ms(call),
        )
        return outcome, call

    async def grade(self, request: ArmRequest, text: str) -> bool | None:
        """Grade an answer to ``request`` by its case's grader (None: the case is ungraded)."""
        return await grade_case(request.case, text, self._plan.graders, self._judges)


def _make_judge(model: LiveModel) -> JudgeCall:
    async def judge(prompt: str, tag: str) -> bool | None:
        # The judge needs no clock of the campaign: its timing is not part of the trial.
        call = await model.answer(prompt, time.monotonic, tag=f"judge:{tag}")
        return parse_verdict(call.text) if call.status == "ok" and call.text else None

    return judge


class LiveControlArm:
    """The no-routing control: every request goes to one downstream model."""

    def __init__(self, arm_id: str, model_key: str, downstream: _Downstream) -> None:
        self._id = arm_id
        self._model_key = model_key
        self._downstream = downstream

    @property
    def id(self) -> str:
        """The arm id."""
        return self._id

    async def handle(self, request: ArmRequest, clock: Callable[[], float]) -> ArmOutcome:
        """Send the request to the default model and grade the answer."""
        sent = clock()
        outcome, call = await self._downstream.answer(self._model_key, request, clock)
        end = clock()
        timings = LiveTimings(sent, call.first_byte_s, call.first_token_s, None, call.first_token_s, end)
        return LiveArmOutcome(
            sent_s=sent, end_s=end, routing=None, downstream=outcome, timings=timings, wire_s=call.wire_s
        )


class LiveRouterArm:
    """A router arm: classifier label -> routing table -> downstream model."""

    def __init__(
        self, spec: RouterArmSpec, plan: Plan, classifier: LiveClassifier, downstream: _Downstream
    ) -> None:
        self._spec = spec
        self._routes: Mapping[str, str] = plan.routing.routes
        self._fallback = plan.routing.fallback
        self._classifier = classifier
        self._downstream = downstream

    @property
    def id(self) -> str:
        """The arm id."""
        return self._spec.id

    async def handle(self, request: ArmRequest, clock: Callable[[], float]) -> ArmOutcome:
        """Route the request with the classifier, then send it on and grade the answer."""
        sent = clock()
        decided = await self._classifier.classify(request, clock)
        call, label = decided.call, decided.label
        routing = RoutingOutcome(
            status=decided.status,
            latency_ms=(call.end_s - request.scheduled_s) * 1000.0,
            predicted_label=label,
            attempts=call.attempts,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            cost_usd=cost_usd(call.tokens_in, call.tokens_out, self._spec.classifier.price),
            first_token_ms=_ms(call.first_token_s, request.scheduled_s),
            error=decided.error,
        )
        target = self._routes.get(label, self._fallback) if label is not None else self._fallback
        outcome, down = await self._downstream.answer(target, request, clock)
        end = clock()
        timings = LiveTimings(
            sent, call.first_byte_s, call.first_token_s, call.end_s, down.first_token_s, end
        )
        # The wire time of the trial is its first HTTP request's; an in-process classifier
        # (keyword) sends nothing, and its lateness is the dispatcher's (wire_s None).
        return LiveArmOutcome(
            sent_s=sent, end_s=end, routing=routing, downstream=outcome, timings=timings, wire_s=call.wire_s
        )


class LiveReferenceArm:
    """A random or oracle arm: the model its routes name, no classifier call."""

    def __init__(self, arm_id: str, routes: ReferenceRoutes, downstream: _Downstream) -> None:
        self._id = arm_id
        self._routes = routes
        self._downstream = downstream

    @property
    def id(self) -> str:
        """The arm id."""
        return self._id

    async def handle(self, request: ArmRequest, clock: Callable[[], float]) -> ArmOutcome:
        """Send the request to its route's model and grade the answer (the oracle records its label)."""
        sent = clock()
        key, label = self._routes.route(request)
        # The oracle decides in no time: its latency is the lateness, as the control's e2e counts it.
        routing = None if label is None else oracle_decision(label, (sent - request.scheduled_s) * 1000.0)
        outcome, call = await self._downstream.answer(key, request, clock)
        end = clock()
        done = None if routing is None else sent
        timings = LiveTimings(sent, call.first_byte_s, call.first_token_s, done, call.first_token_s, end)
        return LiveArmOutcome(
            sent_s=sent, end_s=end, routing=routing, downstream=outcome, timings=timings, wire_s=call.wire_s
        )


def build_live_arms(
    plan: Plan,
    cases: Sequence[Case],
    pool: ClientPool,
    plan_hash: str | None = None,
    *,
    plan_dir: Path | None = None,
) -> dict[str, LiveArm]:
    """Live arms keyed by arm id, sharing one client pool and one client per model.

    ``plan_hash`` seeds the backends that draw (``keyword``'s latency); it defaults to the plan's
    canonical hash, which is what a frozen plan's is. Raises :class:`~prereg.errors.ArmError`
    when a backend the plan uses cannot run on the wall clock, an API key's environment variable
    is unset, or a case names a grader the plan lacks.
    """
    for case in cases:
        if case.grader is not None and case.grader not in plan.graders:
            raise ArmError(
                f"corpus: case {case.id}: grader: expected a key of graders, found {case.grader!r}"
            )
    used = set(plan.routing.routes.values()) | {plan.routing.fallback}
    used |= {a.model for a in plan.arms if isinstance(a, ControlArmSpec)}
    ctx = LiveContext(
        plan, cases, plan_hash or canonical_hash(plan), pool, Redactor(plan_secrets(plan)), plan_dir
    )
    # The same routes as in virtual time: drawn from the frozen plan's hash, not the arrival order.
    references = {
        a.id: ReferenceRoutes(plan, ctx.plan_hash, cases, a)
        for a in plan.arms
        if isinstance(a, FixedArmSpec | RandomArmSpec | OracleArmSpec)
    }
    used |= {key for routes in references.values() for key in routes.model_keys}
    missing = sorted(k for k in used if k not in plan.models)
    if missing:
        raise ArmError(f"routing: expected keys of models, found {missing}")
    downstream = _Downstream(ctx, used)
    arms: dict[str, LiveArm] = {}
    for index, arm in enumerate(plan.arms):
        if isinstance(arm, RouterArmSpec):
            arms[arm.id] = LiveRouterArm(arm, plan, live_classifier(ctx, index, arm), downstream)
        elif isinstance(arm, ControlArmSpec | FixedArmSpec):
            arms[arm.id] = LiveControlArm(arm.id, arm.model, downstream)
        elif isinstance(arm, RandomArmSpec | OracleArmSpec):
            arms[arm.id] = LiveReferenceArm(arm.id, references[arm.id], downstream)
        elif isinstance(arm, ServiceArmSpec):
            arms[arm.id] = LiveServiceArm(arm, plan, pool, ctx.redactor, downstream.grade)
        else:
            raise ArmError(
                f"arms[{index}].kind: expected an arm that runs on the wall clock, found {arm.kind!r}"
            )
    return arms
