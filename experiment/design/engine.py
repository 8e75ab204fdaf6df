"""Where the simulations run: inline, a local process pool (the default), or a Dask cluster.

Every engine runs the same picklable task function on the same chunks and returns the results in
task order, so what a design reports never depends on the engine or the number of workers: a
simulation's random streams are fixed by its index, not by the process that runs it.
Dask (``dask.distributed``) is an optional dependency (``pip install 'routetrial[distributed]'``),
imported only when asked for.

Local workers stop with their parent: each asks the kernel for SIGTERM when the parent dies
(``PR_SET_PDEATHSIG``, so even ``kill -9`` of the parent takes them along) and ignores SIGINT (a
Ctrl-C reaches the whole process group; the parent alone decides). While the parent waits for
them, SIGINT, SIGTERM and SIGHUP (looked at every 0.1 s) terminate the workers and exit with
``128 + signal``, one line on stderr and no traceback; any other error terminates them too before
it is raised. A Dask run does the same: the signal is looked at while the local cluster starts and
while its futures run, then the client and the cluster (with its worker processes) are closed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Literal, TypeVar

from experiment.stop_signals import Interrupted, StopSignals
from prereg.errors import InputError

__all__ = ["ENGINES", "Engine", "EngineSettings", "chunk_bounds", "default_workers", "run_tasks"]

Engine = Literal["local", "dask"]
ENGINES: tuple[Engine, ...] = ("local", "dask")

T = TypeVar("T")
R = TypeVar("R")

#: Called with the number of tasks finished so far and the total.
Progress = Callable[[int, int], None]


class EngineSettings:
    """How to run tasks: ``engine``, ``workers`` and, for Dask, a scheduler address or a local
    cluster of ``workers`` processes (threads when ``dask_processes`` is False)."""

    __slots__ = ("dask_address", "dask_processes", "engine", "workers")

    def __init__(
        self,
        engine: Engine = "local",
        workers: int | None = None,
        *,
        dask_address: str | None = None,
        dask_processes: bool = True,
    ) -> None:
        if engine not in ENGINES:
            raise InputError(f"expected one of {', '.join(ENGINES)}, found {engine!r}", field="--engine")
        if workers is not None and workers < 1:
            raise InputError(f"expected at least 1, found {workers}", field="--workers")
        self.engine: Engine = engine
        self.workers = default_workers() if workers is None else workers
        self.dask_address = dask_address
        self.dask_processes = dask_processes


def default_workers() -> int:
    """All the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def chunk_bounds(count: int, workers: int, per_worker: int = 4) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges covering ``0..count``, about ``per_worker`` chunks per worker.

    Chunks amortise the cost of shipping a task while leaving enough of them to balance load.
    """
    if count <= 0:
        return []
    size = max(1, math.ceil(count / (workers * per_worker)))
    return [(start, min(count, start + size)) for start in range(0, count, size)]


def run_tasks(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    settings: EngineSettings,
    progress: Progress | None = None,
) -> list[R]:
    """``[fn(t) for t in tasks]`` on the chosen engine, in task order."""
    if not tasks:
        return []
    if settings.engine == "dask":
        return _run_dask(fn, tasks, settings, progress)
    if settings.workers == 1 or len(tasks) == 1:
        out: list[R] = []
        for task in tasks:
            out.append(fn(task))
            if progress is not None:
                progress(len(out), len(tasks))
        return out
    return _run_pool(fn, tasks, settings.workers, progress)


_PR_SET_PDEATHSIG = 1
#: How often the parent looks at caught signals while it waits for its workers.
_POLL_S = 0.1


def _worker_init(parent: int) -> None:
    """In each worker: die with the parent, leave SIGINT to it, end quietly on SIGTERM / SIGHUP."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(128 + int(signal.SIGTERM))


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's workers now: cancel what has not started, SIGTERM what runs."""
    # Python 3.14 has pool.terminate_workers(); before it, the processes are only private state.
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(timeout=5.0)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _run_pool(fn: Callable[[T], R], tasks: Sequence[T], workers: int, progress: Progress | None) -> list[R]:
    results: dict[int, R] = {}
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)), initializer=_worker_init, initargs=(os.getpid(),)
    )
    try:
        # Deferred: raising inside wait() could leave a future's lock held and hang the clean-up.
        # Submitting forks the workers, which inherit the handler until their initializer resets
        # it; a deferred one only sets a flag there.
        with StopSignals() as stops:
            pending: dict[Future[R], int] = {pool.submit(fn, t): i for i, t in enumerate(tasks)}
            while pending:
                done, _ = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
                stops.check()
                for future in done:
                    results[pending.pop(future)] = future.result()
                if progress is not None:
                    progress(len(results), len(tasks))
    except BaseException as exc:
        with StopSignals():  # a second signal must not interrupt the clean-up
            _terminate(pool)
        _report_stop(exc)
        raise
    pool.shutdown(wait=True)
    return [results[i] for i in range(len(tasks))]


def _run_dask(
    fn: Callable[[T], R], tasks: Sequence[T], settings: EngineSettings, progress: Progress | None
) -> list[R]:
    try:
        # Imported as a module object: dask is optional and only partly typed.
        distributed: Any = importlib.import_module("dask.distributed")
    except ImportError:
        raise InputError(
            "expected dask.distributed to be installed for --engine dask "
            "(pip install 'routetrial[distributed]'), found it missing",
            field="--engine",
        ) from None
    cluster: Any = None
    client: Any = None
    try:
        # Deferred like the pool's wait: a signal while the cluster starts or works is looked at
        # every _POLL_S, then the cluster (and its worker processes) is closed before exiting.
        with StopSignals() as stops:
            if settings.dask_address is None:
                cluster = distributed.LocalCluster(
                    n_workers=settings.workers,
                    threads_per_worker=1,
                    processes=settings.dask_processes,
                    dashboard_address=None,
                    # Its workers' warnings while a stopped run is closed are noise, not news.
                    silence_logs=logging.ERROR,
                )
                stops.check()
                client = distributed.Client(cluster)
            else:
                client = distributed.Client(settings.dask_address)
            # pure=False: equal tasks are still separate simulations' work, never deduplicated.
            pending: dict[Any, int] = {f: i for i, f in enumerate(client.map(fn, list(tasks), pure=False))}
            results: dict[int, R] = {}
            while pending:
                stops.check()
                done = [f for f in pending if f.done()]
                if not done:
                    time.sleep(_POLL_S)
                    continue
                for future in done:
                    results[pending.pop(future)] = future.result()
                if progress is not None:
                    progress(len(results), len(tasks))
            return [results[i] for i in range(len(tasks))]
    except BaseException as exc:
        _report_stop(exc)
        raise
    finally:
        with StopSignals():  # a second signal must not interrupt the clean-up
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()


def _report_stop(exc: BaseException) -> None:
    """One line on stderr when a signal stopped the workers (once, whoever reports first)."""
    if isinstance(exc, Interrupted) and not exc.reported:
        print(
            f"routetrial: interrupted by {exc.signal_name}; the design's workers were stopped",
            file=sys.stderr,
            flush=True,
        )
        exc.reported = True
