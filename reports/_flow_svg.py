"""The CONSORT flow diagram as an SVG: boxes laid out here, drawn by a jinja template.

A diagram is not a chart of data, so it is laid out by hand rather than with matplotlib: one
column per arm under a shared "enrolled" box, four stages per column (allocated, sent, completed,
analysed), each box listing what left the flow at that stage and why. A plan with a warm-up adds a
fifth, before analysed: the warm-up trials by stored status (failures counted, not hidden). Every row of boxes has the
height of its tallest box, so the columns line up however many arms there are; with more arms the
diagram grows wider (the page scrolls it) instead of shrinking its text.
"""

from __future__ import annotations

from dataclasses import dataclass

from reports._env import environment
from reports._flow import ArmFlow, Breakdown, Flow

__all__ = ["flow_svg"]

_COL_W = 212
_GAP = 20
_MARGIN = 12
_LINE_H = 15
_HEAD_H = 22
_PAD = 8
_ARROW = 26
_MAX_CHARS = 30


@dataclass(frozen=True, slots=True)
class _Line:
    text: str
    full: str
    css: str


@dataclass(frozen=True, slots=True)
class _Box:
    x: int
    y: int
    w: int
    h: int
    title: str
    colour: str
    lines: tuple[_Line, ...]


def _short(text: str) -> str:
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"


def _reasons(label: str, total: int, items: Breakdown) -> list[_Line]:
    lines = [_Line(f"{label}: {total:,}", f"{label}: {total:,}", "drop")]
    for reason, n in items:
        full = f"{reason}: {n:,}"
        lines.append(_Line("· " + _short(reason) + f": {n:,}", full, "reason"))
    return lines


def _main(text: str) -> _Line:
    return _Line(text, text, "main")


def _warmup_stage(a: ArmFlow, rule: str) -> tuple[str, list[_Line]]:
    """The warm-up box: its trials (all excluded), the rule, and their stored statuses."""
    lines = [_main(f"{a.warmup_total:,} requests, excluded"), _Line(_short(rule), rule, "reason")]
    for status, n in a.warmup or ():
        lines.append(_Line(f"· {_short(status)}: {n:,}", f"{status}: {n:,}", "reason"))
    return "Warm-up (pre-registered)", lines


def _stages(a: ArmFlow, warmup_rule: str | None = None) -> list[tuple[str, list[_Line]]]:
    main = _main
    warmup = [] if warmup_rule is None else [_warmup_stage(a, warmup_rule)]
    return [
        (
            f"Allocated to {a.arm}",
            [main(f"{a.allocated:,} requests"), main(f"{a.allocated_cases:,} unique cases")],
        ),
        (
            "Sent",
            [main(f"{a.sent:,} requests"), *_reasons("Not sent or never run", a.not_sent_total, a.not_sent)],
        ),
        ("Completed", [main(f"{a.completed:,} requests"), *_reasons("Failed", a.failed_total, a.failed)]),
        *warmup,
        (
            "Analysed",
            [
                main(f"{a.analysed:,} requests ({a.analysed_cases:,} cases)"),
                *_reasons("Excluded", a.excluded_total, a.excluded),
            ],
        ),
    ]


def flow_svg(flow: Flow, colours: dict[str, str]) -> str:
    """Render the flow diagram; ``colours`` maps arm id to its chart colour."""
    n = max(len(flow.arms), 1)
    width = 2 * _MARGIN + n * _COL_W + (n - 1) * _GAP
    columns = [_stages(a, flow.warmup_rule) for a in flow.arms]
    stage_count = 4 if flow.warmup_rule is None else 5
    heights = [
        _HEAD_H + _PAD + _LINE_H * max((len(col[s][1]) for col in columns), default=1)
        for s in range(stage_count)
    ]
    top_w = min(width - 2 * _MARGIN, 460)
    top = _Box(
        (width - top_w) // 2,
        _MARGIN,
        top_w,
        _HEAD_H + _PAD + 2 * _LINE_H,
        "Enrolled",
        "#444444",
        (
            _Line(f"{flow.scheduled:,} scheduled requests", "", "main"),
            _Line(f"{flow.unique_cases:,} unique cases, randomized blocked by case", "", "main"),
        ),
    )
    boxes: list[_Box] = [top]
    bus_y = top.y + top.h + _ARROW // 2
    y0 = top.y + top.h + _ARROW
    arrows: list[tuple[int, int, int, int]] = []
    centres: list[int] = []
    for i, (a, col) in enumerate(zip(flow.arms, columns, strict=True)):
        x = _MARGIN + i * (_COL_W + _GAP)
        centres.append(x + _COL_W // 2)
        y = y0
        for s, (title, lines) in enumerate(col):
            boxes.append(_Box(x, y, _COL_W, heights[s], title, colours.get(a.arm, "#444444"), tuple(lines)))
            if s < stage_count - 1:
                arrows.append((x + _COL_W // 2, y + heights[s], x + _COL_W // 2, y + heights[s] + _ARROW))
            y += heights[s] + _ARROW
        arrows.append((x + _COL_W // 2, bus_y, x + _COL_W // 2, y0))
    height = y0 + sum(heights) + _ARROW * (stage_count - 1) + _MARGIN
    return (
        environment()
        .get_template("flow.svg.j2")
        .render(
            width=width,
            height=height,
            boxes=boxes,
            arrows=arrows,
            line_h=_LINE_H,
            head_h=_HEAD_H,
            bus=(
                min(centres, default=width // 2),
                max(centres, default=width // 2),
                bus_y,
                width // 2,
                top.y + top.h,
            ),
            arms=", ".join(a.arm for a in flow.arms),
        )
    )
