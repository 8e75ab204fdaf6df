"""The design diagnosis's figures (a plain dict from ``routetrial design``) as table rows.

The dict's layout is the design results file, ``kind: routetrial.design``, schema version 1: per
router arm and gate the simulated verdict shares and power at the assumed truth, the type I error
at each gate's boundary, coverage of the accuracy interval, and the fewest unique cases for the
target power, and P(PASS) over a grid of true accuracies. Every share is a Monte Carlo estimate and
is printed with its Monte Carlo standard error. A dict of another layout is shown as flattened key/value rows rather than refused.
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


def _num(v: Any, digits: int = 3) -> str:
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "–"


def _pm(v: Any, se: Any) -> str:
    if not isinstance(v, (int, float)):
        return "–"
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
    summary = (
        f"{design.get('sims', '?')} simulations of the whole design at {design.get('unique_cases', '?')} "
        f"unique cases; target power {_num(design.get('target_power'), 2)}. Shares are Monte Carlo "
        "estimates ± their standard error."
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
                    _pm(_get(g, "p_pass"), _get(g, "mc_se_pass")),
                    _pm(_get(g, "power"), _get(g, "power_mc_se")),
                )
            )
        cov = _get(figures, "accuracy_interval")
        if isinstance(cov, Mapping):
            coverage.append(
                (str(arm), _pm(cov.get("coverage"), cov.get("coverage_mc_se")), _num(cov.get("level"), 2))
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
                    _pm(_get(b, "type_i_error"), _get(b, "type_i_error_mc_se")),
                    _num(_get(b, "nominal_alpha")),
                )
            )
    curve_x, curve = _curve(design)
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
    )


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
            rows.append((str(arm), str(gate), str(target or "–"), n_text, _num(_get(m, "power")),
                         str(_get(m, "note") or "")))
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
