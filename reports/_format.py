"""Numbers as the report prints them: an estimate never without its interval.

:class:`Shown` pairs an estimate's text with its interval's text; the template has no way to show
one without the other. A missing bound (no finite distribution-free bound at this n) is printed as
words, never as a number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from analysis import ClusteringResult, GateVerdict, Interval

__all__ = [
    "OPS",
    "Shown",
    "clustering_text",
    "fmt_against",
    "fmt_cost",
    "fmt_level",
    "fmt_ms",
    "fmt_pct",
    "fmt_pp",
    "fmt_usd",
    "gate_bounds_text",
    "metric_formatter",
    "show",
]

Fmt = Callable[[float], str]

#: Comparison operators as printed.
OPS = {">=": "≥", "<=": "≤"}


@dataclass(frozen=True, slots=True)
class Shown:
    """An estimate as text with its interval as text and a note on how the interval was made."""

    value: str
    interval: str
    note: str


def fmt_pct(x: float) -> str:
    """A proportion as a percentage with one decimal: ``0.7933`` -> ``79.3%``."""
    return f"{100 * x:.1f}%"


def fmt_pp(x: float) -> str:
    """A difference of proportions in signed percentage points: ``-0.05`` -> ``−5.0 pp``; never
    "−0.0 pp" for a value that is not zero (more decimals until it shows)."""
    sign = "+" if x > 0 else "−" if x < 0 else "±"
    for digits in range(1, 12):
        text = f"{100 * abs(x):.{digits}f}"
        if x == 0 or float(text) != 0.0:
            break
    return f"{sign}{text} pp"


def fmt_ms(x: float) -> str:
    """A duration in milliseconds with thousands separators: ``2295.4`` -> ``2,295 ms``."""
    return f"{x:,.0f} ms"


def fmt_usd(x: float) -> str:
    """US dollars with three decimals (per-1k costs of small models are fractions of a cent)."""
    return f"${x:,.3f}"


def fmt_cost(x: float) -> str:
    """An expected misrouting cost per 1,000 requests, in the plan's own cost unit: ``152.25`` ->
    ``152.2``."""
    return f"{x:,.1f}"


def fmt_signed(f: Fmt) -> Fmt:
    """A formatter for differences: always with a sign, and never "−0.0%" for a value that is not
    zero (more digits until it shows: an interval end of -0.0004 is "−0.04%")."""

    def signed(x: float) -> str:
        sign = "+" if x > 0 else "−" if x < 0 else "±"
        text = f(abs(x))
        if x != 0 and text == f(0.0):
            text = _finer(f, abs(x))
        return sign + text

    return signed


def _finer(f: Fmt, x: float) -> str:
    """``x`` with more decimals than ``f`` gives it, enough to show that it is not zero."""
    scale, unit, prefix = {
        id(fmt_pct): (100.0, "%", ""),
        id(fmt_ms): (1.0, " ms", ""),
        id(fmt_usd): (1.0, "", "$"),
    }.get(id(f), (1.0, "", ""))
    for digits in range(1, 12):
        text = f"{scale * x:,.{digits}f}"
        if float(text.replace(",", "")) != 0.0:
            return f"{prefix}{text}{unit}"
    return f"{prefix}{scale * x:.3g}{unit}"


def metric_formatter(metric: str) -> Fmt:
    """The formatter of a gate metric: percent for accuracy, milliseconds for latency; against the
    control, a signed percent for relative cost, signed milliseconds for a latency difference and
    percentage points for a quality difference."""
    if metric == "cost_vs_control":
        return fmt_signed(fmt_pct)
    if metric == "misrouting_cost_per_1k":
        return fmt_cost
    if metric.endswith("_vs_control"):
        return fmt_signed(fmt_ms) if "latency" in metric else fmt_pp
    return fmt_ms if metric.endswith("_ms") or "latency" in metric else fmt_pct


def fmt_against(x: float, threshold: float, metric: str) -> str:
    """``x`` in the metric's unit with enough digits that it never reads as ``threshold`` unless it is.

    A bound of 2000.3 ms beside a gate of 2,000 ms prints "2,000.3 ms", and 0.8496 beside 85%
    prints "84.96%": a reader compares the two printed numbers, so they must differ when the
    values do (up to six more decimals).
    """
    if metric == "cost_vs_control":
        return _signed_against(x, threshold, 100.0, "%", 1)
    if metric.endswith("_vs_control"):
        return (
            _signed_against(x, threshold, 1.0, " ms", 0) if "latency" in metric else _pp_against(x, threshold)
        )
    ms = metric.endswith("_ms") or "latency" in metric
    scale, unit, base = (1.0, " ms", 0) if ms else (100.0, "%", 1)
    if metric == "misrouting_cost_per_1k":
        scale, unit, base = 1.0, "", 1
    for digits in range(base, base + 7):
        text = f"{scale * x:,.{digits}f}"
        if x == threshold or text != f"{scale * threshold:,.{digits}f}":
            return text + unit
    return text + unit


def _pp_against(x: float, threshold: float) -> str:
    """:func:`fmt_against` in signed percentage points (a difference against the control)."""
    return _signed_against(x, threshold, 100.0, " pp", 1)


def _signed_against(x: float, threshold: float, scale: float, unit: str, base: int) -> str:
    """:func:`fmt_against` with a sign (a contrast against the control): ``scale * x`` with ``base``
    decimals (1 for percent, 0 for ms), more until it differs from the threshold as printed."""
    sign = "+" if x > 0 else "−" if x < 0 else "±"
    for digits in range(base, base + 7):
        text = f"{scale * abs(x):,.{digits}f}"
        if x == threshold or f"{sign}{text}" != _signed(threshold, scale, digits):
            break
    return f"{sign}{text}{unit}"


def _signed(x: float, scale: float, digits: int) -> str:
    return ("+" if x > 0 else "−" if x < 0 else "±") + f"{scale * abs(x):,.{digits}f}"


def fmt_level(level: float) -> str:
    """A confidence level as a percentage with the digits it has: 0.95 -> 95%, 1 - 0.05/21 -> 99.76%."""
    return f"{100 * level:.2f}".rstrip("0").rstrip(".") + "%"


def _interval_note(iv: Interval) -> str:
    side = {"two-sided": "two-sided", "lower": "one-sided lower", "upper": "one-sided upper"}[iv.side]
    method = iv.method.replace("_", " ")
    text = f"{fmt_level(iv.level)} {side}, {method}"
    return f"{text}; {iv.note}" if iv.note else text


def show(estimate: float | None, interval: Interval | None, f: Fmt) -> Shown:
    """An estimate with its interval; ``no estimate`` when there is no data."""
    if estimate is None:
        note = interval.note if interval is not None and interval.note else "no data"
        return Shown("no estimate", "", note)
    if interval is None:
        return Shown(f(estimate), "interval not available", "")
    if interval.lower is None and interval.upper is None and interval.note:
        return Shown(f(estimate), f"no interval: {interval.note}", _interval_note(interval))
    lo = "no lower bound" if interval.lower is None else f(interval.lower)
    hi = "no finite upper bound" if interval.upper is None else f(interval.upper)
    if interval.side == "lower":
        text = f"lower bound {lo}"
    elif interval.side == "upper":
        text = f"upper bound {hi}"
    else:
        text = f"[{lo}, {hi}]"
    return Shown(f(estimate), text, _interval_note(interval))


def _with_interval(name: str, estimate: float | None, iv: Interval) -> str:
    if estimate is None:
        return f"{name} undefined: {iv.note}" if iv.note else f"{name} undefined"
    if iv.lower is None or iv.upper is None:
        return (
            f"{name} {estimate:.2f}; no interval: {iv.note}"
            if iv.note
            else f"{name} {estimate:.2f}; no interval"
        )
    return f"{name} {estimate:.2f} [{iv.lower:.2f}, {iv.upper:.2f}]"


def clustering_text(c: ClusteringResult) -> str:
    """ICC and design effect, each with its interval (or why it has none), and how it was made."""
    if c.icc is None:
        return _with_interval("ICC", None, c.icc_interval)
    iv = c.icc_interval
    how = (
        ""
        if iv.lower is None
        else f" ({iv.level:.0%} {iv.method.replace('_', ' ')}" + (f"; {iv.note})" if iv.note else ")")
    )
    text = _with_interval("ICC", c.icc, iv)
    if c.design_effect is None:
        return text + how
    deff = c.design_effect_interval
    if deff.lower is None and deff.note == iv.note:  # one reason for both: say it once
        return f"ICC {c.icc:.2f}, design effect {c.design_effect:.2f}; no intervals: {iv.note}"
    return f"{text}, {_with_interval('design effect', c.design_effect, deff)}{how}"


def gate_bounds_text(g: GateVerdict) -> str:
    """Both one-sided bounds of a gate's metric: whichever clears or misses the threshold decided it."""

    def f(x: float) -> str:
        return fmt_against(x, g.threshold, g.metric)

    parts = []
    for iv in (g.deciding_bound, g.opposite_bound):
        if iv is None:
            continue
        if iv.side == "lower":
            parts.append(
                (0, f"one-sided {iv.level:.0%} lower bound " + ("none" if iv.lower is None else f(iv.lower)))
            )
        elif iv.side == "upper":
            parts.append(
                (
                    1,
                    f"one-sided {iv.level:.0%} upper bound "
                    + ("none at this n" if iv.upper is None else f(iv.upper)),
                )
            )
    if parts:
        return ", ".join(text for _, text in sorted(parts))
    if g.estimate is None:
        return "no estimate, so no bounds"
    return "decided by the point estimate"
