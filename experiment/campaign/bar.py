"""The terminal's progress bar for a campaign: ETA, and completed trials per arm in the label."""

from __future__ import annotations

import sys
from collections.abc import Mapping

import click

__all__ = ["ProgressBar"]


class ProgressBar:
    """A click progress bar on stderr, redrawn every ``every`` ticks and at each :meth:`flush`.

    The simulated runner ticks a few hundred thousand times a second, so the bar batches its
    redraws; the live runner flushes it with each store batch.
    """

    def __init__(self, length: int, planned: Mapping[str, int], *, every: int | None = None) -> None:
        self._counts = dict.fromkeys(planned, 0)
        self._pending = 0
        self._every = every
        self._bar = click.progressbar(
            length=length, label=self._label(), show_eta=True, show_pos=True, file=sys.stderr, width=24
        )
        self._bar.__enter__()

    def _label(self) -> str:
        return " ".join(f"{arm} {n:,}" for arm, n in self._counts.items())

    def tick(self, arm: str) -> None:
        """One more trial of ``arm`` completed."""
        self._counts[arm] = self._counts.get(arm, 0) + 1
        self._pending += 1
        if self._every is not None and self._pending >= self._every:
            self.flush()

    def flush(self) -> None:
        """Redraw with the ticks so far."""
        self._bar.label = self._label()
        self._bar.update(self._pending)
        self._pending = 0

    def close(self) -> None:
        """Redraw one last time and end the bar's line."""
        self.flush()
        self._bar.__exit__(None, None, None)
