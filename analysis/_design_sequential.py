"""The design figures of a group-sequential plan: each world simulated under the sequential design
beside the fixed horizon on the same simulations (common random numbers), and the requests used.

Every share is ``k / sims`` with its 95% Wilson interval over the simulations, as in
:mod:`analysis._design_results`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SequentialDesignFigures", "SequentialGateShares", "SequentialWorld"]

ShareCi = tuple[float, float]


@dataclass(frozen=True)
class SequentialGateShares:
    """One router arm and gate in one world: P(PASS) and P(FAIL) under the sequential design and at
    the fixed horizon, on the same simulated nights."""

    p_pass: float
    p_pass_ci: ShareCi
    p_fail: float
    p_fail_ci: ShareCi
    fixed_p_pass: float
    fixed_p_pass_ci: ShareCi
    fixed_p_fail: float
    fixed_p_fail_ci: ShareCi


@dataclass(frozen=True)
class SequentialWorld:
    """One world: how many requests the sequential campaign ran (mean with its Monte Carlo
    standard error, 90th percentile, share of the fixed horizon), where it stopped (simulations
    per look, by look number) and each arm's gate shares (arm -> gate id)."""

    sims: int
    expected_requests: float
    expected_requests_mc_se: float
    expected_share: float
    p90_requests: float
    stopped_at: dict[str, int]
    gates: dict[str, dict[str, SequentialGateShares]]


@dataclass(frozen=True)
class SequentialDesignFigures:
    """The plan's looks and spending, the fixed horizon's requests, and every simulated world
    (``assumed``, ``boundary:<gate>``, ``grid:<accuracy>``)."""

    spending: str
    looks: tuple[float, ...]
    futility: bool
    fixed_requests: int
    worlds: dict[str, SequentialWorld]
