"""The smallest number of unique cases that reaches a target power, per arm and gate.

Power at ``n`` cases is estimated by simulating the whole design on a corpus resized to ``n``
(:func:`experiment.design.scenarios.resize_corpus`). The search brackets, then bisects:

1. start at the plan's ``n0``; where power is short of the target, double ``n`` (up to
   ``n_max``), where it is reached, halve it (down to ``n_min``), until each (arm, gate) pair has
   a failing ``lo`` and a passing ``hi``;
2. bisect each bracket until ``hi - lo <= max(1, ceil(rel_tol * hi))`` and report ``hi``.

All pairs advance together and each round's sizes are simulated in one batch, so pairs share
work. Power is estimated, not computed: bisection assumes it rises with ``n``, which holds up to
Monte Carlo noise (and the discreteness of exact intervals), so the answer is good to about the
tolerance and to the Monte Carlo error of the power at ``hi``, both reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Pair", "SearchResult", "search_min_cases"]

#: (router arm id, gate id)
Pair = tuple[str, str]

#: Simulates the design at each size and returns the power of every pair there.
Evaluate = Callable[[list[int]], Mapping[int, Mapping[Pair, float]]]


@dataclass
class SearchResult:
    """Outcome of the search for one pair: ``n`` is None when even ``n_max`` falls short."""

    n: int | None
    power: float | None
    lo: int | None
    hi: int | None
    evaluated: dict[int, float] = field(default_factory=dict)


def search_min_cases(
    evaluate: Evaluate,
    pairs: Iterable[Pair],
    n0: int,
    *,
    target: float = 0.8,
    n_min: int = 1,
    n_max: int,
    rel_tol: float = 0.05,
) -> dict[Pair, SearchResult]:
    """The smallest ``n`` in ``[n_min, n_max]`` with power >= ``target``, for every pair."""
    n0 = min(max(n0, n_min), n_max)
    state = {pair: SearchResult(None, None, None, None) for pair in pairs}
    done: dict[Pair, bool] = dict.fromkeys(state, False)
    powers: dict[int, Mapping[Pair, float]] = {}
    pending = [n0] if state else []
    while pending:
        fresh = sorted(set(pending) - set(powers))
        if fresh:
            powers.update(evaluate(fresh))
        for pair, result in state.items():
            if done[pair]:
                continue
            for n in sorted(set(pending)):
                if n in powers and _wants(result, n):
                    p = powers[n][pair]
                    result.evaluated[n] = p
                    if p >= target:
                        result.hi = n if result.hi is None else min(result.hi, n)
                    else:
                        result.lo = n if result.lo is None else max(result.lo, n)
        pending = []
        for pair, result in state.items():
            if done[pair]:
                continue
            step = _next_size(result, n_min, n_max, rel_tol)
            if step is None:
                done[pair] = True
                if result.hi is not None:
                    result.n = result.hi
                    result.power = result.evaluated[result.hi]
            else:
                pending.append(step)
    return state


def _wants(result: SearchResult, n: int) -> bool:
    """Whether ``n`` tells this pair something: inside its current bracket (or it has none)."""
    if n in result.evaluated:
        return False
    lo = -1 if result.lo is None else result.lo
    hi = math.inf if result.hi is None else result.hi
    return lo < n < hi


def _next_size(result: SearchResult, n_min: int, n_max: int, rel_tol: float) -> int | None:
    """The next size to try, or None when the search for this pair is over."""
    lo, hi = result.lo, result.hi
    if hi is None:
        assert lo is not None
        return None if lo >= n_max else min(2 * lo, n_max)
    if lo is None:
        return None if hi <= n_min else max(hi // 2, n_min)
    if hi - lo <= max(1, math.ceil(rel_tol * hi)):
        return None
    return (lo + hi) // 2
