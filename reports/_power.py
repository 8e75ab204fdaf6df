"""The design diagnosis's figures (an :class:`analysis.DiagnosisResult`) as table rows.

Per router arm and gate the simulated verdict shares and power at the assumed truth, the type I
error at each gate's boundary, the type I error, P(FAIL) and coverage at each boundary over a grid
of replay ICCs, coverage of the accuracy interval, the fewest unique cases for the target power,
and P(PASS) over a grid of true accuracies. Every share is a Monte Carlo estimate and is printed
with its 95% Wilson interval over the simulations.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis import DiagnosisResult, ShareCi

__all__ = ["PowerView", "power_view"]

_MAX_ROWS = 80

#: The curve drawn is the one of the gate with this id, as before the results were typed: a plan
#: whose accuracy gate has another id gets no curve in the report (the file has it).
_CURVE_GATE = "accuracy"


@dataclass(frozen=True, slots=True)
class PowerView:
    """Power per arm and gate, type I error at the boundaries, coverage, sample size, the curve and
    the ICC grid; ``other`` (key/value rows) is kept for the template and is empty."""

    summary: str
    power: tuple[tuple[str, str, str, str, str, str], ...]
    type_i: tuple[tuple[str, str, str, str], ...]
    coverage: tuple[tuple[str, str, str], ...]
    min_cases: tuple[tuple[str, str, str, str, str, str], ...]
    curve_x: tuple[float, ...]
    curve: tuple[tuple[str, tuple[float, ...]], ...]
    curve_sims: int
    other: tuple[tuple[str, str], ...]
    #: (gate, what the ICC is of, ICC, arm, P(PASS) = type I error, P(FAIL), coverage)
    icc: tuple[tuple[str, str, str, str, str, str, str], ...] = ()
    icc_sims: int = 0
    icc_notes: tuple[str, ...] = ()


def _num(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _share(v: float | None, ci: ShareCi | None) -> str:
    """A Monte Carlo share with its interval: ``0.045 [0.024, 0.083]``."""
    if v is None:
        return "–"
    return f"{v:.3f}" if ci is None else f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def power_view(design: DiagnosisResult) -> PowerView:
    """Rows for the Design section from a design diagnosis."""
    summary = (
        f"{design.sims} simulations of the whole design at {design.unique_cases} unique cases; "
        f"target power {_num(design.target_power, 2)}. Shares are Monte Carlo estimates with "
        "their 95% Wilson intervals over the simulations."
    )
    power = []
    coverage = []
    for arm, figures in design.assumed.items():
        for gate, g in figures.gates.items():
            power.append(
                (
                    arm,
                    gate,
                    _num(g.truth),
                    g.target or "–",
                    _share(g.p_pass, g.p_pass_ci),
                    _share(g.power, g.power_ci),
                )
            )
        cov = figures.accuracy_interval
        coverage.append((arm, _share(cov.coverage, cov.coverage_ci), _num(cov.level, 2)))
    type_i = [
        (gate, arm, _share(b.type_i_error, b.type_i_error_ci), _num(b.nominal_alpha))
        for gate, per_arm in design.boundary.items()
        for arm, b in per_arm.items()
    ]
    curve_x, curve = _curve(design)
    icc, icc_notes = _icc_grid(design)
    return PowerView(
        summary,
        tuple(power),
        tuple(type_i),
        tuple(coverage),
        _min_cases(design),
        curve_x,
        curve,
        design.curve_sims,
        (),
        icc,
        0 if design.icc_grid is None else design.icc_grid.sims,
        icc_notes,
    )


_ICC_OF = {"correctness": "correctness", "log_latency": "log latency"}


def _icc_grid(
    design: DiagnosisResult,
) -> tuple[tuple[tuple[str, str, str, str, str, str, str], ...], tuple[str, ...]]:
    """Rows of the ICC grid (gate, what the ICC is of, ICC, arm, type I error, P(FAIL), coverage)
    and the notes of worlds that could not be built or lacked the ICC asked for."""
    if design.icc_grid is None:
        return (), ()
    rows = []
    notes = []
    for gate, g in design.icc_grid.gates.items():
        of = _ICC_OF.get(g.icc_of, g.icc_of or "–")
        for point in g.points:
            icc = _num(point.icc, 2)
            if point.arms is None:
                rows.append((gate, of, icc, "–", "–", "–", "–"))
                if point.note:
                    notes.append(f"{gate} at ICC {icc}: {point.note}")
                continue
            for arm, a in point.arms.items():
                cov = a.accuracy_interval
                rows.append(
                    (
                        gate,
                        of,
                        icc,
                        arm,
                        _share(a.type_i_error, a.type_i_error_ci),
                        _share(a.p_fail, a.p_fail_ci),
                        "–" if cov is None else _share(cov.coverage, cov.coverage_ci),
                    )
                )
                if a.note:
                    notes.append(f"{gate} at ICC {icc}, {arm}: {a.note}")
    return tuple(rows[:_MAX_ROWS]), tuple(notes[:_MAX_ROWS])


def _min_cases(design: DiagnosisResult) -> tuple[tuple[str, str, str, str, str, str], ...]:
    """Per arm and gate: the verdict aimed at, the fewest unique cases for the target power, the
    power simulated there, and the largest size tried when none sufficed."""
    mc = design.min_cases
    if mc is None:
        return ()
    rows = []
    for arm, gates in mc.arms.items():
        for gate, m in gates.items():
            if m.target is None:
                n_text = "–"
            elif m.n is None:
                n_text = f"> {mc.n_max:,}"
            else:
                n_text = f"{m.n:,}"
            rows.append((arm, gate, m.target or "–", n_text, _num(m.power), m.note or ""))
    return tuple(rows[:_MAX_ROWS])


def _curve(design: DiagnosisResult) -> tuple[tuple[float, ...], tuple[tuple[str, tuple[float, ...]], ...]]:
    """The P(PASS) curve of the accuracy gate over the grid of true accuracies, per arm."""
    acc = None if design.curve is None else design.curve.get(_CURVE_GATE)
    if acc is None:
        return (), ()
    out = []
    for arm, shares in acc.arms.items():
        p = shares.p_pass
        if len(p) == len(acc.true_accuracy):
            out.append((arm, tuple(0.0 if v is None else float(v) for v in p)))
    return tuple(float(v) for v in acc.true_accuracy), tuple(out)
