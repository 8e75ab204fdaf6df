"""A server of finite concurrency in virtual time: first come, first served, ``capacity`` at once.

Each simulated classifier and each downstream model is one :class:`FifoServer`, shared by every
arm that sends to it, so arms compete for it and queueing under load is real. It is the same
queue as a ``simpy.Resource(env, capacity)`` whose users each hold a slot for a service time known
when they arrive (tests/test_arms_simpy.py checks that the start times are identical), computed by
booking rather than by events: a request arriving at ``now`` takes the slot that frees first,
starts at ``max(now, free_at)`` and frees it at ``start + service``. One booking replaces the
request, grant and release events of a ``Resource`` (three scheduler round trips per visit), which
is what lets a million-request campaign keep up with a bare SimPy loop.

Booking at arrival also fixes what the server does with a request whose client gave up: it serves
it anyway, holding the slot for the whole service time, as servers that do not notice a client
disconnect do (llama.cpp, Ollama, most HTTP stacks behind a proxy). A timeout therefore relieves no
load; this is the conservative choice for a latency gate.

Requirement: calls come in non-decreasing ``now`` (true inside one SimPy run, where ``now`` is
``env.now``).
"""

from __future__ import annotations

from heapq import heapreplace

__all__ = ["FifoServer"]


class FifoServer:
    """``capacity`` slots serving requests first come, first served; :meth:`book` returns the start.

    ``log``, when a list is given, receives ``(arrival, start, end)`` of every booking in order.
    """

    __slots__ = ("_free_at", "capacity", "log", "name")

    def __init__(self, name: str, capacity: int, log: list[tuple[float, float, float]] | None = None) -> None:
        self.name = name
        self.capacity = capacity
        self.log = log
        # A min-heap of the times at which each slot frees; all free at time 0.
        self._free_at = [0.0] * capacity

    def book(self, now: float, service_s: float) -> float:
        """Queue a request arriving at ``now`` for ``service_s`` seconds; return its start time."""
        free_at = self._free_at[0]
        start = now if now >= free_at else free_at
        end = start + service_s
        heapreplace(self._free_at, end)
        if self.log is not None:
            self.log.append((now, start, end))
        return start
