"""The design diagnosis's figures (a plain dict from ``routetrial design``) as table rows.

The dict's layout is the design results file, ``kind: routetrial.design``, schema version 2: per
router arm and gate the simulated verdict shares and power at the assumed truth, the type I error
at each gate's boundary, the type I error, P(FAIL) and coverage at each boundary over a grid of
replay ICCs, coverage of the accuracy interval, the fewest unique cases for the target power, and
P(PASS) over a grid of true accuracies. Every share is a Monte Carlo estimate and is printed with
its 95% Wilson interval over the simulations (``<share>_ci``); a schema-1 dict, which gave a
standard error instead (``mc_se_pass``, ``power_mc_se``, ...), is printed with "± SE". A dict of
another layout is shown as flattened key/value rows rather than refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PowerView", "power_view"]

_MAX_ROWS = 80


@dataclass(frozen=True, slots=True)
class PowerView:
    """Power per arm and gate, type I error at the boundaries, and anything else as key/value."""

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


def _num(v: Any, digits: int = 3) -> str:
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "–"


def _share(v: Any, ci: Any, se: Any = None) -> str:
    """A Monte Carlo share with its interval (``0.045 [0.024, 0.083]``), or ``± SE`` (schema 1)."""
    if not isinstance(v, (int, float)):
        return "–"
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(c, (int, float)) for c in ci):
        return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
    return f"{v:.3f} ± {se:.3f}" if isinstance(se, (int, float)) else f"{v:.3f}"


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, Mapping):
            return None
        d = d.get(k)
    return d


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for k in value:
            _flatten(f"{prefix} › {k}" if prefix else str(k), value[k], out)
    elif isinstance(value, (list, tuple)):
        out.append((prefix, ", ".join(_num(v) if isinstance(v, float) else str(v) for v in value)))
    else:
        out.append((prefix, _num(value) if isinstance(value, float) else str(value)))


def power_view(design: Mapping[str, Any]) -> PowerView:
    """Rows for the Design section from a design results dict."""
    assumed = design.get("assumed")
    if design.get("kind") != "routetrial.design" or not isinstance(assumed, Mapping):
        flat: list[tuple[str, str]] = []
        _flatten("", design, flat)
        return PowerView("", (), (), (), (), (), (), 0, tuple(flat[:_MAX_ROWS]))
    how = (
        "with their 95% Wilson intervals over the simulations"
        if isinstance(design.get("mc_interval"), Mapping)
        else "± their standard error"
    )
    summary = (
        f"{design.get('sims', '?')} simulations of the whole design at {design.get('unique_cases', '?')} "
        f"unique cases; target power {_num(design.get('target_power'), 2)}. Shares are Monte Carlo "
        f"estimates {how}."
    )
    power = []
    coverage = []
    for arm, figures in assumed.items():
        for gate, g in (_get(figures, "gates") or {}).items():
            power.append(
                (
                    str(arm),
                    str(gate),
                    _num(_get(g, "truth")),
                    str(_get(g, "target") or "–"),
                    _share(_get(g, "p_pass"), _get(g, "p_pass_ci"), _get(g, "mc_se_pass")),
                    _share(_get(g, "power"), _get(g, "power_ci"), _get(g, "power_mc_se")),
                )
            )
        cov = _get(figures, "accuracy_interval")
        if isinstance(cov, Mapping):
            coverage.append(
                (
                    str(arm),
                    _share(cov.get("coverage"), cov.get("coverage_ci"), cov.get("coverage_mc_se")),
                    _num(cov.get("level"), 2),
                )
            )
    type_i = []
    for gate, per_arm in (design.get("boundary") or {}).items():
        if not isinstance(per_arm, Mapping):
            continue
        for arm, b in per_arm.items():
            type_i.append(
                (
                    str(gate),
                    str(arm),
                    _share(
                        _get(b, "type_i_error"), _get(b, "type_i_error_ci"), _get(b, "type_i_error_mc_se")
                    ),
                    _num(_get(b, "nominal_alpha")),
                )
            )
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
        int(design.get("curve_sims") or 0),
        (),
        icc,
        int(_get(design, "icc_grid", "sims") or 0),
        icc_notes,
    )


_ICC_OF = {"correctness": "correctness", "log_latency": "log latency"}


def _icc_grid(
    design: Mapping[str, Any],
) -> tuple[tuple[tuple[str, str, str, str, str, str, str], ...], tuple[str, ...]]:
    """Rows of the ICC grid (gate, what the ICC is of, ICC, arm, type I error, P(FAIL), coverage)
    and the notes of worlds that could not be built or lacked the ICC asked for."""
    gates = _get(design, "icc_grid", "gates")
    if not isinstance(gates, Mapping):
        return (), ()
    rows = []
    notes = []
    for gate, g in gates.items():
        points = _get(g, "points")
        if not isinstance(points, list):
            continue
        of = _ICC_OF.get(str(_get(g, "icc_of")), str(_get(g, "icc_of") or "–"))
        for point in points:
            icc = _num(_get(point, "icc"), 2)
            arms = _get(point, "arms")
            if not isinstance(arms, Mapping):
                rows.append((str(gate), of, icc, "–", "–", "–", "–"))
                if _get(point, "note"):
                    notes.append(f"{gate} at ICC {icc}: {_get(point, 'note')}")
                continue
            for arm, a in arms.items():
                cov = _get(a, "accuracy_interval")
                rows.append(
                    (
                        str(gate),
                        of,
                        icc,
                        str(arm),
                        _share(_get(a, "type_i_error"), _get(a, "type_i_error_ci")),
                        _share(_get(a, "p_fail"), _get(a, "p_fail_ci")),
                        _share(_get(cov, "coverage"), _get(cov, "coverage_ci"))
                        if isinstance(cov, Mapping)
                        else "–",
                    )
                )
                if _get(a, "note"):
                    notes.append(f"{gate} at ICC {icc}, {arm}: {_get(a, 'note')}")
    return tuple(rows[:_MAX_ROWS]), tuple(notes[:_MAX_ROWS])


def _min_cases(design: Mapping[str, Any]) -> tuple[tuple[str, str, str, str, str, str], ...]:
    """Per arm and gate: the verdict aimed at, the fewest unique cases for the target power, the
    power simulated there, and the largest size tried when none sufficed."""
    mc = design.get("min_cases")
    if not isinstance(mc, Mapping) or not isinstance(mc.get("arms"), Mapping):
        return ()
    n_max = mc.get("n_max")
    rows = []
    for arm, gates in mc["arms"].items():
        if not isinstance(gates, Mapping):
            continue
        for gate, m in gates.items():
            target = _get(m, "target")
            n = _get(m, "n")
            if target is None:
                n_text = "–"
            elif n is None:
                n_text = f"> {n_max:,}" if isinstance(n_max, int) else "not reached"
            else:
                n_text = f"{n:,}"
            rows.append(
                (
                    str(arm),
                    str(gate),
                    str(target or "–"),
                    n_text,
                    _num(_get(m, "power")),
                    str(_get(m, "note") or ""),
                )
            )
    return tuple(rows[:_MAX_ROWS])


def _curve(design: Mapping[str, Any]) -> tuple[tuple[float, ...], tuple[tuple[str, tuple[float, ...]], ...]]:
    """The P(PASS) curve of the accuracy gate over the grid of true accuracies, per arm."""
    acc = _get(design, "curve", "accuracy")
    if not isinstance(acc, Mapping):
        return (), ()
    x = acc.get("true_accuracy")
    arms = acc.get("arms")
    if not isinstance(x, list) or not isinstance(arms, Mapping):
        return (), ()
    out = []
    for arm, shares in arms.items():
        p = _get(shares, "p_pass")
        if isinstance(p, list) and len(p) == len(x):
            out.append((str(arm), tuple(float(v) for v in p)))
    return tuple(float(v) for v in x), tuple(out)
