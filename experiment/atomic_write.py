"""Writing a user-visible output file atomically: a reader sees the old file or the whole new one.

The text goes to a temporary file in the target's own directory (so the rename stays on one file
system) and replaces the target with ``os.replace``. A failure leaves no temporary file behind and
is reported as one line naming the file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from prereg.errors import InputError

__all__ = ["write_text_atomically"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomically(out: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``out`` atomically, creating its folder; return the path."""
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        try:
            # mkstemp makes the file private (0600); a report or results file is as readable as
            # any other file the user writes.
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InputError(f"expected a writable location, found {exc.strerror}", file=str(out)) from None
    return out
