"""Shared builders for the report tests: a frozen starter plan and a synthetic campaign's results.

The campaign is synthetic on purpose (vectorised numpy columns, any size in a second) but goes
through the real pieces: the starter plan frozen by ``prereg``, ``analysis.TrialTable`` and
``analysis.analyze``. This module holds no tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import analysis
import prereg
from prereg.schema import Plan, SampleSizeSpec
from prereg.starter import STARTER_CORPUS, render_starter_plan
from reports import LogEvent, Registration

HOSTILE = "<script>alert('pwned')</script> & <img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class Campaign:
    """A frozen plan, the analysis results of synthetic trials under it, and its registration."""

    frozen: prereg.FrozenPlan
    plan: Plan
    results: analysis.Results
    registration: Registration
    table: analysis.TrialTable


def frozen_starter(folder: Path, *, hostile: bool = False) -> prereg.FrozenPlan:
    """Write the starter plan and corpus into ``folder`` (one case text hostile if asked) and freeze it."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = STARTER_CORPUS.read_text(encoding="utf-8").splitlines()
    if hostile:
        first = json.loads(lines[0])
        first["text"] = HOSTILE
        lines[0] = json.dumps(first)
    corpus = ("\n".join(lines) + "\n").encode()
    (folder / "corpus.jsonl").write_bytes(corpus)
    plan_path = folder / "plan.yaml"
    plan_path.write_text(render_starter_plan(prereg.bytes_hash(corpus)), encoding="utf-8")
    prereg.freeze(plan_path)
    return prereg.load_frozen_plan(plan_path)


def registration_of(frozen: prereg.FrozenPlan) -> Registration:
    """The report's registration facts, copied from the lock record and the log."""
    lock = frozen.lock
    log = tuple(
        LogEvent(e.seq, e.kind, e.at_utc, dict(e.detail), e.hash) for e in prereg.read_log(frozen.path)
    )
    return Registration(
        str(frozen.path),
        lock.bytes_sha256,
        lock.canonical_sha256,
        lock.corpus_sha256,
        lock.frozen_at_utc,
        lock.git_commit,
        lock.routetrial_version,
        lock.analysis_code_sha256,
        frozen.analysis_code_matches,
        lock.parent_sha256,
        log,
    )


def synthetic_columns(
    plan: Plan, cases: tuple[prereg.Case, ...], plan_hash: str, replays: int, seed: int = 7
) -> dict[str, object]:
    """Trial columns for every arm x case x replay, with plausible accuracy, latency and failures."""
    rng = np.random.default_rng(seed)
    arms = plan.arm_ids
    k, a = len(cases), len(arms)
    arm_i = np.repeat(np.arange(a), k * replays)
    case_i = np.tile(np.repeat(np.arange(k), replays), a)
    replay = np.tile(np.arange(replays), a * k)
    n = arm_i.size
    families = np.array([c.family for c in cases])[case_i]
    gold = np.array(["|".join(c.gold_labels) for c in cases])[case_i]
    labels = np.array(plan.taxonomy.labels)
    router = np.array([arm != plan.arms[0].id for arm in arms])[arm_i]
    acc = np.array([0.0, 0.76, 0.79, 0.83, 0.8, 0.8, 0.8][:a])[arm_i]
    difficulty = rng.normal(0, 1.2, k)[case_i]
    p_correct = 1 / (1 + np.exp(-(np.log(acc / (1 - acc + 1e-9) + 1e-9) - difficulty)))
    correct = rng.random(n) < p_correct
    median = np.array([0.0, 900.0, 988.0, 1400.0, 1000.0, 1000.0, 1000.0][:a])[arm_i]
    latency = rng.lognormal(np.log(np.maximum(median, 1.0)), 0.32, n)
    status = np.where(rng.random(n) < 0.01, "timeout", "ok").astype(object)
    status[(rng.random(n) < 0.003)] = "not_sent"
    ok = status == "ok"
    sent = status != "not_sent"
    first_gold = np.array([c.gold_labels[0] for c in cases])[case_i]
    wrong = labels[rng.integers(0, labels.size, n)]
    predicted = np.where(correct, first_gold, wrong).astype(object)
    is_correct = np.array([p in g.split("|") for p, g in zip(predicted, gold, strict=True)], dtype=float)
    routing_ok = router & ok
    predicted[~routing_ok] = None
    correct_col = np.where(routing_ok, is_correct, np.nan)
    correct_col[router & ~ok & sent] = 0.0
    correct_col[~router | ~sent] = np.nan
    e2e = np.where(sent, np.where(router, latency, 0.0) + rng.lognormal(np.log(3000), 0.4, n), np.nan)
    dq = np.where(ok, (rng.random(n) < np.where(router & (is_correct == 1), 0.85, 0.7)).astype(float), np.nan)
    none = np.full(n, None, dtype=object)
    return {
        "plan_hash": np.full(n, plan_hash),
        "trial_id": np.array(
            [f"{arms[x]}:{cases[c].id}:{r}" for x, c, r in zip(arm_i, case_i, replay, strict=True)]
        ),
        "seq": np.arange(n),
        "case_id": np.array([c.id for c in cases])[case_i],
        "family": families,
        "arm": np.array(arms)[arm_i],
        "replay": replay,
        "scheduled_s": np.arange(n) * 0.1,
        "sent_s": np.where(sent, np.arange(n) * 0.1, np.nan),
        "end_s": np.where(sent, np.arange(n) * 0.1 + 3, np.nan),
        "wire_s": np.full(n, np.nan),
        "connect_wait_ms": np.full(n, np.nan),
        "lateness_ms": np.full(n, np.nan),
        "routing_status": np.where(router & sent, status, none),
        "routing_latency_ms": np.where(router & sent, latency, np.nan),
        "routing_first_token_ms": np.full(n, np.nan),
        "routing_attempts": np.where(router & sent, 1.0, np.nan),
        "predicted_label": predicted,
        "gold_labels": gold,
        "correct": correct_col,
        "routed_model": none,
        "downstream_status": np.where(ok, np.full(n, "ok", dtype=object), none),
        "downstream_latency_ms": np.where(ok, 3000.0, np.nan),
        "downstream_first_token_ms": np.full(n, np.nan),
        "downstream_itl_ms": np.full(n, np.nan),
        "downstream_correct": dq,
        "e2e_latency_ms": e2e,
        "tokens_in": np.full(n, 500),
        "tokens_out": np.full(n, 300),
        "cost_usd": np.where(arm_i == a - 1, 0.0004, 0.0001) * sent,
        "routing_cost_usd": np.where(router, 0.00002 * (1 + arm_i) * sent, np.nan),
        "status": status.astype(str),
        "error": none,
    }


def campaign(folder: Path, *, replays: int = 5, hostile: bool = False, seed: int = 7) -> Campaign:
    """Freeze the starter plan, synthesise ``replays`` per case per arm, and analyse them."""
    frozen = frozen_starter(folder, hostile=hostile)
    plan = frozen.plan
    if replays != plan.traffic.replays_per_case:
        total = len(frozen.corpus) * replays * len(plan.arms)
        plan = plan.model_copy(
            update={
                "sample_size": SampleSizeSpec(unique_cases=len(frozen.corpus), requests_total=total),
                "traffic": plan.traffic.model_copy(update={"replays_per_case": replays}),
            }
        )
    cols = synthetic_columns(plan, frozen.corpus, frozen.canonical_hash, replays, seed)
    table = analysis.TrialTable.from_columns(cols)
    per_arm = len(frozen.corpus) * replays
    meta = analysis.RunMeta(
        plan_canonical_sha256=frozen.canonical_hash,
        plan_bytes_sha256=frozen.bytes_hash,
        analysis_code_matches=frozen.analysis_code_matches,
        planned_per_arm=dict.fromkeys(plan.arm_ids, per_arm),
        allocated_per_arm_case={arm: {c.id: replays for c in frozen.corpus} for arm in plan.arm_ids},
    )
    results = analysis.analyze(plan, table, meta)
    return Campaign(frozen, plan, results, registration_of(frozen), table)
