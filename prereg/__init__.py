"""The pre-registration: the plan schema, its canonical hash, the lock and the shared records.

``prereg`` is the base of routetrial: every other package may import it and it imports none of them.
"""

from prereg.amend import amend
from prereg.canonical import analysis_code_hash, bytes_hash, canonical_hash, canonical_json
from prereg.check import CheckedPlan, check_plan, load_checked_plan
from prereg.corpus import load_corpus, parse_corpus
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
from prereg.frozen import FrozenPlan, load_frozen_plan
from prereg.loader import LoadedPlan, format_path, load_plan, read_plan
from prereg.lock import Change, LockRecord, VerifyReport, freeze, read_lock, verify
from prereg.log import LogEntry, append_log, read_log
from prereg.records import STATUSES, TRIAL_COLUMNS, Case, Column, Status, TrialRecord
from prereg.schema import DEFAULT_LABELS, Plan
from prereg.study_files import amendment_path, lock_path, log_path, plan_root
from prereg.trace import parse_trace

__all__ = [
    "DEFAULT_LABELS",
    "STATUSES",
    "TRIAL_COLUMNS",
    "AnalysisError",
    "ArmError",
    "Case",
    "Change",
    "CheckedPlan",
    "Column",
    "CorpusError",
    "FrozenPlan",
    "InputError",
    "LoadedPlan",
    "LockError",
    "LockRecord",
    "LogEntry",
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
    "VerifyReport",
    "amend",
    "amendment_path",
    "analysis_code_hash",
    "append_log",
    "bytes_hash",
    "canonical_hash",
    "canonical_json",
    "check_plan",
    "format_path",
    "freeze",
    "load_checked_plan",
    "load_corpus",
    "load_frozen_plan",
    "load_plan",
    "lock_path",
    "log_path",
    "parse_corpus",
    "parse_trace",
    "plan_root",
    "read_lock",
    "read_log",
    "read_plan",
    "verify",
]
