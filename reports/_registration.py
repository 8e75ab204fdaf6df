"""What the report says about the registration: the lock record and the log, as plain data.

The report does not read files: the command that renders it passes the frozen plan's lock record
and its hash-chained log in these types (copied field by field from ``prereg``'s records), so the
report can be rendered from any source of the same facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["LogEvent", "ManagedServerFact", "Registration"]


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One entry of the plan's hash-chained log (freeze, amendment, deviation, ...)."""

    seq: int
    kind: str
    at_utc: str
    detail: Mapping[str, str]
    hash: str = ""


@dataclass(frozen=True, slots=True)
class ManagedServerFact:
    """A server the live run started itself: its command, version and pinned model file."""

    id: str
    command: str
    version: str | None
    model_file: str | None
    model_sha256: str | None
    startup_s: float | None


@dataclass(frozen=True, slots=True)
class Registration:
    """The frozen plan's lock record, whether the analysis code still matches it, and the log."""

    plan_path: str
    bytes_sha256: str
    canonical_sha256: str
    corpus_sha256: str
    frozen_at_utc: str
    git_commit: str | None
    routetrial_version: str
    analysis_code_sha256: str
    analysis_code_matches: bool
    parent_sha256: str | None = None
    log: tuple[LogEvent, ...] = field(default_factory=tuple)
    #: The managed servers of a live run (from its store), in plan order; empty otherwise.
    servers: tuple[ManagedServerFact, ...] = ()

    @property
    def amendments(self) -> tuple[LogEvent, ...]:
        """Log entries that amend the plan."""
        return tuple(e for e in self.log if "amend" in e.kind)

    @property
    def deviations(self) -> tuple[LogEvent, ...]:
        """Log entries that record a deviation from the plan."""
        return tuple(e for e in self.log if "deviation" in e.kind)
