"""The ``openai`` backend: a classifier and a downstream model over :class:`~arms._openai.OpenAIChat`.

Wall clock only (``OpenAIBackendSpec.TIME_MODELS``). The classifier renders the plan's prompt,
sends one chat call (retries as the plan says) and parses the reply with the plan's rule; a reply
that names no taxonomy label is the status ``unparseable``, its text quoted (redacted, cut) in the
error. The model sends the request text as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from arms._backend import Backend, ChatResult, Classification, LiveContext
from arms._openai import OpenAIChat
from arms._parsing import parse_label
from arms._protocol import ArmRequest
from arms._redaction import Redactor
from prereg.errors import ArmError
from prereg.schema import ClassifierSpec, ModelSpec, OpenAIBackendSpec, RouterArmSpec

__all__ = ["OPENAI", "OpenAIClassifier", "OpenAIModel", "render_prompt"]


def render_prompt(template: str, text: str, labels: Sequence[str]) -> str:
    """The classifier prompt: ``{text}`` and ``{labels}`` filled in (other braces kept as is)."""
    return template.replace("{labels}", ", ".join(labels)).replace("{text}", text)


class OpenAIClassifier:
    """A router's classifier behind an OpenAI-compatible endpoint (a :class:`~arms._backend.LiveClassifier`)."""

    def __init__(
        self, spec: ClassifierSpec, chat: OpenAIChat, labels: Sequence[str], redactor: Redactor
    ) -> None:
        if spec.prompt_template is None:
            raise ArmError("classifier.prompt_template: expected a template containing {text} and {labels}")
        self._template = spec.prompt_template
        self._parsing = spec.parsing
        strip = " (reasoning stripped)" if spec.parsing.strip_reasoning else ""
        self._rule_name = f"{spec.parsing.rule}{strip}"
        self._chat = chat
        self._labels = tuple(labels)
        self._redact = redactor

    async def classify(self, request: ArmRequest, clock: Callable[[], float]) -> Classification:
        """One chat call with the rendered prompt, its reply parsed by the plan's rule."""
        prompt = render_prompt(self._template, request.case.text, self._labels)
        call = await self._chat.complete([{"role": "user", "content": prompt}], clock, tag=request.trial_id)
        redact = self._redact
        status, label, error = call.status, None, redact.optional(call.error)
        if status == "ok" and call.text is not None:
            label = parse_label(
                call.text, self._labels, self._parsing.rule, strip=self._parsing.strip_reasoning
            )
            if label is None:
                status = "unparseable"
                # Redacted before the cut (a key cut in two would leak its first part) and after
                # the quoting (repr escapes some characters).
                reply = redact.text(call.text)[:80]
                error = redact.text(f"reply {reply!r} names no taxonomy label under rule {self._rule_name}")
        return Classification(label, status, error, call)


class OpenAIModel:
    """A downstream model behind an OpenAI-compatible endpoint (a :class:`~arms._backend.LiveModel`)."""

    def __init__(self, chat: OpenAIChat) -> None:
        self._chat = chat

    async def answer(self, text: str, clock: Callable[[], float], *, tag: str | None = None) -> ChatResult:
        """One chat call with ``text`` as the user message."""
        return await self._chat.complete([{"role": "user", "content": text}], clock, tag=tag)


def _backend(where: str, spec: object) -> OpenAIBackendSpec:
    if not isinstance(spec, OpenAIBackendSpec):  # the registry dispatches on kind: a bug if hit
        raise ArmError(f"{where}.kind: expected 'openai', found {getattr(spec, 'kind', spec)!r}")
    return spec


def live_classifier(ctx: LiveContext, index: int, arm: RouterArmSpec) -> OpenAIClassifier:
    """The classifier of ``plan.arms[index]``."""
    c = arm.classifier
    backend = _backend(f"arms[{index}].classifier.backend", c.backend)
    labels = ctx.plan.taxonomy.labels
    chat = OpenAIChat(ctx.pool, backend, c.model, c.decoding, c.timeout_ms, c.retry, labels=labels)
    return OpenAIClassifier(c, chat, labels, ctx.redactor)


def live_model(ctx: LiveContext, key: str, spec: ModelSpec) -> OpenAIModel:
    """The downstream model ``plan.models[key]``."""
    backend = _backend(f"models.{key}.backend", spec.backend)
    return OpenAIModel(OpenAIChat(ctx.pool, backend, spec.model, spec.decoding, spec.timeout_ms, spec.retry))


#: The registry's entry: live classifier and live model, no virtual time.
OPENAI = Backend(live_classifier=live_classifier, live_model=live_model)
