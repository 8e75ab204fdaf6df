"""The starter study's trial table and results document, byte for byte.

A behaviour pin for refactoring: ``init`` → ``freeze`` → ``run`` → ``export --format csv`` and
``analyze --json`` must write exactly the files in ``tests/golden/`` (kept gzipped). A change that
is meant to change them (a new estimator, a new trial column, a new starter) regenerates them on
purpose, and the diff is reviewed like code::

    ROUTETRIAL_REGOLD=1 .venv/bin/python -m pytest tests/test_golden_starter.py
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from _cli import run_cli

GOLDEN = Path(__file__).with_name("golden")
FILES = {"trials.csv": "starter_trials.csv.gz", "results.json": "starter_results.json.gz"}


def test_the_starter_study_writes_the_golden_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = tmp_path / "study"
    plan = study / "plan.yaml"
    store = tmp_path / "trials.duckdb"
    for args in (
        ("init", study),
        ("freeze", plan),
        ("run", plan, "--store", store),
        ("export", store, "--format", "csv", "--out", tmp_path / "trials.csv"),
        ("analyze", plan, "--store", store, "--json", tmp_path / "results.json"),
    ):
        code, _out, err = run_cli(capsys, *args)
        assert code == 0, (args, err)
    regenerate = os.environ.get("ROUTETRIAL_REGOLD") == "1"
    for produced_name, golden_name in FILES.items():
        got = (tmp_path / produced_name).read_bytes()
        golden = GOLDEN / golden_name
        if regenerate:
            golden.write_bytes(gzip.compress(got, compresslevel=9, mtime=0))
            continue
        expected = gzip.decompress(golden.read_bytes())
        if got != expected:
            first = next(
                (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
                min(len(got), len(expected)),
            )
            pytest.fail(
                f"{produced_name} differs from {golden} from byte {first}: "
                f"{got[max(0, first - 80) : first + 80]!r} vs {expected[max(0, first - 80) : first + 80]!r}"
            )
