"""Batches of trials written to the store on a background thread while the simulation goes on.

DuckDB releases the GIL while it inserts and commits, so a batch's transaction overlaps with the
next batch's simulation on a second core. At most one batch waits in the queue and one is being
written: memory stays bounded by about three batches whatever the campaign's size. Each batch is
still its own transaction, committed in submission order, so a kill leaves whole batches only.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from experiment.store import TrialStore
from prereg.records import TrialRecord

__all__ = ["BatchWriter"]

T = TypeVar("T")


class BatchWriter:
    """Write batches in order, one transaction each; ``on_commit`` runs after each commit.

    An error in the writer stops further writes and is raised in the caller's thread by the next
    :meth:`submit` or by :meth:`close`.
    """

    def __init__(self, store: TrialStore, on_commit: Callable[[Sequence[TrialRecord]], None]) -> None:
        self._store = store
        self._on_commit = on_commit
        self._queue: queue.Queue[Sequence[TrialRecord] | _Call[Any] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        # Submits under way (on any thread) and whether close has begun: close waits for the
        # first, so its end marker can never overtake a batch still on its way to the queue.
        self._handing = 0
        self._closing = False
        self._state = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="routetrial-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if isinstance(batch, _Call):
                batch.run(self._error)
                continue
            if self._error is not None:
                continue  # drain: after a failure nothing more is written
            try:
                self._store.write_trials(batch)
                self._on_commit(batch)
            except BaseException as exc:
                self._error = exc

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, batch: Sequence[TrialRecord]) -> None:
        """Queue a batch (blocks while another one is already waiting).

        Raises :class:`RuntimeError` after :meth:`close` began: a batch then would be lost.
        """
        self._raise_pending()
        self._hand(batch)

    def _hand(self, item: Sequence[TrialRecord] | _Call[Any]) -> None:
        with self._state:
            if self._closing:
                raise RuntimeError("a batch was submitted after the writer was closed")
            self._handing += 1
        try:
            self._queue.put(item)
        finally:
            with self._state:
                self._handing -= 1
                self._state.notify_all()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the writer's thread once every batch submitted before is committed, and
        return its result (an interim look reads the store this way: after the rows it needs, and
        never at the same time as a write on the store's one connection)."""
        job = _Call(fn)
        self._hand(job)
        return job.future.result()

    def close(self) -> None:
        """Finish the queued batches, stop the thread, and raise a writer error if there was one."""
        with self._state:
            self._closing = True
            self._state.wait_for(lambda: self._handing == 0)
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise_pending()


class _Call(Generic[T]):
    """A function to run on the writer's thread, in queue order, and its future result."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self.fn = fn
        self.future: Future[T] = Future()

    def run(self, error: BaseException | None) -> None:
        if error is not None:  # the store failed: what would read it must not run
            self.future.set_exception(error)
            return
        try:
            self.future.set_result(self.fn())
        except BaseException as exc:
            self.future.set_exception(exc)
