"""The records of a group-sequential analysis: each pre-registered look and where the campaign stopped."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LookResult", "SequentialResult"]


@dataclass(frozen=True)
class LookResult:
    """One pre-registered look: how much information it holds and what it decided.

    ``fraction`` is the information fraction the boundaries use (the look's cases over the
    corpus's, the unit being the case); ``requests`` the scheduled requests through the look;
    ``levels`` the one-sided level of each gate's bounds at this look (by gate id; the repeated
    confidence bound of the spending boundary); ``decided`` the ``arm/gate`` pairs first decided
    here. ``analysed`` is False for a look whose trials are not all stored (the campaign stopped
    before it, or is incomplete).
    """

    look: int
    fraction: float
    cases: int
    requests: int
    levels: dict[str, float]
    analysed: bool
    decided: tuple[str, ...]


@dataclass(frozen=True)
class SequentialResult:
    """A group-sequential campaign's looks, the stop and the rule behind it.

    ``stopped_at`` is the look after which the campaign stopped early (every gate of every deciding
    arm decided, or the arm-level futility rule), None when it ran to its last look or is not
    finished; ``last_look`` the last look analysed (0 if none is complete). Trials stored after
    the last analysed look (sent before the stop took effect) are counted in ``rows_after_stop``
    and not analysed.
    """

    method: str
    spending: str
    futility: bool
    looks: tuple[LookResult, ...]
    last_look: int
    stopped_at: int | None
    reason: str
    rows_after_stop: int
