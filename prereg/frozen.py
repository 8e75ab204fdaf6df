"""The gate every later command passes through: a frozen, unchanged plan or a clear refusal.

``run``, ``analyze``, ``report`` and ``design`` call :func:`load_frozen_plan`. It refuses a plan that
was never frozen (:class:`PlanNotFrozenError`) or whose bytes, corpus, trace or log changed since
(:class:`PlanChangedError`), with a message saying how to proceed: restore the plan, or amend it
with ``routetrial amend PLAN --reason TEXT`` and freeze the amendment. A change of the analysis code
alone is not refused here: it is reported in :attr:`FrozenPlan.analysis_code_matches`, and the
``analyze`` command decides (``--deviation`` records the reason in the log).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prereg.check import CheckedPlan, load_checked_plan
from prereg.errors import InputError, PlanChangedError
from prereg.lock import LockRecord, VerifyReport, verify
from prereg.records import Case
from prereg.schema import Plan
from prereg.study_files import lock_path

__all__ = ["FrozenPlan", "load_frozen_plan"]


@dataclass(frozen=True)
class FrozenPlan:
    """A frozen plan that verified: the plan, its corpus, its hashes and its lock record."""

    path: Path
    plan: Plan
    canonical_hash: str
    bytes_hash: str
    corpus: tuple[Case, ...]
    corpus_sha256: str
    lock: LockRecord
    analysis_code_matches: bool


def load_frozen_plan(path: Path) -> FrozenPlan:
    """Load a plan that is frozen and unchanged (apart, possibly, from the analysis code).

    Raises :class:`PlanNotFrozenError` when the plan has no lock record and
    :class:`PlanChangedError` when plan bytes, corpus, trace, log, lock record or amendment chain disagree
    with it.
    """
    path = Path(path)
    if not lock_path(path).exists():
        verify(path)  # raises: a mistyped path (InputError) or a plan never frozen (PlanNotFrozenError)
    try:
        # The plan and corpus are read and hashed once: the checked plan's hashes are what verify()
        # compares with the lock, so what is returned is exactly what was verified.
        checked: CheckedPlan | None = load_checked_plan(path)
    except InputError:
        checked = None  # a plan that no longer checks: say what changed since freezing, if anything
    report = verify(path, checked=checked)
    refused = tuple(c for c in report.changes if c.what != "analysis code")
    if refused:
        described = VerifyReport(path, report.lock, refused).describe()
        raise PlanChangedError(
            f"{path}: {described}; a frozen plan is not edited: restore it, or run "
            f"`routetrial amend {path} --reason TEXT`, edit the amendment and freeze it"
        )
    if checked is None:
        checked = load_checked_plan(path)  # unchanged yet failing: raise its own one-line error
    return FrozenPlan(
        path=path,
        plan=checked.plan,
        canonical_hash=checked.canonical_sha256,
        bytes_hash=checked.bytes_sha256,
        corpus=checked.corpus,
        corpus_sha256=checked.corpus_sha256,
        lock=report.lock,
        analysis_code_matches=report.analysis_code_matches,
    )
