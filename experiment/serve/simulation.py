"""What the test server simulates: the plan's simulated models, and what each request gets from them.

- The *case* is found by its text: a downstream request's user message is a case's text; a
  classifier prompt contains one (the longest contained case text wins); a judge prompt starts
  with :data:`arms._grading.JUDGE_PROMPT`'s first line.
- The *model* is found by name among the plan's simulated backends: a router arm's classifier
  model (classifier requests) or a ``models`` entry, by key or by ``model`` name (downstream
  and judge requests).
- Classifier requests: label, status and service time from :class:`arms.ClassifierBehaviour`;
  the reply is ``{"label": ...}`` when the request asks for JSON (``response_format``, or
  ``"label"`` in the prompt), else the bare label. A structured-output constraint
  (:mod:`experiment.serve.constraints`) restricts and shapes the reply: a simulated label the
  constraint allows is kept, any other (or a simulated ``unparseable``) is replaced by one drawn
  uniformly among the allowed, from the model's own ``serve:constrained:<key>`` stream in call
  order. ``n`` choices are ``n`` draws; the request fails (500) if any draw is an ``http_error``,
  and its service time is the longest draw's. Downstream requests: correctness and service
  time from :class:`arms.ModelBehaviour`; the answer is one the case's grader accepts exactly when
  the behaviour says correct. A simulated ``http_error`` is an HTTP 500, ``unparseable`` a reply
  that names no label.
- The replay index comes from the request's trial id (``arm:case:replay``) when sent: the
  ``x-request-id`` header less any ``#<n>`` retry suffix, else the older ``x-routetrial-trial``.
- Each model serves ``latency.concurrency`` requests at once (an asyncio semaphore); the rest
  queue, so latency grows under load as a real server's does. Service time is an asyncio sleep.

Nothing here speaks HTTP: :mod:`experiment.serve.server` turns a :class:`Reply` into a response.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from arms import ClassifierBehaviour, ModelBehaviour
from experiment.serve.constraints import NONE, Constraint, render
from experiment.serve.replies import JUDGE_MARK, UNPARSEABLE_LABEL, answer_text, judge_verdict
from prereg.records import Case, Status
from prereg.schema import Plan, RouterArmSpec, SimulatedClassifierSpec, SimulatedModelSpec
from prereg.seeding import derive_rng

__all__ = ["Reply", "RequestKind", "ServedModel", "Simulation", "occupy"]

RequestKind = Literal["classifier", "downstream", "judge", "unknown"]


@dataclass(slots=True)
class Reply:
    """What a simulated model answers: an HTTP status, the text (or error message), usage, time."""

    code: int
    text: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    service_ms: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    #: The texts of the choices (``n`` of them); empty means one choice, :attr:`text`.
    choices: list[str] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        """The text of each choice."""
        return self.choices or [self.text]


class ServedModel:
    """One simulated model name: its behaviour and its concurrency slots."""

    def __init__(
        self,
        behaviour: ClassifierBehaviour | ModelBehaviour,
        concurrency: int,
        tokens: tuple[int, int],
        key: str,
        draw_rng: np.random.Generator,
    ) -> None:
        self.behaviour = behaviour
        #: Draws among a constraint's allowed values when the behaviour's own is not allowed.
        self.draw_rng = draw_rng
        self.slots = asyncio.Semaphore(concurrency)
        self.tokens = tokens
        self.key = key


async def occupy(target: ServedModel | None, service_ms: float) -> None:
    """Spend ``service_ms`` in one of ``target``'s slots (queueing for one first); no slot: just wait."""
    if target is None:
        await asyncio.sleep(service_ms / 1000.0)
        return
    async with target.slots:
        await asyncio.sleep(service_ms / 1000.0)


def _classifiers(plan: Plan, cases: Sequence[Case], plan_hash: str) -> dict[str, ServedModel]:
    """The simulated classifier of each router arm, by its model name (the first arm's wins)."""
    seed = plan.randomization.seed
    out: dict[str, ServedModel] = {}
    for arm in plan.arms:
        if isinstance(arm, RouterArmSpec) and isinstance(arm.classifier.backend, SimulatedClassifierSpec):
            spec = arm.classifier.backend
            rng = derive_rng(seed, plan_hash, f"serve:arm:{arm.id}")
            behaviour = ClassifierBehaviour(spec, plan.taxonomy.labels, cases, rng)
            out.setdefault(
                arm.classifier.model,
                ServedModel(
                    behaviour,
                    spec.latency.concurrency,
                    (spec.tokens.input, spec.tokens.output),
                    arm.id,
                    derive_rng(seed, plan_hash, f"serve:constrained:{arm.id}"),
                ),
            )
    return out


def _models(plan: Plan, cases: Sequence[Case], plan_hash: str) -> dict[str, ServedModel]:
    """The simulated downstream models, by ``model`` name and by key (the first entry's wins)."""
    seed = plan.randomization.seed
    out: dict[str, ServedModel] = {}
    for key, model in plan.models.items():
        if isinstance(model.backend, SimulatedModelSpec):
            mspec = model.backend
            m = ServedModel(
                ModelBehaviour(mspec, cases, derive_rng(seed, plan_hash, f"serve:model:{key}")),
                mspec.latency.concurrency,
                (mspec.tokens.input, mspec.tokens.output),
                key,
                derive_rng(seed, plan_hash, f"serve:constrained:{key}"),
            )
            out.setdefault(model.model, m)
            out.setdefault(key, m)
    return out


class Simulation:
    """A plan's simulated classifiers and models, and the lookups that route a request to them."""

    def __init__(self, plan: Plan, cases: Sequence[Case], plan_hash: str) -> None:
        self.plan = plan
        self._cases = tuple(cases)
        self._by_text = {c.text: c for c in cases}
        self._by_prompt: dict[str, Case | None] = {}
        self._replays: dict[tuple[str, str], int] = {}
        self.classifiers = _classifiers(plan, cases, plan_hash)
        self.models = _models(plan, cases, plan_hash)

    def _case_in(self, prompt: str) -> Case | None:
        if prompt not in self._by_prompt:
            found = [c for c in self._cases if c.text in prompt]
            self._by_prompt[prompt] = max(found, key=lambda c: len(c.text)) if found else None
        return self._by_prompt[prompt]

    def _replay(self, trial: str | None, model: str, case: Case) -> int:
        if trial is not None:
            tail = trial.rsplit(":", 1)[-1]
            if tail.isdigit():
                return int(tail)
        key = (model, case.id)
        n = self._replays.get(key, 0)
        self._replays[key] = n + 1
        return n

    def classify(self, model: str, prompt: str) -> tuple[RequestKind, Case | None]:
        """What kind of request a model name and a prompt make, and the case it is about."""
        if prompt.startswith(JUDGE_MARK):
            return "judge", self._case_in(prompt.split("Reference answer:", 1)[0])
        exact = self._by_text.get(prompt)
        if exact is not None and model in self.models:
            return "downstream", exact
        case = self._case_in(prompt)
        if case is not None and model in self.classifiers:
            return "classifier", case
        if case is not None and model in self.models:
            return "downstream", case
        return "unknown", case

    def target(self, kind: RequestKind, model: str) -> ServedModel | None:
        """The model whose slots a request of ``kind`` for ``model`` occupies (None: not served)."""
        return self.classifiers.get(model) if kind == "classifier" else self.models.get(model)

    def reply(
        self,
        kind: RequestKind,
        model: str,
        prompt: str,
        case: Case | None,
        trial: str | None,
        constraint: Constraint = NONE,
        n: int = 1,
    ) -> Reply:
        """What ``model`` answers (as the simulated behaviour decides) to a request already classified."""
        if kind == "unknown" or case is None:
            known = model in self.classifiers or model in self.models
            what = "no corpus case in the request" if known else f"model {model!r} not served here"
            return Reply(400 if known else 404, what)
        if kind == "judge":
            m = self.models[model]
            verdict = judge_verdict(prompt)
            texts = [_constrained(verdict, constraint, m, "answer") for _ in range(n)]
            return Reply(200, texts[0], m.tokens[0], n, 0.0, choices=texts)
        if kind == "classifier":
            c = self.classifiers[model]
            assert isinstance(c.behaviour, ClassifierBehaviour)
            replay = self._replay(trial, model, case)
            decisions = [c.behaviour.decide(case, replay) for _ in range(n)]
            if constraint is NONE and '"label"' in prompt:
                constraint = Constraint(None, "json_object")
            texts = [_constrained(label, constraint, c, "label") for label, _, _ in decisions]
            return _outcome([(s, t, ms) for (_, s, ms), t in zip(decisions, texts, strict=True)], c.tokens)
        m = self.models[model]
        assert isinstance(m.behaviour, ModelBehaviour)
        replay = self._replay(trial, model, case)
        grader = self.plan.graders.get(case.grader) if case.grader else None
        outcomes: list[tuple[Status, str, float]] = []
        for _ in range(n):
            correct, status, service = m.behaviour.answer(case, replay)
            text = answer_text(case, correct, grader, model)
            if status == "unparseable":
                text = UNPARSEABLE_LABEL
            outcomes.append((status, _constrained(text, constraint, m, "answer"), service))
        return _outcome(outcomes, m.tokens)


def _constrained(value: str | None, constraint: Constraint, model: ServedModel, key: str) -> str:
    """``value`` (None: a failure to name one) as the constraint allows and shapes it."""
    allowed = constraint.allowed
    if allowed is not None and value not in allowed:
        value = allowed[int(model.draw_rng.integers(len(allowed)))]
    if value is None:  # unconstrained: a reply that names no label (as without a constraint)
        return UNPARSEABLE_LABEL
    return render(value, constraint, key)


def _outcome(outcomes: list[tuple[Status, str, float]], tokens: tuple[int, int]) -> Reply:
    """One reply of ``n`` draws: a 500 if any is an ``http_error``; the longest draw's service time."""
    service = max(ms for _, _, ms in outcomes)
    if any(status == "http_error" for status, _, _ in outcomes):
        return Reply(500, "simulated server error", service_ms=service)
    texts = [text for _, text, _ in outcomes]
    return Reply(200, texts[0], tokens[0], tokens[1] * len(texts), service, choices=texts)
