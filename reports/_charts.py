"""The report's charts: matplotlib figures from plain numbers, returned as inline SVG strings.

Each function takes the few numbers it draws (estimates with their intervals, a quantile curve),
never raw trials, so a chart's size does not grow with the number of trials. Every point estimate
is drawn with its interval; an interval with no finite end (a P95 upper bound at small n) is drawn
as an arrow to the edge of the axes and said so in the legend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, PercentFormatter

from analysis import proportion_bounds
from reports._svg import chart_style, figure_to_svg, new_figure

__all__ = [
    "CDF_MAX_POINTS",
    "CdfSeries",
    "FamilyRow",
    "IntervalPoint",
    "ParetoPoint",
    "confusion_chart",
    "family_chart",
    "forest_chart",
    "latency_cdf_chart",
    "pareto_chart",
    "pass_curve_chart",
]

#: Points drawn per latency curve, whatever the number of trials.
CDF_MAX_POINTS = 400

_GATE = "#b22222"


@dataclass(frozen=True, slots=True)
class IntervalPoint:
    """A labelled estimate with its interval (``upper=None``: no finite upper bound)."""

    label: str
    colour: str
    estimate: float
    lower: float | None
    upper: float | None


@dataclass(frozen=True, slots=True)
class CdfSeries:
    """One arm's latency distribution as quantiles, with its P95 and the P95's interval."""

    label: str
    colour: str
    probabilities: tuple[float, ...]
    quantiles_ms: tuple[float, ...]
    p95: IntervalPoint | None


@dataclass(frozen=True, slots=True)
class ParetoPoint:
    """One arm in the accuracy / P95 plane; ``cost_per_1k`` in US dollars per 1,000 requests."""

    label: str
    colour: str
    accuracy: IntervalPoint
    p95_ms: IntervalPoint
    cost_per_1k: float
    on_frontier: bool


@dataclass(frozen=True, slots=True)
class FamilyRow:
    """Per-family accuracy of one arm, in the order of the families passed alongside."""

    label: str
    colour: str
    points: tuple[IntervalPoint | None, ...]


def _errorbar(
    ax: Axes,
    x: float,
    y: float,
    lo: float | None,
    hi: float | None,
    *,
    colour: str,
    horizontal: bool,
    edge: float,
) -> None:
    """Draw an interval around (x, y); a missing end is an arrow to ``edge``."""
    if horizontal:
        left, right = (lo if lo is not None else edge), (hi if hi is not None else edge)
        ax.plot([left, right], [y, y], color=colour, lw=1.6, solid_capstyle="butt")
        if hi is None:
            ax.annotate(
                "",
                xy=(edge, y),
                xytext=(x, y),
                arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.2, "ls": "--"},
            )
    else:
        bottom, top = (lo if lo is not None else edge), (hi if hi is not None else edge)
        ax.plot([x, x], [bottom, top], color=colour, lw=1.6, solid_capstyle="butt")


@chart_style
def forest_chart(
    points: Sequence[IntervalPoint], *, threshold: float, level: float, name: str = "forest"
) -> str:
    """Accuracy per arm with its interval against the gate's threshold."""
    fig = new_figure(7.2, 0.55 * max(len(points), 1) + 1.1)
    ax = fig.add_subplot()
    lows = [p.lower for p in points if p.lower is not None] + [threshold]
    left = max(0.0, min(lows) - 0.08)
    ax.set_xlim(left, 1.0)
    ys = np.arange(len(points))[::-1]
    for y, p in zip(ys, points, strict=True):
        _errorbar(ax, p.estimate, float(y), p.lower, p.upper, colour=p.colour, horizontal=True, edge=1.0)
        ax.plot([p.estimate], [y], "o", color=p.colour, ms=7)
        lo = "–" if p.lower is None else f"{p.lower:.3f}"
        hi = "–" if p.upper is None else f"{p.upper:.3f}"
        ax.text(
            1.01,
            y,
            f"{p.estimate:.3f} [{lo}, {hi}]",
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=8.5,
            color="#222222",
        )
    ax.axvline(threshold, color=_GATE, ls="--", lw=1.2)
    ax.text(
        threshold,
        1.0,
        f" gate {threshold:g}",
        color=_GATE,
        transform=ax.get_xaxis_transform(),
        va="bottom",
        fontsize=8.5,
    )
    ax.set_yticks(ys, [p.label for p in points])
    ax.set_ylim(-0.6, len(points) - 0.4)
    ax.set_xlabel(f"routing accuracy (estimate and {level:.0%} interval)")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(axis="x", color="#e5e5e5", lw=0.6)
    ax.set_axisbelow(True)
    return figure_to_svg(fig, name, title="Forest plot of routing accuracy per arm")


def _downsample(probabilities: Sequence[float], quantiles: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """At most :data:`CDF_MAX_POINTS` points of a quantile curve, kept evenly spaced in probability."""
    p = np.asarray(probabilities, dtype=float)
    q = np.asarray(quantiles, dtype=float)
    if p.size > CDF_MAX_POINTS:
        keep = np.unique(np.linspace(0, p.size - 1, CDF_MAX_POINTS).round().astype(int))
        p, q = p[keep], q[keep]
    return p, q


def _minor_log_labels(lo: float, hi: float) -> FuncFormatter:
    """Plain-number labels (200, 300, 500 per decade) for the minor ticks of a log axis spanning at
    most two decades, none beyond (matplotlib's default would print them as 3x10^2 beside 1,000)."""
    few = hi / lo <= 100.0

    def label(v: float, _pos: int) -> str:
        if not few or v <= 0:
            return ""
        mantissa = v / 10 ** np.floor(np.log10(v))
        return f"{v:,.0f}" if round(mantissa) in (2, 3, 5) and abs(mantissa - round(mantissa)) < 1e-6 else ""

    return FuncFormatter(label)


@chart_style
def latency_cdf_chart(
    series: Sequence[CdfSeries], *, gate_ms: float, level: float, name: str = "latency-cdf"
) -> str:
    """Cumulative distribution of routing latency per arm, the gate line and each P95 mark."""
    fig = new_figure(7.2, 3.6)
    ax = fig.add_subplot()
    values = [v for s in series for v in s.quantiles_ms if v > 0] + [gate_ms]
    lo, hi = min(values) / 1.3, max(values) * 1.6
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    for s in series:
        p, q = _downsample(s.probabilities, s.quantiles_ms)
        ax.step(np.maximum(q, lo), p, where="post", color=s.colour, lw=1.5, label=s.label)
        if s.p95 is not None:
            _errorbar(
                ax, s.p95.estimate, 0.95, s.p95.lower, s.p95.upper, colour=s.colour, horizontal=True, edge=hi
            )
            ax.plot([s.p95.estimate], [0.95], "D", color=s.colour, ms=5, mec="white", mew=0.6)
    ax.axvline(gate_ms, color=_GATE, ls="--", lw=1.2)
    ax.text(gate_ms, 0.02, f" P95 gate {gate_ms:,.0f} ms", color=_GATE, fontsize=8.5)
    ax.axhline(0.95, color="#999999", ls=":", lw=0.8)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"routing latency, ms (log scale); ◆ P95 and its {level:.0%} interval")
    ax.set_ylabel("share of requests at or below")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(_minor_log_labels(lo, hi))
    ax.grid(color="#eeeeee", lw=0.6)
    ax.legend(loc="upper left", frameon=False, fontsize=8.5)
    return figure_to_svg(fig, name, title="Cumulative distribution of routing latency per arm")


@chart_style
def pareto_chart(
    points: Sequence[ParetoPoint], *, accuracy_gate: float, p95_gate_ms: float, name: str = "pareto"
) -> str:
    """Accuracy against P95 per arm (marker area grows with cost); the viable corner is shaded."""
    fig = new_figure(7.2, 3.8)
    ax = fig.add_subplot()
    xs = [x for p in points for x in (p.p95_ms.estimate, p.p95_ms.lower or p.p95_ms.estimate)]
    xs += [p.p95_ms.upper for p in points if p.p95_ms.upper is not None] + [p95_gate_ms]
    ys = [y for p in points for y in (p.accuracy.lower, p.accuracy.upper) if y is not None]
    x_lo, x_hi = min(xs) * 0.8, max(xs) * 1.25
    y_lo, y_hi = max(0.0, min([*ys, accuracy_gate]) - 0.05), min(1.0, max([*ys, accuracy_gate]) + 0.04)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.fill_between([x_lo, p95_gate_ms], accuracy_gate, y_hi, color="#2e8b57", alpha=0.08, lw=0)
    ax.text(x_lo, y_hi, "  both gates met", va="top", fontsize=8, color="#2e6b47")
    ax.axvline(p95_gate_ms, color=_GATE, ls="--", lw=1.0)
    ax.axhline(accuracy_gate, color=_GATE, ls="--", lw=1.0)
    max_cost = max([p.cost_per_1k for p in points] + [1e-12])
    frontier = sorted((p for p in points if p.on_frontier), key=lambda p: p.p95_ms.estimate)
    if len(frontier) > 1:
        ax.plot(
            [p.p95_ms.estimate for p in frontier],
            [p.accuracy.estimate for p in frontier],
            color="#666666",
            lw=0.8,
            ls="-",
            zorder=1,
        )
    for i, p in enumerate(points):
        x, y = p.p95_ms.estimate, p.accuracy.estimate
        _errorbar(ax, x, y, p.p95_ms.lower, p.p95_ms.upper, colour=p.colour, horizontal=True, edge=x_hi)
        _errorbar(ax, x, y, p.accuracy.lower, p.accuracy.upper, colour=p.colour, horizontal=False, edge=y_hi)
        size = 40 + 360 * (p.cost_per_1k / max_cost)
        ax.scatter(
            [x],
            [y],
            s=size,
            color=p.colour,
            edgecolors="white" if p.on_frontier else "black",
            linewidths=0.8,
            zorder=3,
            alpha=0.9,
        )
        star = " ★" if p.on_frontier else ""
        ax.annotate(
            f"{p.label}{star}\n${p.cost_per_1k:,.2f} per 1k",
            (x, y),
            xytext=(9, 8 if i % 2 else -22),
            textcoords="offset points",
            fontsize=8,
            color="#222222",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    ax.set_xlabel("P95 routing latency, ms")
    ax.set_ylabel("routing accuracy")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.grid(color="#eeeeee", lw=0.6)
    ax.set_axisbelow(True)
    return figure_to_svg(fig, name, title="Accuracy against P95 latency per arm, marker area by cost")


@chart_style
def family_chart(
    families: Sequence[str], rows: Sequence[FamilyRow], *, threshold: float, name: str = "families"
) -> str:
    """Accuracy per task family and arm (dots with intervals), against the gate's threshold."""
    fig = new_figure(7.2, 0.5 * len(families) * max(1.0, len(rows) / 3) + 1.2)
    ax = fig.add_subplot()
    n = max(len(rows), 1)
    offsets = (np.arange(n) - (n - 1) / 2) * (0.7 / n)
    ys = np.arange(len(families))[::-1].astype(float)
    for row, off in zip(rows, offsets, strict=True):
        first = True
        for y, pt in zip(ys, row.points, strict=True):
            if pt is None:
                continue
            _errorbar(
                ax, pt.estimate, y + off, pt.lower, pt.upper, colour=row.colour, horizontal=True, edge=1.0
            )
            ax.plot(
                [pt.estimate], [y + off], "o", color=row.colour, ms=4.5, label=row.label if first else None
            )
            first = False
    ax.axvline(threshold, color=_GATE, ls="--", lw=1.0)
    ax.set_yticks(ys, list(families))
    ax.set_xlim(0, 1.0)
    ax.set_ylim(-0.6, len(families) - 0.4)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("routing accuracy within the family (estimate and interval)")
    ax.grid(axis="x", color="#eeeeee", lw=0.6)
    fig.legend(loc="outside upper center", frameon=False, fontsize=8.5, ncols=min(n, 5))
    return figure_to_svg(fig, name, title="Routing accuracy per task family and arm")


@chart_style
def confusion_chart(
    gold: Sequence[str], predicted: Sequence[str], counts: Sequence[Sequence[int]], *, title: str, name: str
) -> str:
    """A confusion matrix as a heatmap: rows gold family, columns predicted label, row shares coloured."""
    m = np.asarray(counts, dtype=float).reshape(len(gold), len(predicted))
    totals = m.sum(axis=1, keepdims=True)
    share = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)
    fig = new_figure(0.62 * len(predicted) + 1.8, 0.45 * len(gold) + 1.7)
    ax = fig.add_subplot()
    # Vector cells (not imshow): no embedded raster, crisp when printed.
    ax.pcolormesh(
        np.arange(len(predicted) + 1) - 0.5,
        np.arange(len(gold) + 1) - 0.5,
        share,
        cmap="Blues",
        vmin=0.0,
        vmax=1.0,
        edgecolors="white",
        linewidth=0.6,
    )
    ax.set_xlim(-0.5, len(predicted) - 0.5)
    ax.set_ylim(len(gold) - 0.5, -0.5)
    for i in range(len(gold)):
        for j in range(len(predicted)):
            if m[i, j] > 0:
                ax.text(
                    j,
                    i,
                    f"{int(m[i, j]):,}",
                    ha="center",
                    va="center",
                    fontsize=8.5,
                    color="white" if share[i, j] > 0.55 else "#222222",
                )
    ax.set_xticks(
        range(len(predicted)), list(predicted), rotation=35, ha="right", rotation_mode="anchor", fontsize=8.5
    )
    ax.set_yticks(range(len(gold)), list(gold), fontsize=8.5)
    ax.set_xlabel("predicted label", fontsize=9)
    ax.set_ylabel("gold family", fontsize=9)
    ax.set_title(title, fontsize=10.5, fontweight="bold")
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)
    return figure_to_svg(fig, name, title=f"Confusion matrix: {title}")


@chart_style
def pass_curve_chart(
    true_accuracy: Sequence[float],
    p_pass: Sequence[tuple[str, str, Sequence[float]]],
    *,
    threshold: float,
    sims: int,
    name: str = "pass-curve",
) -> str:
    """P(PASS) of the accuracy gate over a grid of true accuracies, one line per arm.

    ``p_pass`` holds (label, colour, shares) per arm, each share a Monte Carlo estimate over
    ``sims`` simulations; the band around each line is the 95% Wilson interval of each share
    (never of width zero at 0 or 1, unlike a standard-error band).
    """
    fig = new_figure(7.2, 3.4)
    ax = fig.add_subplot()
    x = np.asarray(true_accuracy, dtype=float)
    for label, colour, shares in p_pass:
        y = np.asarray(shares, dtype=float)
        lo, hi = proportion_bounds(np.clip(y, 0.0, 1.0) * max(sims, 1), float(max(sims, 1)), 0.95, "wilson")
        ax.fill_between(x, lo, hi, color=colour, alpha=0.15, lw=0)
        ax.plot(x, y, "o-", color=colour, lw=1.5, ms=3.5, label=label)
    ax.axvline(threshold, color=_GATE, ls="--", lw=1.2)
    ax.text(
        threshold,
        1.0,
        f" gate {threshold:g}",
        color=_GATE,
        transform=ax.get_xaxis_transform(),
        va="bottom",
        fontsize=8.5,
    )
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(float(x.min()), float(x.max()))
    ax.set_xlabel("true routing accuracy (simulated)")
    ax.set_ylabel("P(PASS)")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(color="#eeeeee", lw=0.6)
    ax.legend(loc="upper left", frameon=False, fontsize=8.5)
    return figure_to_svg(fig, name, title="Probability of passing the accuracy gate by true accuracy")
