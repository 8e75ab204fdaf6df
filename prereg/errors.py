"""The one error root of routetrial and its subclasses.

Every error a user can cause by what they wrote or ran derives from :class:`RoutetrialError`, so
the CLI prints it as one line and exits non-zero; anything else is a bug and keeps its traceback.
Each error also subclasses the matching builtin, so callers can catch either::

    RoutetrialError(Exception)
    ├── InputError(ValueError)            bad input: file, field path, what was expected, what was found
    │   ├── PlanSyntaxError               YAML that does not parse (line and column)
    │   ├── PlanSchemaError               a field of the wrong type, unknown or missing
    │   ├── PlanMeaningError              a plan that parses but contradicts itself or its corpus
    │   ├── CorpusError                   a corpus file that is missing, malformed or changed
    │   ├── OutputCollisionError          an output path that is an input or a file of the study
    │   └── TraceError                    an arrival trace that is missing, unsorted or empty
    ├── LockError(RuntimeError)           the plan and its lock record disagree
    │   ├── PlanNotFrozenError            no lock record: freeze the plan first
    │   └── PlanChangedError              plan bytes, corpus, analysis code or log changed since freezing
    ├── StoreError(RuntimeError)          the trial store cannot be used
    │   ├── StoreBusyError                another process holds the store (DuckDB's single writer)
    │   ├── StorePlanMismatchError        the store belongs to another plan
    │   └── StoreWriteError               the store location is unwritable or full
    ├── ArmError(RuntimeError)            an arm is misconfigured (not a failed trial: those are data)
    ├── ServerError(RuntimeError)         a managed server would not start, get ready or say its version
    └── AnalysisError(ValueError)         trials that the locked analysis cannot use
"""

from __future__ import annotations

__all__ = [
    "AnalysisError",
    "ArmError",
    "CorpusError",
    "InputError",
    "LockError",
    "OutputCollisionError",
    "PlanChangedError",
    "PlanMeaningError",
    "PlanNotFrozenError",
    "PlanSchemaError",
    "PlanSyntaxError",
    "RoutetrialError",
    "ServerError",
    "StoreBusyError",
    "StoreError",
    "StorePlanMismatchError",
    "StoreWriteError",
    "TraceError",
]


class RoutetrialError(Exception):
    """Root of every error a user can cause; its message is one line, ready to print."""


class InputError(RoutetrialError, ValueError):
    """Bad input, located by file and field path.

    The message reads ``FILE: FIELD: expected ..., found ...`` so a reader can go straight to
    the spot; ``file`` and ``field`` are kept for programs that want them.
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        self.file = file
        self.field = field
        parts = [p for p in (file, field) if p]
        super().__init__(": ".join([*parts, message]))


class PlanSyntaxError(InputError):
    """The plan is not valid YAML."""


class PlanSchemaError(InputError):
    """A plan field has the wrong type, is unknown, or is missing."""


class PlanMeaningError(InputError):
    """The plan parses but contradicts itself, its taxonomy or its corpus."""


class CorpusError(InputError):
    """The corpus file is missing, malformed, empty or differs from its pinned hash."""


class OutputCollisionError(InputError):
    """An output path names a command's own input or a file of the study (plan, lock, store...)."""


class TraceError(InputError):
    """An arrival trace file is missing, unsorted or empty."""


class LockError(RoutetrialError, RuntimeError):
    """The plan and its lock record disagree."""


class PlanNotFrozenError(LockError):
    """The plan has no lock record."""


class PlanChangedError(LockError):
    """Something bound by the lock changed after freezing."""


class StoreError(RoutetrialError, RuntimeError):
    """The trial store cannot be used."""


class StoreBusyError(StoreError):
    """Another process holds the store."""


class StorePlanMismatchError(StoreError):
    """The store was created for a different plan."""


class StoreWriteError(StoreError):
    """The store location cannot be written."""


class ArmError(RoutetrialError, RuntimeError):
    """An arm is misconfigured; failed trials are data, not this error."""


class ServerError(RoutetrialError, RuntimeError):
    """A managed server of a live plan did not start, become ready or report its version."""


class AnalysisError(RoutetrialError, ValueError):
    """The locked analysis cannot use these trials."""
