"""The traffic-mix section of the results document: each arm's accuracy, downstream quality and cost
post-stratified to the plan's ``analysis.target_mix`` (re-exported by :mod:`analysis._results`)."""

from __future__ import annotations

from dataclasses import dataclass

from analysis._interval import MeanResult, Unit

__all__ = ["MixArm", "MixResult"]


@dataclass(frozen=True)
class MixArm:
    """One arm under the target mix (``accuracy`` None for arms that make no routing decision)."""

    arm: str
    accuracy: MeanResult | None
    downstream_quality: MeanResult
    cost_per_1k: MeanResult


@dataclass(frozen=True)
class MixResult:
    """Every arm's figures under ``analysis.target_mix`` beside the corpus's own mix.

    ``target`` and ``corpus`` map each family to its share (the corpus's: its share of the
    table's cases). Each family's figure is on the plan's unit of analysis; the families are
    weighted by ``target``. The corpus-mix figures stay the arms' own (``ArmResult``).
    """

    note: str
    unit: Unit
    target: dict[str, float]
    corpus: dict[str, float]
    arms: tuple[MixArm, ...]
