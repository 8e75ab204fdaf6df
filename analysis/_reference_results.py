"""The reference-arm section of the results document: how much of the fixed-to-oracle gap each
router recovers, and whether a random mix of models did as well (re-exported by
:mod:`analysis._results`)."""

from __future__ import annotations

from dataclasses import dataclass

from analysis._interval import Interval, Unit

__all__ = ["GapShareResult", "RandomMixResult", "ReferenceResult"]


@dataclass(frozen=True)
class GapShareResult:
    """The share of the baseline-to-oracle gap in downstream quality that a router recovers.

    ``share = (router_quality - baseline_quality) / gap`` with ``gap = oracle_quality -
    baseline_quality``, on the cases all three arms answered (unit ``case``: each case's mean over
    its replays, cases weighted equally). ``defined`` is False, and ``share`` and its interval
    null, when the gap's interval includes 0 (or does not exist): a ratio over a gap that may be
    nothing is not a figure; ``note`` says which.
    """

    arm: str
    baseline: str
    oracle: str
    unit: Unit
    n_cases: int
    router_quality: float | None
    baseline_quality: float | None
    oracle_quality: float | None
    gap: float | None
    gap_interval: Interval
    defined: bool
    share: float | None
    share_interval: Interval
    note: str


@dataclass(frozen=True)
class RandomMixResult:
    """A router against a random arm on downstream quality: router minus random, on common cases.

    ``random_did_as_well`` is the flag: the interval's lower end is not above 0 (or there is no
    interval), so this router is not shown to beat a pre-registered random mix of models. The two
    arms' mean costs per 1,000 requests (the arms' ``cost_per_1k``, unit ``request``) stand beside
    it, since a random mix is typically matched to the router's cost.
    """

    arm: str
    random_arm: str
    unit: Unit
    n_cases: int
    router_quality: float | None
    random_quality: float | None
    difference: float | None
    interval: Interval
    random_did_as_well: bool
    router_cost_per_1k_usd: float | None
    random_cost_per_1k_usd: float | None
    note: str


@dataclass(frozen=True)
class ReferenceResult:
    """Every router against the plan's reference arms (exploratory: outside ``analysis.family``)."""

    note: str
    gap_shares: tuple[GapShareResult, ...]
    random_mixes: tuple[RandomMixResult, ...]
