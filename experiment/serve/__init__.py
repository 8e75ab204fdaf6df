"""``routetrial serve``: a real OpenAI-compatible test server on 127.0.0.1 with injected faults.

What lives here, one concept a module:

- :mod:`~experiment.serve.server`: the ASGI app (:class:`SimulatedServer`'s endpoints, its
  bounded and key-guarded request log ``/_log``, :func:`build_app`);
- :mod:`~experiment.serve.simulation`: the plan's simulated models and what each request gets;
- :mod:`~experiment.serve.replies`: the reply texts and OpenAI-shaped bodies and stream events;
- :mod:`~experiment.serve.faults`: :class:`FaultSpec` and the per-request fault draw;
- :mod:`~experiment.serve.running`: uvicorn's settings, the listening socket and
  :class:`ServerThread` (the server in a background thread, for tests and benchmarks).

Who may import it: the ``serve`` command (:mod:`experiment.cli.serve`), the tests and the
benchmarks, through the names below (``from experiment.serve import SimulatedServer``), never its
modules. The campaigns never do: to them this is just a server at a URL.
"""

from experiment.serve.faults import FaultSpec
from experiment.serve.replies import answer_text, judge_verdict
from experiment.serve.running import ServerThread, bind_socket, uvicorn_config
from experiment.serve.server import (
    LOG_BODY_BYTES,
    LOG_SIZE,
    MAX_BODY_BYTES,
    ServedRequest,
    SimulatedServer,
    build_app,
)

__all__ = [
    "LOG_BODY_BYTES",
    "LOG_SIZE",
    "MAX_BODY_BYTES",
    "FaultSpec",
    "ServedRequest",
    "ServerThread",
    "SimulatedServer",
    "answer_text",
    "bind_socket",
    "build_app",
    "judge_verdict",
    "uvicorn_config",
]
