"""Writing a file atomically: a reader sees the old file or the whole new one, never half.

The one writer of every file routetrial rewrites (results, reports, design results, the progress
file). The text goes to a temporary file in the target's own directory (so the rename stays on one
file system) and replaces the target with ``os.replace``. A failure leaves no temporary file
behind and is reported as one line naming the file.

:func:`write_once` is for a record that must never be replaced (a lock): the temporary file is
hard-linked to the target, which fails when the target exists, however the two writers race.

``in_place_on_failure`` is for a small state file that must reach the disk even when it is full
(the progress file's final ``failed``): when no temporary file can be written, the old file's
blocks are still there, so the text is written over it in place (not atomic, but the only way).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from prereg.errors import InputError, LockError

__all__ = ["write_once", "write_text_atomically"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomically(out: Path, text: str, *, in_place_on_failure: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``out`` atomically, creating its folder; return the path.

    Raises :class:`~prereg.errors.InputError` naming ``out`` when it cannot be written.
    """
    out = Path(out)
    try:
        _replace(out, text)
    except OSError as exc:
        if in_place_on_failure:
            try:
                with out.open("r+b") as handle:
                    handle.write(text.encode("utf-8"))
                    handle.truncate()
            except OSError:
                pass
            else:
                return out
        raise InputError(
            f"expected a writable location, found {exc.strerror or exc}", file=str(out)
        ) from None
    return out


def _replace(out: Path, text: str) -> None:
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


def write_once(path: Path, text: str) -> None:
    """Write a new file atomically; never replace an existing one (:class:`LockError` if it exists)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise LockError(
            f"{path}: expected no file, found one (written concurrently?); not overwriting"
        ) from None
    finally:
        tmp.unlink()
