"""Stopping cleanly on SIGINT, SIGTERM and SIGHUP: caught, remembered, acted on at a safe point.

While a campaign, a design or ``serve`` runs, the three signals are caught by :class:`StopSignals`,
which only remembers the first one (a handler that raised at an arbitrary bytecode could land in
the middle of a SimPy step or a store transaction); the runner looks at it at points where
stopping leaves whole batches, commits what it holds and returns. The command then exits with
``128 + signal`` (130, 143, 129) by raising :class:`Interrupted`, a :class:`SystemExit`, so no
traceback is printed wherever it surfaces.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

__all__ = ["STOP_SIGNALS", "Interrupted", "StopSignals", "signal_name"]

#: The signals that stop a campaign cleanly (Ctrl-C, ``kill``, a closed terminal).
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(SystemExit):
    """A run stopped by ``signum``: exits with status ``128 + signum`` and prints no traceback.

    ``args`` is ``(signum,)`` so that copies made with ``type(e)(*e.args)`` (SimPy re-raises a
    failed process's exception that way) are equal to the original.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum
        self.args = (signum,)
        #: Set once the command has told the user (so outer layers do not say it again).
        self.reported = False

    @property
    def signal_name(self) -> str:
        """``SIGINT``, ``SIGTERM``, ...."""
        return signal_name(self.signum)


def signal_name(signum: int) -> str:
    """The name of a signal number (``SIGTERM``), or ``signal N``."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopSignals:
    """Catch :data:`STOP_SIGNALS` while installed (a context manager; main thread only).

    ``deferred=True`` (a campaign's inner loop): the first signal is remembered in :attr:`signum`
    and each listener is called (from the signal handler: keep them to thread-safe wake-ups);
    :meth:`check` raises :class:`Interrupted` at a safe point. ``deferred=False``: a signal raises
    :class:`Interrupted` at once (before anything is written). Nested instances restore the
    handlers they replaced; outside the main thread nothing is installed.
    """

    def __init__(self, *, deferred: bool = True) -> None:
        self.deferred = deferred
        self.signum: int | None = None
        self._listeners: list[Callable[[], None]] = []
        self._previous: dict[int, Any] = {}

    def listen(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when a signal arrives (or at once, if one already did)."""
        self._listeners.append(callback)
        if self.signum is not None:
            callback()

    def unlisten(self, callback: Callable[[], None]) -> None:
        """Stop calling ``callback``."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal arrived."""
        if self.signum is not None:
            raise Interrupted(self.signum)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if not self.deferred:
            raise Interrupted(signum)
        for callback in list(self._listeners):
            callback()

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
