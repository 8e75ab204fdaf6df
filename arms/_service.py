"""A router service arm on the wall clock: the service routes and answers, the arm reads its pick.

One chat call per trial to the service (vLLM Semantic Router, LiteLLM's router, a RouteLLM
server), with the request text as the user message. The model the service chose is read from
the response header the plan names (``selected_model_header``), else from the body's ``model``
field, and mapped to a key of the plan's ``models`` (``served_models`` first, then each model's
``model`` name). The answer is graded like any downstream answer and priced at the chosen model's
prices. The routing decision is route-level: correct when the chosen model is the route of one
of the case's gold labels (:func:`route_correct`).

Outcomes are data. A call that fails (timeout, HTTP error, ...) fails both the decision and the
answer with its status; a reply that names no model, or a model the plan does not know, is the
status ``unknown_model``: the plan can neither price that answer nor say whether the route was
right, so it is a failed trial, stored and counted like any other.

Latency: the service shows no decision time apart from its answer, so the routing latency is the
time from the scheduled send to the response headers, an upper bound of the decision
(:class:`prereg.schema.ServiceArmSpec`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from arms._backend import ChatResult, cost_usd
from arms._client_pool import ClientPool
from arms._openai import OpenAIChat
from arms._protocol import ArmOutcome, ArmRequest, DownstreamOutcome, RoutingOutcome
from arms._redaction import Redactor
from prereg.records import Case, Status
from prereg.schema import Plan, PriceSpec, ServiceArmSpec

__all__ = ["LiveServiceArm", "model_key", "route_correct"]

#: ``(case, answer text) -> graded correct`` (None: ungraded), the downstream grading of the plan.
Grade = Callable[[ArmRequest, str], Awaitable[bool | None]]


def model_key(spec: ServiceArmSpec, plan: Plan, served: str | None) -> str | None:
    """The key of ``models`` the service's reported model name stands for (None: unknown)."""
    if served is None:
        return None
    if served in spec.served_models:
        return spec.served_models[served]
    for key, model in plan.models.items():
        if model.model == served:
            return key
    return None


def route_correct(case: Case, key: str, routes: Mapping[str, str], fallback: str) -> bool:
    """Whether model ``key`` is the route of one of the case's gold labels (route-level accuracy)."""
    return any(routes.get(label, fallback) == key for label in case.gold_labels)


class LiveServiceArm:
    """A router service arm (a :class:`~arms.LiveArm`)."""

    def __init__(
        self, spec: ServiceArmSpec, plan: Plan, pool: ClientPool, redactor: Redactor, grade: Grade
    ) -> None:
        self._spec = spec
        self._plan = plan
        self._redactor = redactor
        self._grade = grade
        self._chat = OpenAIChat(
            pool,
            spec.backend,
            spec.model,
            spec.decoding,
            spec.timeout_ms,
            spec.retry,
            served_model_header=spec.selected_model_header,
        )

    @property
    def id(self) -> str:
        """The arm id."""
        return self._spec.id

    async def handle(self, request: ArmRequest, clock: Callable[[], float]) -> ArmOutcome:
        """Send the request to the service; read its pick; grade its answer."""
        sent = clock()
        call = await self._chat.complete(
            [{"role": "user", "content": request.case.text}], clock, tag=request.trial_id
        )
        end = clock()
        routing, downstream = await self._outcomes(request, call)
        return ArmOutcome(sent_s=sent, end_s=end, routing=routing, downstream=downstream, wire_s=call.wire_s)

    async def _outcomes(
        self, request: ArmRequest, call: ChatResult
    ) -> tuple[RoutingOutcome, DownstreamOutcome | None]:
        plan = self._plan
        decided = call.first_byte_s if call.first_byte_s is not None else call.end_s
        key = model_key(self._spec, plan, call.served_model) if call.status == "ok" else None
        status: Status = call.status
        error = self._redactor.optional(call.error)
        if call.status == "ok" and key is None:
            status = "unknown_model"
            header = self._spec.selected_model_header
            where = f"header {header}" if header is not None else "the body's model field"
            error = self._redactor.text(
                f"the service named model {call.served_model!r} in {where}: not a model of the plan"
                if call.served_model is not None
                else f"the service named no model ({where} absent)"
            )
        price = plan.models[key].price if key is not None else PriceSpec()
        cost = cost_usd(call.tokens_in, call.tokens_out, price)
        routing = RoutingOutcome(
            status=status,
            latency_ms=(decided - request.scheduled_s) * 1000.0,
            predicted_label=None,
            attempts=call.attempts,
            tokens_in=0,
            tokens_out=0,
            cost_usd=0.0,
            first_token_ms=None,
            error=error if status != "ok" else None,
            route_correct=(
                None
                if key is None
                else route_correct(request.case, key, plan.routing.routes, plan.routing.fallback)
            ),
        )
        if status != "ok":
            # No answer came back, or one from a model the plan cannot price or route-grade: the
            # failure is the routing decision's (the trial's first failure).
            return routing, None
        assert key is not None  # status ok: the model is known
        correct = await self._grade(request, call.text) if call.text is not None else None
        downstream = DownstreamOutcome(
            model=key,
            status="ok",
            latency_ms=(call.end_s - decided) * 1000.0,
            correct=correct,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            cost_usd=cost,
            first_token_ms=(
                None if call.first_token_s is None else (call.first_token_s - request.scheduled_s) * 1000.0
            ),
        )
        return routing, downstream
