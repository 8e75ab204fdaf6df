"""Live-mode benchmark against the local simulated server: dispatch lateness and harness overhead.

Runs ``routetrial serve`` in a subprocess (its own interpreter, so server and client do not share
a GIL), then live campaigns at 200, 1,000 and 2,000 requests/s (constant arrivals) through the
real scheduler, store included. Prints per rate:

- lateness p50 / p99 measured to the wire (the moment aiohttp wrote the request's headers, so a
  wait for a connection counts) and the p99 of that connection wait; target p99 <= 2 ms at 200/s
  and at 1,000/s; whether the run is valid by the plan's bound (10 ms);
- achieved / intended rate: requests over the span of their wire times, against the plan's rate;
- CPU ms per request of the client process (all its threads: dispatcher, HTTP, store writer);
- harness overhead per request: the client's measured call duration minus the server's own
  handler time for the same request (``GET /_log``, matched by trial id), for control-arm
  downstream calls (send to done) and router-arm classifier calls (scheduled to done, so
  lateness included); target median <= 1 ms.

and the highest of the rates run whose campaign stayed valid (target: 2,000/s on one core).

Usage: ``.venv/bin/python bench/bench_live.py [--seconds S] [--rates R ...]``. Numbers depend on the machine's
load; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from experiment.campaign.live import run_live_plan
from experiment.store import TrialStore
from prereg.corpus import load_corpus
from prereg.schema import Plan

ROOT = Path(__file__).resolve().parent.parent
STARTER = ROOT / "prereg" / "starter" / "corpus.jsonl"
LABELS = ["code", "math", "summarization", "translation", "creative_writing", "knowledge_qa"]
HASH = "c" * 64


def plan_doc(
    backend: dict[str, Any], model_backend: dict[str, Any], rate: float, replays: int, extra: dict[str, Any]
) -> dict[str, Any]:
    models = {key: {"model": f"{key}-llm", "backend": model_backend, **extra} for key in ("small", "large")}
    return {
        "study": {"title": "bench", "authors": ["b"], "hypotheses": ["h"]},
        "taxonomy": {"labels": LABELS},
        "corpus": {"path": "corpus.jsonl", "sha256": "0" * 64},
        "models": models,
        "arms": [
            {"id": "control", "kind": "control", "model": "large"},
            {
                "id": "router",
                "kind": "router",
                "classifier": {
                    "model": "router-llm",
                    "backend": backend,
                    **extra,
                    "prompt_template": "Classify into one of {labels}:\n{text}",
                },
            },
        ],
        "routing": {"routes": dict.fromkeys(LABELS, "small"), "fallback": "large"},
        "graders": {
            "numeric": {"kind": "numeric", "tolerance": 0.01},
            "exact": {"kind": "exact"},
            "regex": {"kind": "regex"},
        },
        "traffic": {"arrival": {"kind": "constant", "rate_per_s": rate}, "replays_per_case": replays},
        "randomization": {"seed": 1},
        "sample_size": {"unique_cases": 60, "requests_total": 120 * replays},
        "gates": [{"id": "acc", "metric": "routing_accuracy", "op": ">=", "threshold": 0.85}],
    }


def start_server(workdir: Path) -> tuple[subprocess.Popen[str], str]:
    latency = {"median_ms": 2.0, "p95_ms": 4.0, "concurrency": 4096}
    sim_c = {"kind": "simulated", "accuracy": dict.fromkeys(LABELS, 0.9), "latency": latency}
    sim_m = {
        "kind": "simulated",
        "quality": dict.fromkeys(LABELS, 0.9),
        "latency": latency,
        "tokens": {"input": 300, "output": 40},
    }
    (workdir / "sim.yaml").write_text(yaml.safe_dump(plan_doc(sim_c, sim_m, 1.0, 1, {})))
    shutil.copy(STARTER, workdir / "corpus.jsonl")
    # The server's stderr goes to a file: a pipe nobody reads would fill up and stall it.
    errors = workdir / "serve.stderr"
    with errors.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "experiment", "serve", str(workdir / "sim.yaml"), "--port", "0"],
            stderr=fh,
            text=True,
        )
    deadline = time.monotonic() + 30.0
    while "serving" not in errors.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"server did not start: {errors.read_text()}")
        time.sleep(0.05)
    return proc, errors.read_text().split(" on ", 1)[1].split()[0]


def campaign(url: str, workdir: Path, rate: float, seconds: float) -> dict[str, float]:
    replays = max(1, round(rate * seconds / 120))
    backend = {"kind": "openai", "base_url": url, "structured": "choice", "stream": True}
    plan = Plan.model_validate(plan_doc(backend, backend, rate, replays, {"timeout_ms": 10_000.0}))
    base = url.removesuffix("/v1")
    urllib.request.urlopen(urllib.request.Request(f"{base}/_log", method="DELETE")).read()
    store = f"duckdb:///{workdir / f'live-{rate:g}.duckdb'}"
    cpu0 = time.process_time()
    summary = run_live_plan(plan, load_corpus(STARTER), HASH, workdir, store)
    cpu_s = time.process_time() - cpu0
    with urllib.request.urlopen(f"{base}/_log", timeout=60) as reply:
        log = json.load(reply)
    served = {(e["trial"], e["kind"]): e["handler_ms"] for e in log if e["handler_ms"] is not None}
    with TrialStore.open(store, HASH, create=False) as s:
        cols = {k: v.tolist() for k, v in s.read_columns().items()}
    down, route = [], []
    for i, trial in enumerate(cols["trial_id"]):
        if cols["status"][i] != "ok":
            continue
        if cols["arm"][i] == "control" and (trial, "downstream") in served:
            down.append(cols["downstream_latency_ms"][i] - served[(trial, "downstream")])
        if cols["arm"][i] == "router" and (trial, "classifier") in served:
            route.append(cols["routing_latency_ms"][i] - served[(trial, "classifier")])
    ok = sum(1 for s in cols["status"] if s == "ok")
    wire = np.sort(np.asarray([w for w in cols["wire_s"] if w is not None], dtype=float))
    achieved = (
        (wire.size - 1) / (wire[-1] - wire[0]) if wire.size > 1 and wire[-1] > wire[0] else float("nan")
    )
    return {
        "achieved_ratio": achieved / rate,
        "cpu_ms_per_request": cpu_s * 1000.0 / max(summary.sent, 1),
        "connect_wait_p99_ms": summary.connect_wait_p99_ms or float("nan"),
        "valid": float(summary.valid),
        "requests": float(summary.sent),
        "ok": float(ok),
        "lateness_p50_ms": summary.lateness_p50_ms or float("nan"),
        "lateness_p99_ms": summary.lateness_p99_ms or float("nan"),
        "lateness_max_ms": float(np.nanmax(np.asarray(cols["lateness_ms"], dtype=float))),
        "overhead_downstream_p50_ms": float(np.median(down)) if down else float("nan"),
        "overhead_downstream_p99_ms": float(np.percentile(down, 99)) if down else float("nan"),
        "overhead_routing_p50_ms": float(np.median(route)) if route else float("nan"),
        "elapsed_s": summary.elapsed_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="Length of each campaign.")
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[200.0, 1000.0, 2000.0],
        help="Request rates to run (per second).",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        proc, url = start_server(workdir)
        valid_rates = []
        try:
            for rate in args.rates:
                r = campaign(url, workdir, rate, args.seconds)
                if r["valid"]:
                    valid_rates.append(rate)
                print(
                    f"rate {rate:>6.0f}/s  requests {r['requests']:>6.0f} (ok {r['ok']:.0f})  "
                    f"lateness p50 {r['lateness_p50_ms']:.3f} ms  p99 {r['lateness_p99_ms']:.3f} ms  "
                    f"max {r['lateness_max_ms']:.2f} ms  (connection wait p99 "
                    f"{r['connect_wait_p99_ms']:.3f} ms)  {'valid' if r['valid'] else 'INVALID'}"
                )
                print(
                    f"              achieved/intended rate {r['achieved_ratio']:.4f}  "
                    f"client CPU {r['cpu_ms_per_request']:.3f} ms per request"
                )
                print(
                    f"              harness overhead: downstream call median "
                    f"{r['overhead_downstream_p50_ms']:.3f} ms (p99 {r['overhead_downstream_p99_ms']:.3f}), "
                    f"routing from scheduled time median {r['overhead_routing_p50_ms']:.3f} ms"
                )
            best = f"{max(valid_rates):g}/s" if valid_rates else "none"
            print(f"highest rate run that stayed valid: {best}")
            print(
                "targets: lateness p99 <= 2 ms at 200/s and 1,000/s; overhead median <= 1 ms; "
                "2,000/s valid on one core"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
