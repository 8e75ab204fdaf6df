"""Turn a matplotlib Figure into a small, deterministic SVG fragment for inlining in HTML.

Charts are drawn on :class:`matplotlib.figure.Figure` directly (never ``pyplot``), so importing
``reports`` changes no global state and needs no GUI backend. Settings that matplotlib only reads
from rcParams (the id hash salt, text as text) are applied in a ``rc_context`` for the duration of
one ``savefig`` and restored afterwards.

The fragment is made safe to inline several times in one page: the XML prolog, doctype and RDF
metadata are dropped, every ``id`` is prefixed with the chart's name (matplotlib names each figure
``figure_1`` and shares marker ids between charts), and the fixed ``width``/``height`` become a
``viewBox`` the page's CSS scales.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import matplotlib
from matplotlib.figure import Figure

__all__ = ["ARM_COLOURS", "CONTROL_COLOUR", "arm_colour", "chart_style", "figure_to_svg", "new_figure"]

#: Okabe-Ito colours (safe for colour-blind readers), one per router arm in plan order.
ARM_COLOURS: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
)
CONTROL_COLOUR = "#8a8a8a"

P = ParamSpec("P")
R = TypeVar("R")

_RC: dict[Any, Any] = {
    "svg.fonttype": "none",  # text stays text: a tenth of the size of glyph paths, and selectable
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial"],
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#555555",
    "axes.labelcolor": "#222222",
    "xtick.color": "#444444",
    "ytick.color": "#444444",
}

_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
_ROOT_SIZE = re.compile(r'(<svg\b[^>]*?)\s+width="[^"]*"\s+height="[^"]*"')
_ID = re.compile(r'\bid="([^"]+)"')
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


def arm_colour(arm_index: int, *, control: bool = False) -> str:
    """The colour an arm has in every chart (grey for the control)."""
    return CONTROL_COLOUR if control else ARM_COLOURS[arm_index % len(ARM_COLOURS)]


def chart_style(func: Callable[P, R]) -> Callable[P, R]:
    """Run a chart function inside the report's style (an ``rc_context`` restored on return).

    matplotlib reads fonts, spines and colours when an artist is created, so the whole chart is
    built inside the context, not just saved in it.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


def new_figure(width_in: float, height_in: float) -> Figure:
    """A white figure of the given size in inches, laid out with constrained layout."""
    return Figure(figsize=(width_in, height_in), layout="constrained", facecolor="white")


def figure_to_svg(fig: Figure, name: str, *, title: str) -> str:
    """Serialise ``fig`` as an inline ``<svg>`` element with ids prefixed by ``name``.

    ``title`` becomes the SVG's accessible name (``role="img"`` and ``aria-label``). The output is
    byte-identical for identical figures: the id salt is fixed and no date is written.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"chart name must match {_NAME.pattern}, found {name!r}")
    buf = io.StringIO()
    salt: dict[Any, Any] = {"svg.hashsalt": f"routetrial-{name}", "svg.fonttype": "none"}
    with matplotlib.rc_context(salt):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = _METADATA.sub("", _PROLOG.sub("", buf.getvalue(), count=1), count=1)
    svg = _ROOT_SIZE.sub(r"\1", svg, count=1)
    ids = set(_ID.findall(svg))
    svg = _ID.sub(lambda m: f'id="{name}-{m.group(1)}"', svg)
    if ids:
        refs = re.compile(
            r"#(" + "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)) + r')(?=["\)])'
        )
        svg = refs.sub(lambda m: f"#{name}-{m.group(1)}", svg)
    label = title.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    svg = svg.replace("<svg ", f'<svg class="chart" role="img" aria-label="{label}" ', 1)
    return svg.strip() + "\n"
