"""The reference-arm subsection: each router's share of the fixed-to-oracle gap and the random-mix
flag, as rows for the template (None hides the subsection: a plan without reference arms)."""

from __future__ import annotations

from dataclasses import dataclass

from analysis import GapShareResult, RandomMixResult, Results
from reports._format import Shown, fmt_pct, fmt_signed, fmt_usd, show

__all__ = ["GapRow", "MixRow", "ReferenceView", "build_reference"]


@dataclass(frozen=True, slots=True)
class GapRow:
    """One router against one baseline and the oracle: the gap and the share it recovers."""

    arm: str
    baseline: str
    oracle: str
    qualities: str
    gap: Shown
    share: Shown
    defined: bool


@dataclass(frozen=True, slots=True)
class MixRow:
    """One router against one random arm: the difference, the flag and both arms' mean cost."""

    arm: str
    random_arm: str
    difference: Shown
    flagged: bool
    flag: str
    costs: str


@dataclass(frozen=True, slots=True)
class ReferenceView:
    """The reference-arm rows and the section's note."""

    note: str
    gaps: tuple[GapRow, ...]
    mixes: tuple[MixRow, ...]


def _q(x: float | None) -> str:
    return "no estimate" if x is None else fmt_pct(x)


def _gap_row(g: GapShareResult) -> GapRow:
    qualities = (
        f"{g.arm} {_q(g.router_quality)}, {g.baseline} {_q(g.baseline_quality)}, "
        f"{g.oracle} {_q(g.oracle_quality)} ({g.n_cases:,} cases)"
    )
    # an undefined share is said in words, never printed as a ratio over a gap that may be nothing
    share = show(g.share, g.share_interval, fmt_pct) if g.defined else Shown("undefined", g.note, g.note)
    return GapRow(
        g.arm,
        g.baseline,
        g.oracle,
        qualities,
        show(g.gap, g.gap_interval, fmt_signed(fmt_pct)),
        share,
        g.defined,
    )


def _usd(x: float | None) -> str:
    return "no estimate" if x is None else fmt_usd(x)


def _mix_row(m: RandomMixResult) -> MixRow:
    flag = "a random mix did as well" if m.random_did_as_well else f"{m.arm} beats the random mix"
    costs = (
        f"{m.arm} {_usd(m.router_cost_per_1k_usd)}, {m.random_arm} {_usd(m.random_cost_per_1k_usd)} "
        "per 1,000 requests"
    )
    return MixRow(
        m.arm,
        m.random_arm,
        show(m.difference, m.interval, fmt_signed(fmt_pct)),
        m.random_did_as_well,
        flag,
        costs,
    )


def build_reference(results: Results) -> ReferenceView | None:
    """The subsection's rows; None when the results carry no reference section."""
    ref = results.reference
    if ref is None:
        return None
    return ReferenceView(
        ref.note,
        tuple(_gap_row(g) for g in ref.gap_shares),
        tuple(_mix_row(m) for m in ref.random_mixes),
    )
