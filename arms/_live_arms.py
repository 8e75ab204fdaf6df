"""Live arms: the control and router arms over OpenAI-compatible endpoints.

A :class:`LiveRouterArm` asks its classifier for a label (one chat call, parsed by the plan's
rule), sends the request on to the model the routing table names for that label (the
``fallback`` model when routing failed), and grades the answer when the case has a grader. A
:class:`LiveControlArm` sends every request straight to its default model. Both satisfy
:class:`arms.LiveArm` and return a :class:`LiveArmResult`, an :class:`~arms.ArmResult` that also
carries the per-request timeline (:class:`LiveTimings`) the live scheduler journals.

Latencies are measured from the request's *scheduled* time on the caller's clock, so a late send
or a retry is counted, never hidden (no coordinated omission). The downstream latency is the
duration of the downstream call (retries included); the judge call of a ``judge`` grader is
grading, not serving, so its time and tokens are not part of the trial.

Secrets: the value of every environment variable a plan names in an ``api_key_env`` is replaced
by ``[redacted]`` in every text a live reply puts into a trial (error texts, the reply quoted in
an ``unparseable`` error), whichever backend's key it is and whichever server echoed it, before
the trial is journalled, stored, printed or rendered (:class:`Redactor`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from arms._grading import JudgeCall, grade_case
from arms._openai import ChatResult, ClientPool, OpenAIChat
from arms._parsing import parse_label, parse_verdict
from arms._protocol import ArmRequest, ArmResult, DownstreamOutcome, RoutingOutcome
from prereg.errors import ArmError
from prereg.records import Case, Status
from prereg.schema import ModelSpec, OpenAIBackendSpec, Plan, PriceSpec, RouterArmSpec

__all__ = [
    "REDACTED",
    "LiveArmResult",
    "LiveControlArm",
    "LiveRouterArm",
    "LiveTimings",
    "Redactor",
    "build_live_arms",
    "cost_usd",
    "plan_secrets",
    "render_prompt",
]

#: What a secret is replaced with in any text of a trial.
REDACTED = "[redacted]"
#: A text cut by a length limit may end in the first characters of a key: from this many on,
#: such a tail is redacted as well.
_MIN_PREFIX = 4


class Redactor:
    """Replaces every occurrence of the given secrets in a text by :data:`REDACTED`.

    Each secret is matched as it is, without surrounding whitespace (a key read from a file may
    end in a newline that the header does not carry), and as ``repr`` and JSON would escape it (an
    error object quoted from a reply). A text that ends in the first characters of a secret (cut
    by a length limit) has that tail redacted too.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            for value in (secret, secret.strip()):
                if value:
                    forms |= {value, repr(value)[1:-1], json.dumps(value)[1:-1]}
        self._forms = tuple(sorted(forms, key=lambda v: (-len(v), v)))

    def __bool__(self) -> bool:
        return bool(self._forms)

    def text(self, value: str) -> str:
        """``value`` with every secret replaced."""
        for form in self._forms:
            value = value.replace(form, REDACTED)
        for form in self._forms:
            for n in range(len(form) - 1, min(_MIN_PREFIX, len(form)) - 1, -1):
                if value.endswith(form[:n]):
                    return value[: len(value) - n] + REDACTED
        return value

    def optional(self, value: str | None) -> str | None:
        """Like :meth:`text`; None stays None."""
        return None if value is None else self.text(value)


def plan_secrets(plan: Plan, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values of the environment variables named by the plan's ``api_key_env`` fields."""
    env = os.environ if environ is None else environ
    backends: list[object] = [m.backend for m in plan.models.values()]
    backends += [a.classifier.backend for a in plan.router_arms]
    names = {b.api_key_env for b in backends if isinstance(b, OpenAIBackendSpec) and b.api_key_env}
    return tuple(sorted(v for v in (env.get(name) for name in names) if v))


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
class LiveArmResult(ArmResult):
    """An :class:`~arms.ArmResult` with the request's live timeline."""

    timings: LiveTimings | None = None


def cost_usd(tokens_in: int, tokens_out: int, price: PriceSpec) -> float:
    """Tokens times the plan's prices (US dollars per 1,000 tokens)."""
    return tokens_in / 1000.0 * price.input_per_1k + tokens_out / 1000.0 * price.output_per_1k


def render_prompt(template: str, text: str, labels: Sequence[str]) -> str:
    """The classifier prompt: ``{text}`` and ``{labels}`` filled in (other braces kept as is)."""
    return template.replace("{labels}", ", ".join(labels)).replace("{text}", text)


def _ms(t: float | None, origin: float) -> float | None:
    return None if t is None else (t - origin) * 1000.0


def _openai_backend(where: str, spec: object) -> OpenAIBackendSpec:
    if not isinstance(spec, OpenAIBackendSpec):
        raise ArmError(f"{where}: live mode expected kind: openai, found kind: simulated")
    return spec


class _Downstream:
    """The downstream models and graders shared by every arm of a plan."""

    def __init__(
        self, plan: Plan, pool: ClientPool, model_keys: set[str], redactor: Redactor | None = None
    ) -> None:
        self._plan = plan
        self.redactor = redactor or Redactor(plan_secrets(plan))
        self._chats: dict[str, OpenAIChat] = {}
        for key in sorted(model_keys):
            spec = plan.models[key]
            self._chats[key] = self._chat(pool, key, spec)
        self._judges: dict[str, JudgeCall] = {}
        for name, grader in sorted(plan.graders.items()):
            if grader.kind != "judge":
                continue
            if grader.judge_model is None or grader.judge_model not in plan.models:
                raise ArmError(
                    f"graders.{name}.judge_model: expected a key of models, found {grader.judge_model!r}"
                )
            judge = self._chat(pool, grader.judge_model, plan.models[grader.judge_model])
            self._judges[grader.judge_model] = _make_judge(judge)

    @staticmethod
    def _chat(pool: ClientPool, key: str, spec: ModelSpec) -> OpenAIChat:
        backend = _openai_backend(f"models.{key}.backend", spec.backend)
        return OpenAIChat(pool, backend, spec.model, spec.decoding, spec.timeout_ms, spec.retry)

    async def answer(
        self, key: str, request: ArmRequest, clock: Callable[[], float]
    ) -> tuple[DownstreamOutcome, ChatResult]:
        spec = self._plan.models[key]
        call = await self._chats[key].complete(
            [{"role": "user", "content": request.case.text}], clock, tag=request.trial_id
        )
        correct: bool | None = None
        if call.status == "ok" and call.text is not None:
            correct = await grade_case(request.case, call.text, self._plan.graders, self._judges)
        outcome = DownstreamOutcome(
            model=key,
            status=call.status,
            latency_ms=(call.end_s - call.started_s) * 1000.0,
            correct=correct,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            cost_usd=cost_usd(call.tokens_in, call.tokens_out, spec.price),
            error=self.redactor.optional(call.error),
        )
        return outcome, call


def _make_judge(chat: OpenAIChat) -> JudgeCall:
    async def judge(prompt: str, tag: str) -> bool | None:
        # The judge needs no clock of the campaign: its timing is not part of the trial.
        call = await chat.complete([{"role": "user", "content": prompt}], time.monotonic, tag=f"judge:{tag}")
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

    async def handle(self, request: ArmRequest, clock: Callable[[], float]) -> ArmResult:
        """Send the request to the default model and grade the answer."""
        sent = clock()
        outcome, call = await self._downstream.answer(self._model_key, request, clock)
        end = clock()
        timings = LiveTimings(sent, call.first_byte_s, call.first_token_s, None, call.first_token_s, end)
        return LiveArmResult(sent_s=sent, end_s=end, routing=None, downstream=outcome, timings=timings)


class LiveRouterArm:
    """A router arm: classifier label -> routing table -> downstream model."""

    def __init__(
        self, spec: RouterArmSpec, plan: Plan, classifier: OpenAIChat, downstream: _Downstream
    ) -> None:
        self._spec = spec
        self._labels = tuple(plan.taxonomy.labels)
        self._routes: Mapping[str, str] = plan.routing.routes
        self._fallback = plan.routing.fallback
        self._classifier = classifier
        self._downstream = downstream

    @property
    def id(self) -> str:
        """The arm id."""
        return self._spec.id

    async def handle(self, request: ArmRequest, clock: Callable[[], float]) -> ArmResult:
        """Route the request with the classifier, then send it on and grade the answer."""
        sent = clock()
        c = self._spec.classifier
        prompt = render_prompt(c.prompt_template, request.case.text, self._labels)
        call = await self._classifier.complete(
            [{"role": "user", "content": prompt}], clock, tag=request.trial_id
        )
        status: Status = call.status
        label: str | None = None
        redact = self._downstream.redactor
        error = redact.optional(call.error)
        if status == "ok" and call.text is not None:
            label = parse_label(call.text, self._labels, c.parsing)
            if label is None:
                status = "unparseable"
                # Redacted before the cut (a key cut in two would leak its first part) and after
                # the quoting (repr escapes some characters).
                reply = redact.text(call.text)[:80]
                error = redact.text(f"reply {reply!r} names no taxonomy label under rule {c.parsing}")
        routing = RoutingOutcome(
            status=status,
            latency_ms=(call.end_s - request.scheduled_s) * 1000.0,
            predicted_label=label,
            attempts=call.attempts,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            cost_usd=cost_usd(call.tokens_in, call.tokens_out, c.price),
            first_token_ms=_ms(call.first_token_s, request.scheduled_s),
            error=error,
        )
        target = self._routes.get(label, self._fallback) if label is not None else self._fallback
        outcome, down = await self._downstream.answer(target, request, clock)
        end = clock()
        timings = LiveTimings(
            sent, call.first_byte_s, call.first_token_s, call.end_s, down.first_token_s, end
        )
        return LiveArmResult(sent_s=sent, end_s=end, routing=routing, downstream=outcome, timings=timings)


def build_live_arms(
    plan: Plan, cases: Sequence[Case], pool: ClientPool
) -> dict[str, LiveControlArm | LiveRouterArm]:
    """Live arms keyed by arm id, sharing one client pool and one chat client per model.

    Raises :class:`~prereg.errors.ArmError` when a backend the plan uses is not ``openai``, an API
    key's environment variable is unset, or a case names a grader the plan lacks.
    """
    for case in cases:
        if case.grader is not None and case.grader not in plan.graders:
            raise ArmError(
                f"corpus: case {case.id}: grader: expected a key of graders, found {case.grader!r}"
            )
    used = set(plan.routing.routes.values()) | {plan.routing.fallback}
    used |= {a.model for a in plan.arms if not isinstance(a, RouterArmSpec)}
    missing = sorted(k for k in used if k not in plan.models)
    if missing:
        raise ArmError(f"routing: expected keys of models, found {missing}")
    downstream = _Downstream(plan, pool, used)
    arms: dict[str, LiveControlArm | LiveRouterArm] = {}
    for arm in plan.arms:
        if isinstance(arm, RouterArmSpec):
            c = arm.classifier
            backend = _openai_backend(f"arms.{arm.id}.classifier.backend", c.backend)
            chat = OpenAIChat(
                pool, backend, c.model, c.decoding, c.timeout_ms, c.retry, labels=plan.taxonomy.labels
            )
            arms[arm.id] = LiveRouterArm(arm, plan, chat, downstream)
        else:
            arms[arm.id] = LiveControlArm(arm.id, arm.model, downstream)
    return arms
