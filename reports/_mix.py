"""The traffic-mix subsection: each arm's accuracy, downstream quality and cost per 1,000 requests
estimated under the plan's ``analysis.target_mix``, and the mix itself beside the corpus's (None
hides the subsection: a plan without a target mix)."""

from __future__ import annotations

from dataclasses import dataclass

from analysis import MeanResult, Results
from prereg.schema import GateSpec
from reports._format import Fmt, Shown, fmt_pct, fmt_usd, show

__all__ = ["UNDER_TARGET_MIX", "MixView", "build_mix", "gate_mix_label"]

#: What a gate judged under the target mix says in the gates table.
UNDER_TARGET_MIX = "under the target mix"


@dataclass(frozen=True, slots=True)
class MixView:
    """The subsection's note, the mix per family (target and corpus share) and one row per arm
    (arm, accuracy, downstream quality, cost per 1,000 requests; None: not applicable, e.g. the
    accuracy of an arm that makes no routing decision)."""

    note: str
    families: tuple[tuple[str, str, str], ...]
    rows: tuple[tuple[str, Shown | None, Shown | None, Shown | None], ...]


def _shown(m: MeanResult | None, f: Fmt) -> Shown | None:
    return None if m is None else show(m.estimate, m.interval, f)


def build_mix(results: Results) -> MixView | None:
    """The subsection's rows; None when the results carry no mix section."""
    mix = results.mix
    if mix is None:
        return None
    families = tuple(
        (f, fmt_pct(share), fmt_pct(mix.corpus.get(f, 0.0))) for f, share in sorted(mix.target.items())
    )
    rows = tuple(
        (
            a.arm,
            _shown(a.accuracy, fmt_pct),
            _shown(a.downstream_quality, fmt_pct),
            _shown(a.cost_per_1k, fmt_usd),
        )
        for a in mix.arms
    )
    return MixView(mix.note, families, rows)


def gate_mix_label(gate: GateSpec) -> str:
    """What the gates table adds to a gate's heading: the mix it is judged under (none: the corpus's)."""
    return f" ({UNDER_TARGET_MIX})" if gate.mix == "target" else ""
