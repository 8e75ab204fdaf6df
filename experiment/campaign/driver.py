"""The SimPy driver of a simulated campaign: the request stream through the arms, one result each.

Both the campaign runner (:mod:`experiment.campaign.simulated`, into the store) and design
diagnosis (:mod:`experiment.design.sim`, in memory, thousands of times) drive a campaign this
way, so a design simulates exactly the campaign a ``run`` would: the same requests, started on
the same arms at the same virtual times, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import simpy

from arms import ArmOutcome, ArmRequest, SimulatedArm
from experiment.campaign.requests import ScheduleRequests
from experiment.stop_signals import Interrupted, StopSignals
from traffic import request_stream

__all__ = ["drive"]


def drive(
    env: simpy.Environment,
    requests: ScheduleRequests,
    arms: Mapping[str, SimulatedArm],
    on_done: Callable[[ArmRequest, ArmOutcome], None],
    stops: StopSignals | None = None,
    aborted: Callable[[ArmRequest], bool] | None = None,
    on_aborted: Callable[[ArmRequest], None] | None = None,
) -> None:
    """Run ``env`` until every request of the schedule is served; ``on_done`` gets each result.

    A signal caught by ``stops`` raises :class:`~experiment.stop_signals.Interrupted` before the
    next arrival (from inside the request stream's process, which SimPy re-raises out of
    ``env.run``). A request whose arm an abort rule has stopped (``aborted``) is not started:
    ``on_aborted`` gets it at its arrival instead.
    """
    process = env.process

    def finish(request: ArmRequest, event: Any) -> None:
        on_done(request, event.value)

    def sink(seq: int) -> None:
        if stops is not None and stops.signum is not None:
            raise Interrupted(stops.signum)
        request = requests(seq)
        if aborted is not None and on_aborted is not None and aborted(request):
            on_aborted(request)
            return
        process(arms[request.arm].process(env, request)).callbacks.append(partial(finish, request))

    env.process(request_stream(env, requests.schedule, sink))
    env.run()
