"""The pre-registration: the plan schema, its canonical hash, the lock and the shared records.

``prereg`` is the base of routetrial: every other package may import it and it imports none of them.
"""

from prereg.errors import (
    AnalysisError,
    ArmError,
    CorpusError,
    InputError,
    LockError,
    PlanChangedError,
    PlanMeaningError,
    PlanNotFrozenError,
    PlanSchemaError,
    PlanSyntaxError,
    RoutetrialError,
    StoreBusyError,
    StoreError,
    StorePlanMismatchError,
    StoreWriteError,
    TraceError,
)
from prereg.records import STATUSES, TRIAL_COLUMNS, Case, Column, Status, TrialRecord
from prereg.schema import DEFAULT_LABELS, Plan

__all__ = [
    "DEFAULT_LABELS",
    "STATUSES",
    "TRIAL_COLUMNS",
    "AnalysisError",
    "ArmError",
    "Case",
    "Column",
    "CorpusError",
    "InputError",
    "LockError",
    "Plan",
    "PlanChangedError",
    "PlanMeaningError",
    "PlanNotFrozenError",
    "PlanSchemaError",
    "PlanSyntaxError",
    "RoutetrialError",
    "Status",
    "StoreBusyError",
    "StoreError",
    "StorePlanMismatchError",
    "StoreWriteError",
    "TraceError",
    "TrialRecord",
]
