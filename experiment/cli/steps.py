"""The steps of a study as the command line says them: each does one library call and prints it.

``check``, ``freeze``, ``verify``, ``run`` and ``analyze`` are thin click commands around these, and ``demo``
strings the same steps together, so a command never imports another command (DEVELOPERS.md) and
the demo prints exactly what the commands print. Library code is imported inside the functions,
which keeps ``routetrial --help`` fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from prereg.study_files import default_store_path

if TYPE_CHECKING:
    from analysis import Results
    from experiment.campaign import LiveRunSummary
    from experiment.design import DesignSettings, EngineSettings
    from prereg.check import CheckedPlan
    from prereg.frozen import FrozenPlan
    from prereg.schema import Plan

__all__ = [
    "check_step",
    "design_step",
    "design_summary",
    "freeze_step",
    "run_step",
    "summary_lines",
    "verify_step",
]


def check_step(plan: Path) -> None:
    """Check ``plan`` and say what it holds, what its design can show, and its simulated power."""
    from prereg.check import load_checked_plan

    checked = load_checked_plan(plan)
    for line in _summary(checked):
        click.echo(line)
    for line in _power_lines(checked):
        click.echo(line)


def _power_lines(checked: CheckedPlan) -> list[str]:
    """Power from the design diagnosis stored beside the plan: a warning per gate below target."""
    from experiment.design import design_results_path, load_design_results, power_warnings, require_simulated
    from prereg.errors import InputError

    try:
        require_simulated(checked.plan)
    except InputError as exc:
        # A live plan's backends have no assumed truths to simulate from: say so, not "run design".
        return [f"  power: cannot be simulated for this plan ({exc}); diagnose a simulated twin of it"]
    results = load_design_results(checked.path, plan_hash=checked.canonical_sha256)
    if results is None:
        stale = (
            " (the stored one is for another version of the plan)"
            if design_results_path(checked.path).exists()
            else ""
        )
        return [f"  power: not simulated yet{stale}; run `routetrial design {checked.path}`"]
    warnings = power_warnings(results)
    if not warnings:
        return [
            f"  power: every gate reaches {results.target_power:.0%} at the assumed "
            f"truths ({results.sims} simulations)"
        ]
    return [f"  warning: {line}" for line in warnings]


def _summary(checked: CheckedPlan) -> list[str]:
    plan = checked.plan
    routers = list(plan.decision_arms)
    controls = [a.id for a in plan.arms if a.kind == "control"]
    families = len({c.family for c in checked.corpus})
    weights = {a: plan.ratio_of(a) for a in plan.arm_ids}
    replays = plan.traffic.replays_per_case
    n_cases = len(checked.corpus)
    per_arm = ", ".join(f"{a} {n_cases * replays * w}" for a, w in weights.items())
    return [
        f"{checked.path}: OK (schema, meaning, corpus hash and sample size)",
        f"  study: {plan.study.title}",
        f"  canonical sha256: {checked.canonical_sha256}",
        f"  arms: {len(plan.arms)} ({', '.join(routers)} routing; control: {', '.join(controls) or 'none'}"
        + "".join(f"; {a.kind}: {a.id}" for a in plan.arms if a.kind not in ("router", "service", "control"))
        + ")",
        f"  corpus: {plan.corpus.path}, {n_cases} cases in {families} families, sha256 matches the pin",
        f"  sample: {n_cases} cases x {replays} replays x {sum(weights.values())} arm weights = "
        f"{plan.sample_size.requests_total} requests (per arm: {per_arm})",
        *design_summary(plan, n_cases),
    ]


def design_summary(plan: Plan, n_cases: int) -> list[str]:
    """What the design can show for each gate (:func:`analysis.gate_requirement`, the answer the
    results document and design diagnosis give too), per distinct arm size."""
    import analysis

    unit = plan.analysis.unit
    lines = [f"  design (unit of analysis: {unit}; what n per arm can show):"]
    sizes: dict[int, list[str]] = {}
    for arm_id in plan.decision_arms:
        sizes.setdefault(plan.traffic.replays_per_case * plan.ratio_of(arm_id), []).append(arm_id)
    for gate in plan.gates:
        for replays, arms in sizes.items():
            scope = "" if len(sizes) == 1 else f" [{', '.join(arms)}]"
            req = analysis.gate_requirement(gate, plan.analysis, n_cases, replays)
            head = f"{gate.metric} {gate.op} {gate.threshold:g} ({req.rule}, unit {req.unit}, n = {req.n})"
            verdict = "decidable" if req.decidable else "can NOT pass at this n: only FAIL or INCONCLUSIVE"
            lines.append(f"    gate {gate.id}{scope}: {head}: {verdict}; {req.needs}")
    lines.extend(f"  warning: {w}" for w in analysis.plan_warnings(plan, n_cases))
    return lines


def design_step(plan: Path, settings: DesignSettings, engine: EngineSettings) -> None:
    """Diagnose ``plan``'s design by simulation, write its results beside it, print the table.

    The results file is never written over a file of the study; on a terminal each phase has a
    progress bar.
    """
    from experiment.cli.options import default_store
    from experiment.cli.output_guard import refuse_study_files
    from experiment.design import design_results_path, run_design
    from prereg.check import load_checked_plan

    checked = load_checked_plan(plan)
    refuse_study_files(
        design_results_path(checked.path),
        option="design",
        plan=checked.path,
        store=default_store(checked.path),
    )
    bars = _Bars()
    try:
        run = run_design(checked, settings, engine, progress=bars if sys.stderr.isatty() else None)
    finally:
        bars.close()
    for line in run.lines(plan):
        click.echo(line)


class _Bars:
    """One click progress bar per phase on stderr (only on a terminal)."""

    def __init__(self) -> None:
        self._phase: str | None = None
        self._bar: Any = None
        self._shown = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self._phase:
            self.close()
            self._phase, self._shown = phase, 0
            self._bar = click.progressbar(
                length=total,
                label=f"simulating {phase}",
                show_eta=True,
                show_pos=True,
                file=sys.stderr,
                width=24,
            )
            self._bar.__enter__()
        if done > self._shown:
            self._bar.update(done - self._shown)
            self._shown = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def freeze_step(plan: Path) -> None:
    """Freeze ``plan`` (or say it already is) and print the hashes the lock binds."""
    from prereg.lock import freeze
    from prereg.study_files import lock_path

    existed = lock_path(plan).exists()
    record = freeze(plan)
    if existed:
        click.echo(f"{plan}: already frozen at {record.frozen_at_utc}, unchanged (nothing written)")
        return
    click.echo(f"froze {plan} -> {lock_path(plan)}")
    click.echo(f"  canonical sha256 {record.canonical_sha256}")
    click.echo(f"  bytes sha256     {record.bytes_sha256}")
    click.echo(f"  corpus sha256    {record.corpus_sha256}")
    if record.trace_sha256 is not None:
        click.echo(f"  trace sha256     {record.trace_sha256}")
    click.echo(f"  analysis code    {record.analysis_code_sha256}")
    click.echo(f"  git commit       {record.git_commit or '(not in a git repository)'}")
    if record.parent_sha256:
        click.echo(f"  amends           {record.parent_sha256}")


def verify_step(plan: Path, store: str | None = None) -> None:
    """Check ``plan`` against its lock and, when there is one, its store against its digests.

    The store is ``store``, else the plan's default store when it exists.
    """
    from prereg.errors import PlanChangedError
    from prereg.lock import verify

    report = verify(plan)
    if not report.ok:
        raise PlanChangedError(f"{plan}: {report.describe()}")
    bound = "plan bytes, corpus, trace" if report.lock.trace_sha256 is not None else "plan bytes, corpus"
    click.echo(
        f"unchanged: {plan} ({bound}, analysis code and log agree with the lock "
        f"of {report.lock.frozen_at_utc})"
    )
    if store is None and default_store_path(plan).exists():
        store = str(default_store_path(plan))
    if store is not None:
        from experiment.store import TrialStore

        with TrialStore.open(store, report.lock.canonical_sha256, create=False, read_only=True) as st:
            trials = st.read_arrow()
            st.check_trials(trials)  # raises naming the first trial edited, deleted or inserted
            n = trials.num_rows
        click.echo(f"unchanged: {store} ({n:,} trials agree with the digests committed with them)")


def run_step(frozen: FrozenPlan, target: str, batch_size: int | None = None) -> None:
    """Run (or resume) the campaign of ``frozen`` into ``target``: simulated or live by its backends.

    Says what was stored; a signal that stopped the campaign exits with ``128 + signal``.
    """
    if frozen.plan.is_live:
        _run_live(frozen, target)
    else:
        _run_simulated(frozen, target, batch_size)


def _run_simulated(frozen: FrozenPlan, target: str, batch_size: int | None) -> None:
    from experiment.campaign import run_simulated

    summary = run_simulated(frozen, target, progress=sys.stderr.isatty(), batch_size=batch_size)
    done, planned = sum(summary.done.values()), sum(summary.planned.values())
    resumed = f", {summary.resumed:,} were already stored" if summary.resumed else ""
    click.echo(
        f"stored {done:,} of {planned:,} trials in {target} "
        f"({summary.written:,} written in {summary.elapsed_s:.1f} s{resumed}; "
        f"{summary.virtual_s / 3600:.2f} h of virtual traffic)"
    )
    _echo_failures(summary.failures)
    if summary.stopped_early is not None:
        click.echo(f"{summary.stopped_early} (pre-registered {_stopping_kind(frozen)}); the rest was not run")
    if summary.interrupted_by is not None:
        _stop(summary.interrupted_by, done, planned, target)


def _lateness_line(summary: LiveRunSummary) -> str:
    """Lateness to the wire, the connection wait inside it, and whether the run is valid."""
    p50 = "n/a" if summary.lateness_p50_ms is None else f"{summary.lateness_p50_ms:.2f} ms"
    p99 = "n/a" if summary.lateness_p99_ms is None else f"{summary.lateness_p99_ms:.2f} ms"
    wait = "n/a" if summary.connect_wait_p99_ms is None else f"{summary.connect_wait_p99_ms:.2f} ms"
    if summary.valid:
        validity = "valid"
    elif summary.not_sent_in_time:
        validity = (
            f"INVALID: {summary.not_sent_in_time:,} requests timed out before they were sent "
            "(no connection free: raise the backend's max_in_flight or lower the rate)"
        )
    else:
        validity = f"INVALID: p99 lateness above the plan's bound of {summary.max_lateness_p99_ms:g} ms"
    return f"lateness to the wire p50 {p50}, p99 {p99} (connection wait p99 {wait}): {validity}"


def _run_live(frozen: FrozenPlan, target: str) -> None:
    from experiment.campaign import run_live

    summary = run_live(frozen, target, progress=sys.stderr.isatty())
    done, planned = sum(summary.done.values()), sum(summary.planned.values())
    resumed = f", {summary.resumed:,} were already stored" if summary.resumed else ""
    click.echo(
        f"stored {done:,} of {planned:,} live trials in {target} "
        f"({summary.written:,} written in {summary.elapsed_s:.1f} s{resumed}; "
        f"{summary.interrupted:,} interrupted)"
    )
    for server in summary.servers:
        version = server.version or "version not recorded"
        click.echo(
            f"server {server.id}: {version}, ready {server.startup_s:.1f} s after its start (log: {server.log})"
        )
    for base, why in sorted((summary.warm_up_failures or {}).items()):
        click.echo(f"warm-up: {why} before the clock started ({base})")
    click.echo(_lateness_line(summary))
    _echo_failures(summary.failures)
    if summary.interrupted_by is not None and not summary.complete:
        _stop(summary.interrupted_by, done, planned, target)
    if summary.stopped_early is not None:
        click.echo(f"{summary.stopped_early} (pre-registered {_stopping_kind(frozen)}); the rest was not run")
    elif summary.stopped and not summary.complete:
        click.echo("stopped before the end of the schedule; run the same command again to resume")
    elif not summary.complete:
        from prereg.errors import StoreWriteError

        missing = sum(summary.planned.values()) - done
        raise StoreWriteError(
            f"{target}: the run ended with {missing:,} scheduled trials not stored; "
            "run the same command again to store them"
        )


def _stopping_kind(frozen: FrozenPlan) -> str:
    """The plan's stopping rule in two words, for the line that says a campaign stopped early."""
    return frozen.plan.analysis.stopping.kind.replace("_", "-").replace("-sequence", " sequence")


def _stop(signum: int, done: int, planned: int, target: str) -> None:
    """Say that a signal stopped the campaign, then exit with ``128 + signal``."""
    from experiment.stop_signals import Interrupted

    exc = Interrupted(signum)
    click.echo(
        f"routetrial: interrupted by {exc.signal_name}: {done:,} of {planned:,} trials stored in "
        f"{target}; run the same command again to resume",
        err=True,
    )
    exc.reported = True
    raise exc


def _echo_failures(failures: dict[str, int]) -> None:
    fails = ", ".join(f"{k} {v:,}" for k, v in failures.items()) or "none"
    click.echo(f"failed trials (data, not errors): {fails}")


def summary_lines(results: Results) -> list[str]:
    """The verdicts in a few lines: each gate with the numbers that decided it, then each arm."""
    import analysis

    routed = sum(a.flow.analysed for a in results.arms if a.kind in analysis.DECIDING_KINDS)
    lines = [f"{results.plan.title}: {routed:,} routing decisions analysed, from the {results.plan.source}"]
    if results.plan.deviations:
        lines.append(f"deviations: {'; '.join(results.plan.deviations)}")
    seq = results.sequential
    if seq is not None:
        spending = seq.spending.replace("_", "-")
        lines.append(f"group-sequential ({spending}, {len(seq.looks)} looks): {seq.reason}")
    width = max((len(g.arm) for g in results.gates), default=0)
    for gate in results.gates:
        estimate = "no estimate" if gate.estimate is None else f"estimate {gate.estimate:.4g}"
        at = "" if seq is None or gate.look is None else f" at look {gate.look} of {len(seq.looks)}"
        lines.append(
            f"  {gate.arm:<{width}}  {gate.metric} {gate.op} {gate.threshold:g}: {gate.verdict}{at} "
            f"({estimate}; {gate.reason})"
        )
    for arm in results.viability:
        lines.append(f"  {arm.arm:<{width}}  viable: {arm.verdict} ({arm.reason})")
    for h in results.hypotheses or ():
        if h.gates:
            lines.append(f"  hypothesis {h.id}: {h.summary}")
    for srm in results.srm:
        if srm.mismatch:
            lines.append(f"  sample-ratio mismatch in {srm.what} counts (p = {srm.p_value:.3g})")
    ref = results.reference
    for mix in () if ref is None else ref.random_mixes:
        if mix.random_did_as_well:
            lines.append(f"  {mix.arm:<{width}}  {mix.note} (exploratory; see the report)")
    return lines
