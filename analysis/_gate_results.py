"""What ``analyze(..., scope="gates")`` returns: the gate verdicts and the accuracy figures beside them.

A design diagnosis (``routetrial design``) reruns the locked analysis thousands of times and reads
only the gate verdicts, viability and each router arm's accuracy with its intervals; these records
hold exactly that. Every value equals the matching field of the full :class:`analysis.Results`
of the same trials (the same functions compute it, drawing the same random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analysis._results import ArmVerdict, GateVerdict, Interval, ProportionResult, SequentialResult

__all__ = ["ArmGateResult", "GateResults"]


@dataclass(frozen=True)
class ArmGateResult:
    """One router arm's accuracy: ``ArmResult.accuracy`` and the ``robust_*`` fields of
    ``ArmResult.clustering``, on the plan's unit of analysis."""

    arm: str
    accuracy: ProportionResult
    robust_method: str
    robust_estimate: float | None
    robust_interval: Interval


@dataclass(frozen=True)
class GateResults:
    """The gate-deciding part of the results: per router arm (plan order) its accuracy, every gate
    verdict (arms, then gates, in plan order) and each arm's viability, as in :class:`Results`."""

    arms: tuple[ArmGateResult, ...]
    gates: tuple[GateVerdict, ...]
    viability: tuple[ArmVerdict, ...]
    #: A group-sequential plan's looks and stop (None at a fixed horizon).
    sequential: SequentialResult | None = field(default=None)
