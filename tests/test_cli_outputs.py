"""No command writes over its own input or a file of the study (issue 12, item 1).

Each writing command (``analyze --json``, ``report --out``, ``design``, ``demo``) is pointed at
each file of a real frozen study with a real store: the plan, its lock, its log, the corpus, the
store and the files beside it, a symlink and a hard link to the plan, and the command's own
``--trials`` input. Each is refused with one line and exit 2, and no file of the study changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml
from _cli import run_cli
from _experiment_plans import make_cases, plan_dict, write_plan

import prereg.lock
from experiment.campaign.simulated import run_simulated
from experiment.cli import USER_ERROR_EXIT
from experiment.store import TrialStore, store_url
from prereg.frozen import load_frozen_plan
from prereg.study_files import lock_path, log_path

Study = dict[str, Path]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    """A frozen plan, its simulated store, an exported trial file and every file beside the store."""
    folder = tmp_path_factory.mktemp("outputs")
    plan = write_plan(folder)
    prereg.lock.freeze(plan)
    store = folder / "plan.duckdb"
    run_simulated(load_frozen_plan(plan), str(store), progress=False)
    trials = folder / "trials.parquet"
    with TrialStore.open(store_url(store), None, create=False, read_only=True) as opened:
        opened.export(trials, "parquet")
    progress = store.with_name(store.name + ".progress.json")
    journal = store.with_name(store.name + ".live.jsonl")
    journal.write_text("", encoding="utf-8")  # as a live run leaves it
    link = folder / "link-to-plan.yaml"
    link.symlink_to(plan)
    hard = folder / "hard-link-to-plan.yaml"
    os.link(plan, hard)
    return {
        "plan": plan,
        "lock": lock_path(plan),
        "log": log_path(plan),
        "corpus": folder / "corpus.jsonl",
        "store": store,
        "progress": progress,
        "journal": journal,
        "wal": store.with_name("plan.duckdb.wal"),
        "symlink": link,
        "hardlink": hard,
        "trials": trials,
        "folder": folder,
    }


def _snapshot(study: Study) -> dict[str, bytes | None]:
    return {k: (p.read_bytes() if p.is_file() else None) for k, p in study.items() if k != "folder"}


STUDY_FILES = ["plan", "lock", "log", "corpus", "store", "progress", "journal", "wal", "symlink", "hardlink"]


def _refused(err: str, code: int) -> None:
    assert code == USER_ERROR_EXIT, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("routetrial: error: "), err
    assert "refusing to overwrite it" in lines[0] and "Traceback" not in err


@pytest.mark.parametrize("target", STUDY_FILES)
def test_analyze_json_never_overwrites_a_study_file(
    study: Study, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``analyze --json FILE`` for each file of the study: refused, nothing changed."""
    before = _snapshot(study)
    code, out, err = run_cli(capsys, "analyze", study["plan"], "--json", study[target])
    _refused(err, code)
    assert "--json" in err and out == ""
    assert _snapshot(study) == before
    assert target == "wal" or study[target].exists()


def test_analyze_json_never_overwrites_its_trial_file(
    study: Study, capsys: pytest.CaptureFixture[str]
) -> None:
    """``analyze --trials F --json F``: the command's own input is refused too."""
    before = _snapshot(study)
    code, _, err = run_cli(
        capsys, "analyze", study["plan"], "--trials", study["trials"], "--json", study["trials"]
    )
    _refused(err, code)
    assert "trial file" in err and _snapshot(study) == before


def test_analyze_json_with_an_explicit_store_is_guarded(
    study: Study, capsys: pytest.CaptureFixture[str]
) -> None:
    """With ``--store``, that store is the one protected (given as a path or as a URL)."""
    for store in (str(study["store"]), f"duckdb:///{study['store']}"):
        code, _, err = run_cli(capsys, "analyze", study["plan"], "--store", store, "--json", study["store"])
        _refused(err, code)
        assert "the store" in err


def test_analyze_json_to_a_fresh_file_still_works(
    study: Study, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guard refuses only study files: a new path beside them is written."""
    code, _out, err = run_cli(capsys, "analyze", study["plan"], "--json", tmp_path / "results.json")
    assert code == 0, err
    assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["schema_version"]


@pytest.mark.parametrize("target", STUDY_FILES)
def test_report_out_never_overwrites_a_study_file(
    study: Study, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``report --out FILE`` for each file of the study: refused, nothing changed."""
    before = _snapshot(study)
    code, out, err = run_cli(capsys, "report", study["plan"], "--out", study[target])
    _refused(err, code)
    assert "--out" in err and out == ""
    assert _snapshot(study) == before


def test_report_out_through_a_relative_path_is_refused(
    study: Study, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Identity, not spelling: ``./sub/../plan.yaml`` from the plan's folder is the plan."""
    monkeypatch.chdir(study["folder"])
    (study["folder"] / "sub").mkdir(exist_ok=True)
    before = _snapshot(study)
    code, _, err = run_cli(capsys, "report", "plan.yaml", "--out", "./sub/../plan.yaml")
    _refused(err, code)
    assert _snapshot(study) == before


def _write_with_corpus_name(folder: Path, corpus_name: str) -> Path:
    """A plan like :func:`write_plan` whose corpus file is called ``corpus_name``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"id": c.id, "text": c.text, "family": c.family, "gold_labels": list(c.gold_labels)})
        for c in make_cases(12)
    ]
    corpus = ("\n".join(lines) + "\n").encode()
    (folder / corpus_name).write_bytes(corpus)
    doc = plan_dict(n_cases=12, corpus_sha256=hashlib.sha256(corpus).hexdigest())
    doc["corpus"]["path"] = corpus_name
    plan = folder / "plan.yaml"
    plan.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return plan


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.is_symlink()}


def test_design_never_overwrites_a_corpus_named_like_its_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``design`` writes ``<stem>.design.json``: a corpus of that name is refused before simulating."""
    plan = _write_with_corpus_name(tmp_path, "plan.design.json")
    before = _files(tmp_path)
    code, _, err = run_cli(capsys, "design", plan, "--sims", "1", "--no-grid", "--no-min-cases")
    _refused(err, code)
    assert "corpus" in err and _files(tmp_path) == before


@pytest.mark.parametrize("target", ["plan", "lock", "log", "store"])
def test_design_never_writes_through_a_symlink_to_a_study_file(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``plan.design.json`` as a symlink to the plan, its lock, log or store: refused."""
    plan = write_plan(tmp_path)
    prereg.lock.freeze(plan)
    store = tmp_path / "plan.duckdb"
    store.write_bytes(b"not really a store")
    pointed = {"plan": plan, "lock": lock_path(plan), "log": log_path(plan), "store": store}[target]
    (tmp_path / "plan.design.json").symlink_to(pointed)
    before = _files(tmp_path)
    code, _, err = run_cli(capsys, "design", plan, "--sims", "1", "--no-grid", "--no-min-cases")
    _refused(err, code)
    assert _files(tmp_path) == before


@pytest.mark.parametrize("output", ["results.json", "report.html"])
def test_demo_never_overwrites_a_study_file(
    tmp_path: Path, output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``demo`` on a folder whose plan's corpus is named like one of its outputs: refused."""
    _write_with_corpus_name(tmp_path, output)
    corpus = (tmp_path / output).read_bytes()
    code, _, err = run_cli(capsys, "demo", tmp_path, "--design-sims", "0")
    _refused(err, code)
    assert "corpus" in err and (tmp_path / output).read_bytes() == corpus
    assert not (tmp_path / "plan.duckdb").exists()  # refused before the campaign


@pytest.mark.parametrize("output", ["results.json", "report.html"])
def test_demo_never_writes_through_a_symlink_to_the_plan(
    tmp_path: Path, output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``demo`` whose ``results.json`` or ``report.html`` is a symlink to the plan: refused."""
    plan = write_plan(tmp_path)
    (tmp_path / output).symlink_to(plan)
    before = plan.read_bytes()
    code, _, err = run_cli(capsys, "demo", tmp_path, "--design-sims", "0")
    _refused(err, code)
    assert "the plan " in err and plan.read_bytes() == before


@pytest.mark.parametrize("target", ["store", "progress"])
def test_export_out_never_overwrites_the_store(
    study: Study, target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``export STORE --out FILE`` for the store and its progress file (on a copy): refused."""
    store = tmp_path / "copy.duckdb"
    store.write_bytes(study["store"].read_bytes())
    progress = tmp_path / "copy.duckdb.progress.json"
    progress.write_bytes(study["progress"].read_bytes())
    out = {"store": store, "progress": progress}[target]
    before = out.read_bytes()
    code, _, err = run_cli(capsys, "export", store, "--format", "parquet", "--out", out)
    assert out.read_bytes() == before
    _refused(err, code)


@pytest.mark.parametrize("target", ["lock", "log", "corpus"])
def test_a_plan_named_through_a_symlink_protects_the_real_plans_files(
    study: Study, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``analyze LINK --json plan.yaml.lock.json``: the lock of the plan the link points to is refused."""
    before = _snapshot(study)
    code, _, err = run_cli(capsys, "analyze", study["symlink"], "--json", study[target])
    _refused(err, code)
    assert _snapshot(study) == before


@pytest.mark.parametrize("target", ["plan", "lock", "log", "corpus"])
def test_run_never_uses_a_study_file_as_its_store(
    study: Study, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run PLAN --store plan.yaml`` (or its lock, log, corpus): refused before anything is written."""
    before = _snapshot(study)
    code, _, err = run_cli(capsys, "run", study["plan"], "--store", study[target])
    _refused(err, code)
    assert _snapshot(study) == before
