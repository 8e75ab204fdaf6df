"""The design figures as the plain-text table ``routetrial design`` (and ``routetrial demo``) print.

Presentation only: every number comes from the :class:`analysis.DiagnosisResult`; the HTML view
of the same figures is :mod:`reports._power`.
"""

from __future__ import annotations

from analysis import DiagnosisResult, ShareCi

__all__ = ["format_design", "format_icc_grid"]


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _ci(value: float | None, ci: ShareCi | None, digits: int = 3) -> str:
    """``0.045 [0.024, 0.083]``: a share with its Monte Carlo interval."""
    if value is None:
        return "-"
    if not ci:
        return _fmt(value, digits)
    return f"{value:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def format_icc_grid(results: DiagnosisResult) -> list[str]:
    """The ICC grid as a small table: per gate, ICC and router arm, P(PASS) at the boundary (the
    type I error), P(FAIL) and, for accuracy gates, coverage of the accuracy interval."""
    grid = results.icc_grid
    if grid is None:
        return []
    lines = [
        f"ICC grid: each gate at its boundary, replays of a case correlated ({grid.sims} "
        f"simulations per gate and ICC; 95% Wilson intervals)",
        f"{'gate':<14} {'ICC of':<11} {'ICC':>4}  {'arm':<16} {'P(PASS) = type I':>22} "
        f"{'P(FAIL)':>22} {'coverage':>22}",
    ]
    notes: list[str] = []
    for gate_id, g in grid.gates.items():
        for point in g.points:
            icc = f"{point.icc:.2f}"
            if point.arms is None:
                lines.append(
                    f"{gate_id:<14} {g.icc_of:<11} {icc:>4}  {'-':<16} {'-':>22} {'-':>22} {'-':>22}"
                )
                notes.append(f"{gate_id} at ICC {icc}: {point.note}")
                continue
            for arm, a in point.arms.items():
                cov = a.accuracy_interval
                coverage = "-" if cov is None else _ci(cov.coverage, cov.coverage_ci)
                lines.append(
                    f"{gate_id:<14} {g.icc_of:<11} {icc:>4}  {arm:<16} "
                    f"{_ci(a.type_i_error, a.type_i_error_ci):>22} "
                    f"{_ci(a.p_fail, a.p_fail_ci):>22} "
                    f"{coverage:>22}"
                )
                if a.note:
                    notes.append(f"{gate_id} at ICC {icc}, {arm}: {a.note}")
    alphas = sorted({g.nominal_alpha for g in grid.gates.values() if g.nominal_alpha is not None})
    if alphas:
        lines.append(
            f"nominal alpha {', '.join(f'{a:g}' for a in alphas)}; coverage of the "
            "two-sided accuracy interval at the plan's level."
        )
    return lines + [f"note: {n}" for n in notes]


def _sample_size_text(results: DiagnosisResult, arm: str, gate_id: str) -> str:
    """The fewest unique cases for the target power, ``>n_max`` when never reached, ``-`` unsearched."""
    min_cases = results.min_cases
    if min_cases is None:
        return "-"
    m = min_cases.arms[arm][gate_id]
    if m.target is None:
        return "-"
    return str(m.n) if m.n is not None else f">{min_cases.n_max}"


def format_design(results: DiagnosisResult) -> list[str]:
    """A short plain-text table of the design figures (what ``routetrial design`` prints)."""
    header = (
        f"{'arm':<16} {'gate':<14} {'truth':>8} {'P(PASS)':>8} {'P(FAIL)':>8} {'P(INC)':>7} "
        f"{'power':>6} {'type I':>7} {'n @' + format(results.target_power, '.0%'):>7}"
    )
    lines = [header]
    for arm in results.arms:
        assumed = results.assumed[arm]
        for gate in results.gates:
            g = assumed.gates[gate.id]
            boundary = results.boundary[gate.id][arm]
            digits = 0 if "latency" in gate.metric else 3
            lines.append(
                f"{arm:<16} {gate.id:<14} {_fmt(g.truth, digits):>8} {_fmt(g.p_pass):>8} "
                f"{_fmt(g.p_fail):>8} {_fmt(g.p_inconclusive):>7} {_fmt(g.power, 2):>6} "
                f"{_fmt(boundary.type_i_error):>7} {_sample_size_text(results, arm, gate.id):>7}"
            )
    lines.append("")
    for arm in results.arms:
        cov = results.assumed[arm].accuracy_interval
        level = "-" if cov.level is None else f"{cov.level:.0%}"
        lines.append(
            f"{arm}: {level} accuracy interval covers the truth "
            f"{_ci(cov.coverage, cov.coverage_ci)} (cluster-robust interval "
            f"{_ci(cov.robust.coverage, cov.robust.coverage_ci)}); "
            f"bias of the accuracy {_fmt(cov.bias, 4)}"
        )
    extra = [
        what
        for what, figures in (("grid point", results.curve), ("corpus size", results.min_cases))
        if figures is not None
    ]
    per = f", {results.curve_sims} per {' and '.join(extra)}" if extra else ""
    lines.append(
        f"{results.sims} simulations per world{per}. type I: P(PASS) with the truth on the "
        f"threshold; power: P(the verdict the truth deserves); n: fewest unique cases for that power. "
        f"Shares in [ ] are 95% Wilson intervals over the simulations."
    )
    icc = format_icc_grid(results)
    seq = format_sequential(results)
    return lines + (["", *icc] if icc else []) + (["", *seq] if seq else [])


def format_sequential(results: DiagnosisResult) -> list[str]:
    """A group-sequential plan's worlds: the requests a campaign runs, and the P(PASS) of the
    world's gate (a boundary's gate, the accuracy gate on the grid) per arm, sequential / fixed."""
    s = results.sequential
    if s is None:
        return []
    looks = ", ".join(f"{t:g}" for t in s.looks)
    accuracy = next((g.id for g in results.gates if g.metric == "routing_accuracy"), None)
    lines = [
        f"group-sequential ({s.spending.replace('_', ' ')} spending, looks at {looks}"
        f"{', futility' if s.futility else ''}); fixed horizon {s.fixed_requests:,} requests",
        f"{'world':<22} {'E[requests]':>12} {'share':>6} {'P90':>7}  P(PASS) sequential/fixed",
    ]
    for key, w in s.worlds.items():
        gate = key.split(":", 1)[1] if key.startswith("boundary:") else accuracy
        shares = (
            "  ".join(
                f"{arm} {by[gate].p_pass:.3f}/{by[gate].fixed_p_pass:.3f}" for arm, by in w.gates.items()
            )
            if gate is not None and key != "assumed"
            else ""
        )
        what = f" ({gate})" if shares else ""
        lines.append(
            f"{key:<22} {w.expected_requests:>12,.0f} {w.expected_share:>6.0%} {w.p90_requests:>7,.0f}  "
            f"{shares}{what}"
        )
    lines.append(
        "Both designs analyse the same simulated nights. The results file has every gate's P(PASS) and "
        "P(FAIL) with 95% Wilson intervals, and E[requests] with its Monte Carlo error."
    )
    return lines
