"""``routetrial serve``: the simulated OpenAI-compatible server, for trying and testing live mode.

Thin wiring to :mod:`experiment.serve`; the library is imported inside the command so that
``routetrial --help`` stays fast. SIGINT, SIGTERM and SIGHUP shut the server down gracefully
(uvicorn finishes the requests it is serving), then it says so in one line and exits with
``128 + signal``.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

__all__ = ["COMMANDS", "serve_command"]

_RATE = click.FloatRange(0.0, 1.0)


@click.command("serve")
@click.argument("plan", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port (0 picks a free one).",
)
@click.option(
    "--error-rate",
    type=_RATE,
    default=0.0,
    show_default=True,
    help="Share of requests answered with HTTP 500.",
)
@click.option(
    "--rate-limit-rate",
    type=_RATE,
    default=0.0,
    show_default=True,
    help="Share of requests answered with HTTP 429 and Retry-After.",
)
@click.option(
    "--retry-after",
    "retry_after_s",
    type=click.FloatRange(min=0.0),
    default=1.0,
    show_default=True,
    help="Retry-After seconds sent with a 429.",
)
@click.option(
    "--slow-rate",
    type=_RATE,
    default=0.0,
    show_default=True,
    help="Share of requests slowed down by --slow-ms.",
)
@click.option(
    "--slow-ms",
    type=click.FloatRange(min=0.0),
    default=0.0,
    show_default=True,
    help="Extra service time of a slowed request (ms).",
)
@click.option(
    "--garbage-rate",
    type=_RATE,
    default=0.0,
    show_default=True,
    help="Share of requests answered with a body that is not JSON / SSE.",
)
@click.option(
    "--empty-rate",
    type=_RATE,
    default=0.0,
    show_default=True,
    help="Share of requests answered with empty content.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault draws.")
@click.option(
    "--api-key-env",
    metavar="NAME",
    default=None,
    help="Require 'Authorization: Bearer $NAME' (the variable's value) on every request, /_log included.",
)
@click.option(
    "--log-size",
    type=click.IntRange(0, 1_000_000),
    default=None,
    help="Requests GET /_log keeps, oldest dropped first (default 2,000; bodies over "
    "16 KiB are kept as their size only).",
)
def serve_command(
    plan: Path,
    host: str,
    port: int,
    error_rate: float,
    rate_limit_rate: float,
    retry_after_s: float,
    slow_rate: float,
    slow_ms: float,
    garbage_rate: float,
    empty_rate: float,
    seed: int,
    api_key_env: str | None,
    log_size: int | None,
) -> None:
    """Serve PLAN's simulated models as an OpenAI-compatible chat-completions API.

    Point a live plan's backends at http://HOST:PORT/v1 (kind: openai) with the same model names.
    GET /_log shows the server's own record of every request (service time included).
    """
    import uvicorn

    from experiment.serve import LOG_SIZE, FaultSpec, SimulatedServer, bind_socket, build_app, uvicorn_config
    from experiment.stop_signals import StopSignals
    from prereg import canonical_hash, load_corpus, load_plan
    from prereg.errors import InputError

    spec = load_plan(plan)
    cases = load_corpus((plan.parent / spec.corpus.path).resolve())
    key = None
    if api_key_env is not None:
        key = os.environ.get(api_key_env)
        if not key:
            raise InputError(
                f"expected environment variable {api_key_env} to hold the key, found it unset",
                field="--api-key-env",
            )
    faults = FaultSpec(
        error_rate=error_rate,
        rate_limit_rate=rate_limit_rate,
        garbage_rate=garbage_rate,
        empty_rate=empty_rate,
        slow_rate=slow_rate,
        slow_ms=slow_ms,
        retry_after_s=retry_after_s,
        seed=seed,
    )
    server = SimulatedServer(
        spec,
        cases,
        canonical_hash(spec),
        faults,
        api_key=key,
        log_size=LOG_SIZE if log_size is None else log_size,
    )
    served = sorted(set(server.classifiers) | set(server.models))
    if not served:
        raise InputError("expected simulated classifiers or models to serve, found none", file=str(plan))
    http = uvicorn.Server(uvicorn_config(build_app(server)))
    # uvicorn catches SIGINT and SIGTERM while it runs and raises them again once it has shut
    # down: our handlers (restored by then) remember the signal; SIGHUP asks for the same stop,
    # and so does any signal from the "serving" line on, uvicorn's start-up included.
    with StopSignals() as stops:
        stops.listen(lambda: setattr(http, "should_exit", True))
        sock = bind_socket(host, port)
        click.echo(
            f"serving {', '.join(served)} on http://{host}:{sock.getsockname()[1]}/v1 (Ctrl-C stops)",
            err=True,
        )
        http.run(sockets=[sock])
    if stops.signum is not None:
        from experiment.stop_signals import Interrupted

        stopped = Interrupted(stops.signum)
        click.echo(f"routetrial: serve stopped by {stopped.signal_name}", err=True)
        raise stopped


COMMANDS: list[click.Command] = [serve_command]
