"""The request stream as a SimPy process: each request leaves at its scheduled virtual time.

This is the only module of ``traffic`` that imports SimPy. The process waits *until* each absolute
send time (``t_i - now``), never for a gap in turn, so float rounding cannot accumulate over a
night: ``env.now`` at request ``i`` equals ``scheduled_s[i]`` exactly (SimPy fires at
``now + delay``, and the delay is nudged by one ulp in the rare case where that sum rounds away).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from traffic._schedule import Schedule

__all__ = ["request_stream"]


def request_stream(
    env: simpy.Environment,
    spec: Schedule,
    rng: np.random.Generator | None,
    sink: Callable[[int], None],
) -> Generator[simpy.Event, Any, None]:
    """SimPy process calling ``sink(seq)`` at each request's scheduled time, in seq order.

    Start it with ``env.process(request_stream(env, schedule, None, sink))``. ``rng`` is accepted
    for the house signature ``(env, spec, rng, sink)`` and unused: the schedule already holds every
    random draw. Requests due at the same time (or already due when the process starts) are passed
    to ``sink`` without a timeout event, which is also what keeps this loop cheap.
    """
    del rng
    timeout = env.timeout
    for seq, due in enumerate(spec.scheduled_s.tolist()):
        now = env.now
        delay = due - now
        # delay <= 0 (a tie, or -0.0) means "now": no event, and never a negative timeout.
        if delay > 0.0:
            if now + delay != due:
                # SimPy fires at now + delay; on a rounding tie, one ulp of delay makes that exact.
                delay = math.nextafter(delay, math.inf if now + delay < due else 0.0)
            yield timeout(delay)
        sink(seq)
