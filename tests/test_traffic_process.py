"""The SimPy request stream: sink(seq) at each scheduled virtual time, in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import simpy
from _traffic_plans import case_ids, make_plan
from hypothesis import given
from hypothesis import strategies as st

from traffic import Schedule, build_schedule, request_stream


def schedule_at(times: list[float]) -> Schedule:
    """A one-arm, one-case schedule with the given send times."""
    n = len(times)
    return Schedule(
        ("a",),
        ("c",),
        np.zeros(n, np.int16),
        np.zeros(n, np.int32),
        np.arange(n, dtype=np.int32),
        np.asarray(times, dtype=np.float64),
    )


def run(schedule: Schedule, *, start: float = 0.0) -> list[tuple[float, int]]:
    """Run the stream alone from virtual time ``start``; the log of (env.now, seq) per sink call."""
    env = simpy.Environment(initial_time=start)
    log: list[tuple[float, int]] = []
    env.process(request_stream(env, schedule, lambda seq: log.append((env.now, seq))))
    env.run()
    return log


def test_sink_is_called_at_each_scheduled_time() -> None:
    """Send times 0, 0.5, 0.5, 2 give exactly that log, ties included."""
    assert run(schedule_at([0.0, 0.5, 0.5, 2.0])) == [(0.0, 0), (0.5, 1), (0.5, 2), (2.0, 3)]


def test_requests_already_due_are_sent_at_once() -> None:
    """A stream started at t=1 sends the requests due before then immediately, the rest on time."""
    assert run(schedule_at([0.0, 0.5, 3.0]), start=1.0) == [(1.0, 0), (1.0, 1), (3.0, 2)]


@given(
    gaps=st.lists(st.floats(0.0, 1e4, allow_subnormal=False), max_size=60),
    origin=st.floats(0.0, 1e6),
)
def test_virtual_time_tracks_the_absolute_schedule_without_drift(gaps: list[float], origin: float) -> None:
    """Whatever the gaps, each sink call comes in seq order within one ulp of its scheduled time."""
    times = origin + np.cumsum(np.asarray(gaps, dtype=np.float64))
    log = run(schedule_at(times.tolist()))
    assert [seq for _, seq in log] == list(range(times.size))
    error = np.abs(np.array([t for t, _ in log]) - times)
    assert np.all(error <= np.spacing(times))


def test_stream_from_a_plan_follows_its_constant_rate() -> None:
    """A constant 10/s plan sends request k at exactly its scheduled time, every seq once."""
    plan = make_plan(arrival={"kind": "constant", "rate_per_s": 10.0}, replays=5)
    schedule = build_schedule(plan, case_ids(6), "ab" * 32, Path("."))
    log = run(schedule)
    assert [seq for _, seq in log] == list(range(len(schedule)))
    assert [t for t, _ in log] == schedule.scheduled_s.tolist()
    assert log[-1][0] == (len(schedule) - 1) / 10.0
