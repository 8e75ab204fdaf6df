"""Running the ``routetrial`` entry point in the test's own process, as the console script would."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiment.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run ``routetrial ARGS`` through :func:`experiment.cli.main`: exit code, stdout, stderr."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
