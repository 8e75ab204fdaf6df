"""Inline SVG charts: deterministic, safe to inline together, escaped, and of bounded size."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np

from reports._charts import (
    CDF_MAX_POINTS,
    CdfSeries,
    IntervalPoint,
    confusion_chart,
    forest_chart,
    latency_cdf_chart,
)

POINTS = [
    IntervalPoint("qwen", "#D55E00", 0.793, 0.676, 0.876),
    IntervalPoint("deepseek", "#009E73", 0.83, 0.72, None),
]


def _series(n: int) -> list[CdfSeries]:
    p = np.arange(1, n + 1) / n
    q = np.exp(np.log(988.0) + 0.4 * np.sqrt(2) * np.sort(np.random.default_rng(1).standard_normal(n)))
    p95 = IntervalPoint("P95", "#0072B2", float(np.quantile(q, 0.95)), float(np.quantile(q, 0.94)), None)
    return [CdfSeries("qwen", "#0072B2", tuple(p), tuple(q), p95)]


def test_same_chart_twice_is_byte_identical() -> None:
    """Rendering the same forest plot twice gives the same bytes (fixed id salt, no date)."""
    assert forest_chart(POINTS, threshold=0.85, level=0.95) == forest_chart(
        POINTS, threshold=0.85, level=0.95
    )


def test_svg_is_an_inline_fragment_with_prefixed_ids() -> None:
    """No XML prolog, doctype or metadata; every id carries the chart's name so charts can share a page."""
    a = forest_chart(POINTS, threshold=0.85, level=0.95, name="one")
    b = forest_chart(POINTS, threshold=0.85, level=0.95, name="two")
    assert a.startswith("<svg ") and "<?xml" not in a and "<!DOCTYPE" not in a and "<metadata" not in a
    ids_a, ids_b = set(re.findall(r'id="([^"]+)"', a)), set(re.findall(r'id="([^"]+)"', b))
    assert ids_a and all(i.startswith("one-") for i in ids_a) and not ids_a & ids_b
    refs = set(re.findall(r'(?:href|clip-path)="?(?:url\()?#([^")]+)', a))
    assert refs <= ids_a


def test_markup_in_labels_is_escaped() -> None:
    """A label holding markup is text inside the SVG, never an element."""
    svg = confusion_chart(["<script>a</script>"], ["b"], [[3]], title="<b>arm</b>", name="cm")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "<b>arm" not in svg


def test_latency_curve_size_does_not_grow_with_n() -> None:
    """A CDF of a million latencies is drawn from at most CDF_MAX_POINTS points: same size as one of 1,000."""
    small = latency_cdf_chart(_series(1_000), gate_ms=2000.0, level=0.95)
    big = latency_cdf_chart(_series(1_000_000), gate_ms=2000.0, level=0.95)
    assert len(big) < 1.2 * len(small) < 120_000


def test_curve_is_downsampled_to_the_cap() -> None:
    """The drawn step curve has about CDF_MAX_POINTS vertices, not one per observation."""
    svg = latency_cdf_chart(_series(50_000), gate_ms=2000.0, level=0.95)
    longest = max(re.findall(r'<path d="([^"]+)"', svg), key=len)
    assert longest.count("L") <= 2 * CDF_MAX_POINTS + 2


def test_importing_and_drawing_leaves_matplotlib_state_alone() -> None:
    """Importing reports and drawing a chart neither imports pyplot nor changes rcParams."""
    code = (
        "import sys, matplotlib\n"
        # dict.items: reading rcParams['backend'] through the mapping would itself import pyplot
        "raw = lambda: dict(dict.items(matplotlib.rcParams))\n"
        "before = raw()\n"
        "import reports\n"
        "from reports._charts import forest_chart, IntervalPoint\n"
        "forest_chart([IntervalPoint('a', '#000', 0.5, 0.4, 0.6)], threshold=0.85, level=0.95)\n"
        "changed = [k for k, v in raw().items() if before.get(k) != v]\n"
        "print(changed, 'matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] False"
