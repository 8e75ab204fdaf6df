"""Freezing a plan, verifying it against its lock, and amending it.

``freeze`` writes ``<plan>.lock.json`` beside the plan (``plan.yaml.lock.json``): the SHA-256 of the
exact bytes, of the canonical form, of the corpus, of the arrival trace (``kind: trace``) and of the
analysis code, the UTC time, the git commit and the routetrial version. A lock is never rewritten: freezing an unchanged plan again
returns the existing record, freezing a changed one is refused. ``verify`` recomputes every hash
and names what changed. ``amend`` starts ``<stem>.amend-<n><suffix>``, a copy of the frozen plan
with an ``amendment`` block naming its parent's canonical hash; freezing it extends the chain.
Freezes and amendments are appended to the family's hash-chained log (:mod:`prereg.log`).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from prereg._check_examples import examples_changes
from prereg._check_servers import model_file_changes
from prereg.atomic_write import write_once
from prereg.canonical import analysis_code_hash, bytes_hash
from prereg.check import CheckedPlan, load_checked_plan, resolve_beside
from prereg.errors import InputError, PlanChangedError, PlanMeaningError, PlanNotFrozenError
from prereg.loader import read_plan
from prereg.log import append_log, log_problem, read_log, utc_now
from prereg.router_code import router_code_changes, router_code_hashes
from prereg.schema import TraceArrival
from prereg.study_files import amendment_path, lock_path, plan_root
from prereg.version import version

__all__ = [
    "Change",
    "LockRecord",
    "VerifyReport",
    "freeze",
    "lock_path",
    "read_lock",
    "verify",
]

LOCK_FORMAT = "routetrial-lock/1"


@dataclass(frozen=True)
class LockRecord:
    """What a freeze binds: the plan (bytes and meaning), its corpus and the analysis code."""

    bytes_sha256: str
    canonical_sha256: str
    corpus_sha256: str
    frozen_at_utc: str
    git_commit: str | None
    routetrial_version: str
    analysis_code_sha256: str
    parent_sha256: str | None
    #: The corpus path as written in the plan (relative to the plan file).
    corpus_path: str = ""
    #: The SHA-256 of the arrival trace file and its path as written (``kind: trace`` only).
    trace_sha256: str | None = None
    trace_path: str | None = None
    #: Per ``python`` router arm: ``{"callable": ..., "sha256": ...}`` of its source
    #: (:mod:`prereg.router_code`); empty for a plan without one (and in locks made before).
    router_code: dict[str, dict[str, str | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One thing that differs from the lock: ``what`` (``plan bytes``, ``corpus``, ``trace``,
    ``analysis code``, ``log``, ``lock record``, ``amendment chain``) and how."""

    what: str
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify`: the lock and everything that no longer agrees with it."""

    path: Path
    lock: LockRecord
    changes: tuple[Change, ...]

    @property
    def ok(self) -> bool:
        """True when plan bytes, corpus, analysis code and log all agree with the lock."""
        return not self.changes

    @property
    def analysis_code_matches(self) -> bool:
        """True when the analysis code is the one frozen with the plan."""
        return all(c.what != "analysis code" for c in self.changes)

    def describe(self) -> str:
        """One line: ``unchanged`` or ``changed since freezing: <what> (<how>); ...``."""
        if self.ok:
            return "unchanged"
        return "changed since freezing: " + "; ".join(f"{c.what} ({c.detail})" for c in self.changes)


def read_lock(plan_path: Path) -> LockRecord:
    """The lock record of a plan; :class:`PlanNotFrozenError` when there is none."""
    path = lock_path(plan_path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanNotFrozenError(
            f"{plan_path}: not frozen (no {path.name}): run `routetrial freeze {plan_path}` first"
        ) from None
    except (OSError, ValueError) as exc:
        raise PlanChangedError(f"{path}: lock record: expected a JSON lock record, found {exc}") from None
    names = {f.name for f in fields(LockRecord)}
    try:
        return LockRecord(**{k: v for k, v in obj.items() if k in names})
    except TypeError as exc:
        raise PlanChangedError(f"{path}: lock record: expected every lock field, found {exc}") from None


def freeze(plan_path: Path) -> LockRecord:
    """Check the plan and write its lock record (a no-op when already frozen and unchanged).

    Raises the check errors for a plan that is not valid, :class:`PlanChangedError` when the plan
    was frozen before and has changed since (a frozen plan is never rewritten: amend it), and
    :class:`PlanNotFrozenError` when an amendment's parent is not frozen.
    """
    plan_path = Path(plan_path)
    checked = load_checked_plan(plan_path)
    parent_sha = _check_amendment_block(checked)
    code_sha = analysis_code_hash()
    if lock_path(plan_path).exists():
        existing = read_lock(plan_path)
        changes = _compare(
            existing,
            checked.bytes_sha256,
            checked.canonical_sha256,
            checked.corpus_sha256,
            code_sha,
            checked.trace_sha256,
        )
        if changes:
            raise PlanChangedError(
                f"{plan_path}: already frozen, and "
                + VerifyReport(plan_path, existing, tuple(changes)).describe()
                + f"; a frozen plan is never rewritten: restore it, or run `routetrial amend {plan_path} --reason TEXT`"
            )
        return existing
    problem = log_problem(plan_path)
    if problem is not None:
        raise PlanChangedError(f"{plan_path}: log tampered: {problem}; not freezing")
    routers = router_code_hashes(checked.plan, plan_path)
    record = LockRecord(
        bytes_sha256=checked.bytes_sha256,
        canonical_sha256=checked.canonical_sha256,
        corpus_sha256=checked.corpus_sha256,
        frozen_at_utc=utc_now(),
        git_commit=_git_commit(plan_path.parent),
        routetrial_version=version(),
        analysis_code_sha256=code_sha,
        parent_sha256=parent_sha,
        corpus_path=checked.plan.corpus.path,
        trace_sha256=checked.trace_sha256,
        trace_path=_trace_path(checked),
        router_code=routers,
    )
    write_once(lock_path(plan_path), json.dumps({"format": LOCK_FORMAT, **asdict(record)}, indent=2) + "\n")
    append_log(plan_path, "freeze", _freeze_detail(plan_path, record))
    return record


def verify(plan_path: Path, *, checked: CheckedPlan | None = None) -> VerifyReport:
    """Recompute every hash bound by the lock and name what changed.

    Checks the plan's bytes, its corpus, its arrival trace, the analysis code, the log chain (and that it holds this
    freeze), and for an amendment that its parent is frozen with the hash it names and unchanged.
    Given ``checked`` (the plan just read and checked), its hashes of the plan, corpus and trace are
    compared instead of reading and hashing the files a second time.
    Raises :class:`PlanNotFrozenError` when there is no lock, and :class:`InputError` when there
    is neither a plan file nor a lock (a mistyped path).
    """
    plan_path = Path(plan_path)
    if not plan_path.exists() and not lock_path(plan_path).exists():
        raise InputError("expected a plan file, found no such file", file=str(plan_path))
    lock = read_lock(plan_path)
    plan_sha: str | None
    if checked is not None:
        plan_sha = checked.bytes_sha256
    else:
        try:
            plan_sha = bytes_hash(plan_path.read_bytes())
        except OSError:
            plan_sha = None
    changes: list[Change] = []
    if plan_sha is None:
        changes.append(Change("plan bytes", f"frozen {_short(lock.bytes_sha256)}, now the file is missing"))
    elif plan_sha != lock.bytes_sha256:
        changes.append(
            Change(
                "plan bytes",
                f"frozen {_short(lock.bytes_sha256)}, now {_short(plan_sha)}{_meaning_note(plan_path, lock)}",
            )
        )
    corpus_rel = lock.corpus_path or _corpus_path_from_plan(plan_path)
    if checked is not None and plan_sha == lock.bytes_sha256:
        corpus_sha: str | None = checked.corpus_sha256  # the same plan names the same corpus
    else:
        corpus = resolve_beside(plan_path, corpus_rel) if corpus_rel else None
        corpus_sha = _file_hash(corpus) if corpus is not None else None
    if corpus_sha != lock.corpus_sha256:
        now = _short(corpus_sha) if corpus_sha else "missing"
        changes.append(
            Change("corpus", f"{corpus_rel or '?'}: frozen {_short(lock.corpus_sha256)}, now {now}")
        )
    if lock.trace_sha256 is not None:
        trace_sha = (
            checked.trace_sha256
            if checked is not None and plan_sha == lock.bytes_sha256
            else _file_hash(resolve_beside(plan_path, lock.trace_path or ""))
        )
        if trace_sha != lock.trace_sha256:
            now = _short(trace_sha) if trace_sha else "missing"
            changes.append(
                Change("trace", f"{lock.trace_path}: frozen {_short(lock.trace_sha256)}, now {now}")
            )
    code_sha = analysis_code_hash()
    if code_sha != lock.analysis_code_sha256:
        changes.append(
            Change("analysis code", f"frozen {_short(lock.analysis_code_sha256)}, now {_short(code_sha)}")
        )
    changes.extend(_check_router_code(plan_path, lock))
    if checked is None or plan_sha != lock.bytes_sha256:  # a checked plan's model files matched
        changes.extend(Change("model file", d) for d in model_file_changes(plan_path))
    if checked is None or plan_sha != lock.bytes_sha256:  # a checked plan's examples matched
        changes.extend(Change("examples", d) for d in examples_changes(plan_path))
    changes.extend(_check_log(plan_path, lock))
    changes.extend(_check_parent(plan_path, lock))
    return VerifyReport(path=plan_path, lock=lock, changes=tuple(changes))


def _check_router_code(plan_path: Path, lock: LockRecord) -> list[Change]:
    """Each python router's source hashed again: a router edited after freezing is a change."""
    return [Change("router code", d) for d in router_code_changes(lock.router_code, plan_path.parent)]


# --- helpers -----------------------------------------------------------------------------------


def _check_amendment_block(checked: CheckedPlan) -> str | None:
    """The parent hash an amendment names, after checking it against the file name and the parent."""
    _, number = plan_root(checked.path)
    amendment = checked.plan.amendment
    name = str(checked.path)
    if number == 0:
        if amendment is not None:
            raise PlanMeaningError(
                "expected no amendment block in a root plan (amendments are files named "
                f"<stem>.amend-<n>: use `routetrial amend`), found amendment {amendment.number}",
                file=name,
                field="amendment",
            )
        return None
    if amendment is None:
        raise PlanMeaningError(
            "expected an amendment block (parent_sha256, number, reason) in an amendment file, found nothing",
            file=name,
            field="amendment",
        )
    if amendment.number != number:
        raise PlanMeaningError(
            f"expected {number} (from the file name), found {amendment.number}",
            file=name,
            field="amendment.number",
        )
    parent = amendment_path(checked.path, number - 1)
    parent_lock = read_lock(parent)
    if parent_lock.canonical_sha256 != amendment.parent_sha256:
        raise PlanMeaningError(
            f"expected the canonical hash of frozen {parent.name} ({parent_lock.canonical_sha256}), "
            f"found {amendment.parent_sha256}",
            file=name,
            field="amendment.parent_sha256",
        )
    return amendment.parent_sha256


def _compare(
    lock: LockRecord,
    bytes_sha: str,
    canonical_sha: str,
    corpus_sha: str,
    code_sha: str,
    trace_sha: str | None,
) -> list[Change]:
    changes = []
    if bytes_sha != lock.bytes_sha256:
        note = (
            " (canonical form unchanged: formatting or comments only)"
            if canonical_sha == lock.canonical_sha256
            else ""
        )
        changes.append(
            Change("plan bytes", f"frozen {_short(lock.bytes_sha256)}, now {_short(bytes_sha)}{note}")
        )
    if corpus_sha != lock.corpus_sha256:
        changes.append(Change("corpus", f"frozen {_short(lock.corpus_sha256)}, now {_short(corpus_sha)}"))
    if lock.trace_sha256 is not None and trace_sha != lock.trace_sha256:
        changes.append(Change("trace", f"frozen {_short(lock.trace_sha256)}, now {_short(trace_sha)}"))
    if code_sha != lock.analysis_code_sha256:
        changes.append(
            Change("analysis code", f"frozen {_short(lock.analysis_code_sha256)}, now {_short(code_sha)}")
        )
    return changes


def _freeze_detail(plan_path: Path, record: LockRecord) -> dict[str, str]:
    detail = {
        "plan": plan_path.name,
        "bytes_sha256": record.bytes_sha256,
        "canonical_sha256": record.canonical_sha256,
        "corpus_sha256": record.corpus_sha256,
        "analysis_code_sha256": record.analysis_code_sha256,
    }
    if record.parent_sha256 is not None:
        detail["parent_sha256"] = record.parent_sha256
    if record.trace_sha256 is not None:
        detail["trace_sha256"] = record.trace_sha256
    return detail


def _trace_path(checked: CheckedPlan) -> str | None:
    arrival = checked.plan.traffic.arrival
    return arrival.path if isinstance(arrival, TraceArrival) else None


def _check_log(plan_path: Path, lock: LockRecord) -> list[Change]:
    problem = log_problem(plan_path)
    if problem is not None:
        return [Change("log", f"tampered: {problem}")]
    freezes = [
        e for e in read_log(plan_path) if e.kind == "freeze" and e.detail.get("plan") == plan_path.name
    ]
    if not freezes:
        return [Change("log", "no freeze entry for this plan (entries removed?)")]
    if freezes[0].detail != _freeze_detail(plan_path, lock):
        return [Change("lock record", "disagrees with the freeze entry of the log")]
    return []


def _check_parent(plan_path: Path, lock: LockRecord) -> list[Change]:
    _, number = plan_root(plan_path)
    if number == 0:
        return []
    parent = amendment_path(plan_path, number - 1)
    try:
        parent_report = verify(parent)
    except PlanNotFrozenError:
        return [Change("amendment chain", f"parent {parent.name} is not frozen")]
    except InputError:
        return [Change("amendment chain", f"parent {parent.name} and its lock are missing")]
    changes = []
    if parent_report.lock.canonical_sha256 != lock.parent_sha256:
        changes.append(
            Change(
                "amendment chain",
                f"{parent.name} is frozen as {_short(parent_report.lock.canonical_sha256)}, the lock names {_short(lock.parent_sha256)}",
            )
        )
    for change in parent_report.changes:
        # The log and the analysis code are shared with the parent and reported once.
        if change.what not in ("log", "analysis code"):
            changes.append(Change(f"parent {parent.name}: {change.what}", change.detail))
    return changes


def _meaning_note(plan_path: Path, lock: LockRecord) -> str:
    try:
        loaded = read_plan(plan_path)
    except InputError:
        return ""
    from prereg.canonical import canonical_hash

    if canonical_hash(loaded.plan) == lock.canonical_sha256:
        return "; canonical form unchanged: formatting or comments only"
    return ""


def _corpus_path_from_plan(plan_path: Path) -> str | None:
    try:
        return read_plan(plan_path).plan.corpus.path
    except InputError:
        return None


def _file_hash(path: Path) -> str | None:
    try:
        return bytes_hash(path.read_bytes())
    except OSError:
        return None


def _short(sha: str | None) -> str:
    return (sha or "none")[:12]


def _git_commit(folder: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--verify", "--quiet", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None
