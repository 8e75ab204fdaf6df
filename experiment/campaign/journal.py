"""The live run's in-flight journal: which requests were sent, and each one's timeline.

A live campaign commits trials to the store in small batches, so at any instant some requests are
sent but not stored. The journal (``<store>.live.jsonl``, JSON Lines, append-only, flushed after
every line so that it survives a ``kill -9`` of the runner) records:

- ``{"e": "segment", ...}`` when a run (or a resumed run) starts: its wall-clock origin;
- ``{"e": "sent", "seq": n, "sent_s": t}`` the moment request ``n`` is handed to its arm;
- ``{"e": "done", "seq": n, ...}`` when it finished, with its timeline: scheduled, sent, first
  byte, first token, routing done, downstream first token, done (seconds on the plan's timeline).

On start, every ``sent`` request whose trial is not in the store was in flight when the previous
run died: it is stored as ``interrupted`` (see :func:`interrupted_record`) before anything else is
sent, so nothing is silently lost and nothing is sent twice. The journal is informational beyond
that (the store is the record); it is kept, not truncated, so the timelines of all segments stay
available (first byte has no column in the trial table).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from experiment.store import store_path
from prereg.errors import StoreWriteError
from prereg.study_files import journal_file

__all__ = ["InFlight", "Journal", "journal_path", "read_in_flight"]


@dataclass(frozen=True, slots=True)
class InFlight:
    """A request the journal saw sent: its sequence number and send time (plan timeline, s)."""

    seq: int
    sent_s: float


def journal_path(url: str, plan_hash: str) -> Path:
    """``<store>.live.jsonl`` beside a DuckDB store; in the working directory for other stores."""
    path = store_path(url)
    if path is None:
        return Path.cwd() / f"routetrial-{plan_hash[:12]}.live.jsonl"
    return journal_file(path)


def read_in_flight(path: Path) -> dict[int, InFlight]:
    """Every request the journal records as sent (a torn last line, from a kill, is ignored)."""
    sent: dict[int, InFlight] = {}
    try:
        fh = path.open("r", encoding="utf-8")
    except FileNotFoundError:
        return sent
    with fh:
        for line in fh:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("e") == "sent":
                seq = int(event["seq"])
                sent[seq] = InFlight(seq, float(event["sent_s"]))
    return sent


class Journal:
    """Append-only writer of journal events, one flushed line each.

    A write that fails (a full disk, a read-only file system) raises
    :class:`~prereg.errors.StoreWriteError` naming the journal; a line torn by such a failure
    (or by a kill) is ended before the next run appends, so it spoils no later line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fh: IO[str] = path.open("a", encoding="utf-8")
            if self._fh.tell() > 0:
                with path.open("rb") as tail:
                    tail.seek(-1, os.SEEK_END)
                    torn = tail.read(1) != b"\n"
                if torn:
                    self._fh.write("\n")
                    self._fh.flush()
        except OSError as exc:
            raise self._error(exc) from None

    def _error(self, exc: OSError) -> StoreWriteError:
        return StoreWriteError(f"{self.path}: cannot write the live journal: {exc.strerror or exc}")

    def _write(self, event: dict[str, Any]) -> None:
        try:
            self._fh.write(json.dumps(event, separators=(",", ":")) + "\n")
            # flush() hands the line to the kernel: it survives the process being killed.
            self._fh.flush()
        except OSError as exc:
            raise self._error(exc) from None

    def segment(self, **fields: Any) -> None:
        """A run segment starts."""
        self._write({"e": "segment", "pid": os.getpid(), **fields})

    def sent(self, seq: int, sent_s: float) -> None:
        """Request ``seq`` was sent at ``sent_s``."""
        self._write({"e": "sent", "seq": seq, "sent_s": round(sent_s, 6)})

    def done(self, seq: int, timeline: dict[str, float | None]) -> None:
        """Request ``seq`` finished; ``timeline`` holds its times."""
        self._write(
            {
                "e": "done",
                "seq": seq,
                **{k: (None if v is None else round(v, 6)) for k, v in timeline.items()},
            }
        )

    def close(self) -> None:
        """Close the file (a line a failed write left in the buffer is dropped, not raised again)."""
        with contextlib.suppress(OSError):
            self._fh.close()
