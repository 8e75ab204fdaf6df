"""The ``routetrial`` console script: a guard around importing the command line.

Importing the commands (:mod:`experiment.cli.app`) takes about a third of a second (pydantic,
numpy, click); a Ctrl-C in that window would print a ``KeyboardInterrupt`` traceback from some
library's import. This module imports nothing but :mod:`sys`, so the window before the guard is the
interpreter's own start-up.
"""

from __future__ import annotations

import sys

__all__ = ["USER_ERROR_EXIT", "main"]

#: The exit status of a user error (any :class:`prereg.errors.RoutetrialError`).
USER_ERROR_EXIT = 2
#: 128 + SIGINT, as a shell reports a Ctrl-C.
_INTERRUPTED_EXIT = 130


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script (and of ``python -m experiment``)."""
    try:
        from experiment.cli.app import main as run
    except KeyboardInterrupt:
        print("routetrial: interrupted by SIGINT", file=sys.stderr, flush=True)
        sys.exit(_INTERRUPTED_EXIT)
    run(argv)
