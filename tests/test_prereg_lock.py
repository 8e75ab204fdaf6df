"""Freeze, verify and amend: the lock binds plan bytes, corpus, analysis code and log."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from strategies import small_plan, write_plan

from prereg.amend import amend
from prereg.canonical import analysis_code_hash, bytes_hash, canonical_hash
from prereg.errors import InputError, PlanChangedError, PlanMeaningError, PlanNotFrozenError
from prereg.loader import load_plan
from prereg.lock import freeze, read_lock, verify
from prereg.log import read_log
from prereg.study_files import lock_path, log_path


def _flip_byte(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))


@pytest.fixture
def frozen(tmp_path: Path) -> Path:
    """A frozen small plan."""
    path = write_plan(tmp_path)
    freeze(path)
    return path


@pytest.fixture
def fake_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway ``analysis`` package first on sys.path, so its sources can be edited."""
    package = tmp_path / "code" / "analysis"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VERSION = 1\n")
    monkeypatch.delitem(sys.modules, "analysis", raising=False)
    monkeypatch.syspath_prepend(str(package.parent))
    return package


def test_freeze_writes_the_lock_record(frozen: Path) -> None:
    """The lock holds the bytes, canonical, corpus and analysis-code hashes, the time and the version."""
    lock = read_lock(frozen)
    raw = json.loads(lock_path(frozen).read_text())
    assert lock_path(frozen).name == "plan.yaml.lock.json" and raw["format"] == "routetrial-lock/1"
    assert lock.bytes_sha256 == bytes_hash(frozen.read_bytes())
    assert lock.canonical_sha256 == canonical_hash(load_plan(frozen))
    assert lock.corpus_sha256 == bytes_hash((frozen.parent / "corpus.jsonl").read_bytes())
    assert lock.analysis_code_sha256 == analysis_code_hash()
    assert lock.frozen_at_utc.endswith("Z") and lock.parent_sha256 is None and lock.routetrial_version


def test_freeze_again_is_a_noop(frozen: Path) -> None:
    """Freezing an unchanged plan returns the same record and rewrites nothing."""
    before = lock_path(frozen).read_bytes()
    assert freeze(frozen) == read_lock(frozen)
    assert lock_path(frozen).read_bytes() == before and len(read_log(frozen)) == 1


def test_freeze_of_a_changed_plan_is_refused(frozen: Path) -> None:
    """A frozen plan is never rewritten: refreezing after an edit names the change and how to amend."""
    _flip_byte(frozen, b"seed: 7", b"seed: 8")
    with pytest.raises(
        PlanChangedError, match=r"already frozen, and changed since freezing: plan bytes \(.*routetrial amend"
    ):
        freeze(frozen)


def test_comment_only_edit_is_named_as_such(frozen: Path) -> None:
    """A comment changes the bytes but not the canonical form, and the message says so."""
    frozen.write_bytes(frozen.read_bytes() + b"# reviewed\n")
    report = verify(frozen)
    assert [c.what for c in report.changes] == ["plan bytes"]
    assert "canonical form unchanged" in report.describe()


def test_verify_unchanged(frozen: Path) -> None:
    """A frozen, untouched plan verifies as unchanged."""
    report = verify(frozen)
    assert report.ok and report.describe() == "unchanged" and report.analysis_code_matches


@pytest.mark.parametrize(
    ("target", "old", "new", "what"),
    [
        ("plan.yaml", b"seed: 7", b"seed: 9", "plan bytes"),
        ("corpus.jsonl", b"17 * 23", b"17 * 29", "corpus"),
        ("plan.yaml.log.jsonl", b'"plan": "plan.yaml"', b'"plan": "plan.yml."', "log"),
    ],
)
def test_one_changed_byte_is_named(frozen: Path, target: str, old: bytes, new: bytes, what: str) -> None:
    """Changing one byte of the plan, the corpus or the log makes verify name exactly that."""
    _flip_byte(frozen.parent / target, old, new)
    report = verify(frozen)
    assert [c.what for c in report.changes] == [what]
    assert report.describe().startswith(f"changed since freezing: {what} (")


def test_deleted_freeze_entry_is_detected(frozen: Path) -> None:
    """Truncating the log to nothing leaves a valid (empty) chain, but the lock's freeze entry is missing."""
    log_path(frozen).write_bytes(b"")
    assert [c.what for c in verify(frozen).changes] == ["log"]


def test_edited_lock_record_is_detected(frozen: Path) -> None:
    """A lock edited to match a changed plan disagrees with the log's freeze entry."""
    _flip_byte(frozen, b"seed: 7", b"seed: 9")
    record = json.loads(lock_path(frozen).read_text())
    record["bytes_sha256"] = bytes_hash(frozen.read_bytes())
    lock_path(frozen).write_text(json.dumps(record))
    assert [c.what for c in verify(frozen).changes] == ["lock record"]


def test_changed_analysis_code_is_named(tmp_path: Path, fake_analysis: Path) -> None:
    """Editing the analysis code after freezing is reported as such (and only as such)."""
    path = write_plan(tmp_path)
    freeze(path)
    (fake_analysis / "__init__.py").write_text("VERSION = 2\n")
    report = verify(path)
    assert [c.what for c in report.changes] == ["analysis code"] and not report.analysis_code_matches


def test_verify_unfrozen_plan(tmp_path: Path) -> None:
    """Verifying a plan that was never frozen says to freeze it."""
    path = write_plan(tmp_path)
    with pytest.raises(PlanNotFrozenError, match="not frozen .*run `routetrial freeze"):
        verify(path)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_is_recorded_inside_a_repository(tmp_path: Path) -> None:
    """Inside a git work tree the lock records HEAD."""
    path = write_plan(tmp_path)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "plan"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert freeze(path).git_commit == head


# --- amendments --------------------------------------------------------------------------------


def test_amend_starts_a_copy_naming_its_parent(frozen: Path) -> None:
    """amend writes <stem>.amend-1.yaml: the plan plus an amendment block; the start is logged."""
    target = amend(frozen, "more replays")
    assert target.name == "plan.amend-1.yaml"
    data = yaml.safe_load(target.read_text())
    assert data["amendment"] == {
        "parent_sha256": read_lock(frozen).canonical_sha256,
        "number": 1,
        "reason": "more replays",
    }
    assert target.read_text().startswith(frozen.read_text())
    entry = read_log(frozen)[-1]
    assert (
        entry.kind == "amend"
        and entry.detail["plan"] == target.name
        and entry.detail["reason"] == "more replays"
    )


def test_freezing_amendments_extends_the_chain(frozen: Path) -> None:
    """Amendment 1 and 2 freeze with their parent's hash, in the root plan's log, and verify."""
    first = amend(frozen, "one")
    _flip_byte(first, b"seed: 7", b"seed: 70")
    lock1 = freeze(first)
    second = amend(first, "two")
    lock2 = freeze(second)
    assert second.name == "plan.amend-2.yaml"
    assert lock1.parent_sha256 == read_lock(frozen).canonical_sha256
    assert lock2.parent_sha256 == lock1.canonical_sha256
    assert [(e.kind, e.detail["plan"]) for e in read_log(second)] == [
        ("freeze", "plan.yaml"),
        ("amend", "plan.amend-1.yaml"),
        ("freeze", "plan.amend-1.yaml"),
        ("amend", "plan.amend-2.yaml"),
        ("freeze", "plan.amend-2.yaml"),
    ]
    assert yaml.safe_load(second.read_text())["amendment"]["number"] == 2
    assert verify(second).ok and not (frozen.parent / "plan.amend-2.yaml.log.jsonl").exists()


def test_changed_parent_is_named_from_the_amendment(frozen: Path) -> None:
    """Verifying an amendment also checks the frozen plans it descends from."""
    first = amend(frozen, "one")
    freeze(first)
    _flip_byte(frozen, b"seed: 7", b"seed: 9")
    assert [c.what for c in verify(first).changes] == ["parent plan.yaml: plan bytes"]


def test_amend_needs_a_reason(frozen: Path) -> None:
    """An empty reason is refused."""
    with pytest.raises(InputError, match="--reason: expected a reason"):
        amend(frozen, "  ")


def test_amend_needs_a_frozen_plan(tmp_path: Path) -> None:
    """An unfrozen plan is edited, not amended."""
    with pytest.raises(PlanNotFrozenError):
        amend(write_plan(tmp_path), "why")


def test_amend_refuses_a_changed_plan(frozen: Path) -> None:
    """A plan edited after freezing cannot be amended: the copy would carry the unfrozen edit."""
    _flip_byte(frozen, b"seed: 7", b"seed: 9")
    with pytest.raises(PlanChangedError, match="cannot amend: changed since freezing: plan bytes"):
        amend(frozen, "why")


def test_second_amendment_of_the_same_parent_is_refused(frozen: Path) -> None:
    """The chain is linear: amending the root again while amendment 1 exists is refused."""
    amend(frozen, "one")
    with pytest.raises(
        InputError, match="plan.amend-1.yaml: expected no file, found amendment 1 already started"
    ):
        amend(frozen, "two")


def test_amendment_with_a_wrong_parent_hash_is_refused(frozen: Path) -> None:
    """Freezing an amendment whose parent_sha256 is not the parent's canonical hash fails."""
    target = amend(frozen, "one")
    text = target.read_text().replace(read_lock(frozen).canonical_sha256, "a" * 64)
    target.write_text(text)
    with pytest.raises(
        PlanMeaningError, match="amendment.parent_sha256: expected the canonical hash of frozen plan.yaml"
    ):
        freeze(target)


def test_root_plan_with_an_amendment_block_is_refused(tmp_path: Path) -> None:
    """Only files named <stem>.amend-<n> may carry an amendment block."""
    plan = small_plan()
    plan["amendment"] = {"parent_sha256": "0" * 64, "number": 1, "reason": "x"}
    with pytest.raises(PlanMeaningError, match="amendment: expected no amendment block in a root plan"):
        freeze(write_plan(tmp_path, plan))
