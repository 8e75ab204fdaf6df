"""Reading an arrival trace: the bytes of a file of timestamps in, checked timestamps out.

The format (docs/traffic.md): one timestamp in seconds per line, in non-decreasing order; blank
lines and ``#`` comments are ignored. This is shared by ``routetrial check`` (so a bad trace is
refused before the plan is frozen) and by :func:`traffic.read_trace` (which replays it).
"""

from __future__ import annotations

import math

from prereg.errors import TraceError

__all__ = ["parse_trace"]


def parse_trace(data: bytes, file: str) -> list[float]:
    """The timestamps of a trace file's bytes, as written (not shifted).

    Raises a one-line :class:`TraceError` naming ``file`` (and the line where there is one) for
    bytes that are not UTF-8, a line that is not a finite number, a timestamp earlier than the one
    before, and a file with no timestamps at all.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TraceError(
            f"expected UTF-8 text, found an undecodable byte at offset {exc.start}", file=file
        ) from None
    values: list[float] = []
    previous_line = 0
    for number, raw in enumerate(text.split("\n"), start=1):  # "\n" only, as JSON Lines
        token = raw.partition("#")[0].strip()
        if not token:
            continue
        try:
            value = float(token)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise TraceError(f"line {number}: expected a timestamp in seconds, found {token!r}", file=file)
        if values and value < values[-1]:
            raise TraceError(
                f"line {number}: expected timestamps in non-decreasing order, found {token} "
                f"after {values[-1]!r} (line {previous_line})",
                file=file,
            )
        values.append(value)
        previous_line = number
    if not values:
        raise TraceError("expected at least one timestamp, found none", file=file)
    return values
