"""The plan's study section: who runs the study, what it claims in advance, and which gates decide it.

A hypothesis is a bare statement (linked to no gate, as every plan wrote it before hypotheses could
name gates) or a mapping that names the gates deciding it, and the arms it speaks of. A bare
statement is dumped bare, so the canonical hash of a plan that writes only statements is what it
was. Whether the named gates and arms exist, and the hypothesis ids are unique, is checked by
:mod:`prereg._check_study`. :mod:`prereg.schema` re-exports the public names.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from prereg._schema_numbers import Identifier, Spec

__all__ = ["HypothesisSpec", "StudySpec"]


class HypothesisSpec(Spec):
    """A claim made in advance and, when it names them, the gates that decide it.

    The plan writes a bare statement (``- "Routing keeps accuracy"``: no gate decides it) or the
    mapping ``{id: H1, statement: "...", gates: [accuracy, latency_p95], arms: [qwen]}``. For each
    of ``arms`` (absent: every arm the gates judge, :attr:`prereg.schema.Plan.decision_arms`) the
    hypothesis holds when every named gate passes for that arm: an intersection-union test over
    the gates, as an arm's viability is over all of them.
    """

    id: Identifier | None = None
    statement: str
    gates: tuple[Identifier, ...] = ()
    arms: tuple[Identifier, ...] | None = None

    @property
    def linked(self) -> bool:
        """Whether some gate decides this hypothesis."""
        return bool(self.gates)

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A statement with nothing else is dumped bare, as before the mapping form existed: frozen
        # plans keep their canonical hash, and `{statement: s}` hashes like `s`.
        if self.id is None and not self.gates and self.arms is None:
            return self.statement
        return handler(self)


class StudySpec(Spec):
    """Who runs the study and what it claims in advance."""

    title: str = Field(min_length=1)
    authors: list[str] = Field(min_length=1)
    hypotheses: list[HypothesisSpec] = Field(min_length=1)
    rationale: str = ""

    @field_validator("hypotheses", mode="before", json_schema_input_type=list[str | HypothesisSpec])
    @classmethod
    def _bare_statements(cls, value: Any) -> Any:
        """A bare statement ``s`` is the hypothesis ``{statement: s}``."""
        if isinstance(value, list):
            return [{"statement": item} if isinstance(item, str) else item for item in value]
        return value

    @property
    def linked_hypotheses(self) -> tuple[HypothesisSpec, ...]:
        """The hypotheses some gate decides, in plan order."""
        return tuple(h for h in self.hypotheses if h.linked)
