"""load_frozen_plan: the gate every later command passes through."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from strategies import write_plan

from prereg.amend import amend
from prereg.canonical import canonical_hash
from prereg.errors import PlanChangedError, PlanNotFrozenError
from prereg.frozen import load_frozen_plan
from prereg.lock import freeze, read_lock


def test_frozen_plan_loads_with_its_corpus_and_lock(tmp_path: Path) -> None:
    """A frozen, unchanged plan loads with its hashes, corpus and lock record."""
    path = write_plan(tmp_path)
    lock = freeze(path)
    frozen = load_frozen_plan(path)
    assert frozen.canonical_hash == lock.canonical_sha256 == canonical_hash(frozen.plan)
    assert frozen.bytes_hash == lock.bytes_sha256 and frozen.corpus_sha256 == lock.corpus_sha256
    assert len(frozen.corpus) == 6 and frozen.lock == read_lock(path) and frozen.analysis_code_matches


def test_unfrozen_plan_is_refused(tmp_path: Path) -> None:
    """An unfrozen plan is refused with the command that freezes it."""
    path = write_plan(tmp_path)
    with pytest.raises(PlanNotFrozenError, match=f"run `routetrial freeze {path}`"):
        load_frozen_plan(path)


def test_changed_plan_is_refused_with_how_to_amend(tmp_path: Path) -> None:
    """A plan edited after freezing is refused; the message names the change and how to amend."""
    path = write_plan(tmp_path)
    freeze(path)
    path.write_text(path.read_text().replace("seed: 7", "seed: 8"))
    with pytest.raises(
        PlanChangedError, match=rf"plan bytes .*`routetrial amend {path} --reason TEXT`"
    ) as exc:
        load_frozen_plan(path)
    assert "\n" not in str(exc.value)


def test_frozen_amendment_loads(tmp_path: Path) -> None:
    """A frozen amendment loads, naming its parent in the lock."""
    path = write_plan(tmp_path)
    parent = freeze(path)
    target = amend(path, "why")
    freeze(target)
    assert load_frozen_plan(target).lock.parent_sha256 == parent.canonical_sha256


def test_changed_analysis_code_is_flagged_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the analysis code changed: the plan loads with analysis_code_matches=False."""
    package = tmp_path / "code" / "analysis"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("A = 1\n")
    monkeypatch.delitem(sys.modules, "analysis", raising=False)
    monkeypatch.syspath_prepend(str(package.parent))
    path = write_plan(tmp_path)
    freeze(path)
    (package / "__init__.py").write_text("A = 2\n")
    assert load_frozen_plan(path).analysis_code_matches is False
