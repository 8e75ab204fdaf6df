"""The request stream as a SimPy process: each request leaves at its scheduled virtual time.

This is the only module of ``traffic`` that imports SimPy. The process waits *until* each absolute
send time (``t_i - now``), never for a gap in turn, so float rounding cannot accumulate over a
night. SimPy fires at ``now + (t_i - now)``, which equals ``t_i`` exactly in almost every case and
is otherwise one ulp away (a rounding tie that no choice of delay can avoid); the error never
carries over to the next request. Record ``scheduled_s[i]`` from the schedule, not from ``env.now``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from traffic._schedule import Schedule

__all__ = ["request_stream"]


def request_stream(
    env: simpy.Environment,
    spec: Schedule,
    sink: Callable[[int], None],
) -> Generator[simpy.Event, Any, None]:
    """SimPy process calling ``sink(seq)`` at each request's scheduled time, in seq order.

    Start it with ``env.process(request_stream(env, schedule, sink))``; the schedule already holds
    every random draw, so the stream takes no random generator. Requests due at the same time (or already due when the process starts) are passed
    to ``sink`` without a timeout event, which is also what keeps this loop cheap.
    """
    timeout = env.timeout
    for seq, due in enumerate(spec.scheduled_s.tolist()):
        now = env.now
        delay = due - now
        # delay <= 0 (a tie, or -0.0) means "now": no event, and never a negative timeout.
        if delay > 0.0:
            yield timeout(delay)
        sink(seq)
