"""The group-sequential part of the report: the looks, their boundaries, what each decided, the stop.

Everything shown comes from :attr:`analysis.Results.sequential` (the locked analysis decided the
looks); this module only words it. A fixed-horizon plan has no such part.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis import Results
from prereg.schema import ConfidenceSequenceStopping, GroupSequentialStopping, Plan

__all__ = ["LookRow", "SequentialView", "build_sequential", "stopping_sentence"]

_SPENDING = {"obrien_fleming": "O'Brien-Fleming-type", "pocock": "Pocock-type"}


@dataclass(frozen=True, slots=True)
class LookRow:
    """One look: its number, information, one-sided bound level per gate, and what it decided."""

    look: int
    fraction: float
    cases: int
    requests: int
    levels: tuple[tuple[str, float], ...]
    analysed: bool
    decided: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SequentialView:
    """The looks table, the headline (where the campaign stopped) and the method sentence."""

    headline: str
    method: str
    looks: tuple[LookRow, ...]
    not_run: int
    after_stop: int


def stopping_sentence(plan: Plan) -> str:
    """The pre-registered stopping and abort rules in a few words (the checklist's item 7b and
    Registration)."""
    s = plan.analysis.stopping
    if isinstance(s, ConfidenceSequenceStopping):
        looks = ", ".join(f"{t:.0%}" for t in s.looks)
        futility = "; an arm that fails a gate counts as decided (futility)" if s.futility else ""
        rule = (
            f"confidence sequence: looks at {looks} of the cases, always-valid empirical-Bernstein bounds "
            f"(Waudby-Smith and Ramdas 2024), stop when every gate of every router arm is decided{futility}"
        )
    elif not isinstance(s, GroupSequentialStopping):
        rule = "fixed horizon: no interim analyses, no early stopping"
    else:
        looks = ", ".join(f"{t:.0%}" for t in s.looks)
        futility = "; an arm that fails a gate counts as decided (futility)" if s.futility else ""
        rule = (
            f"group-sequential: looks at {looks} of the cases, {_SPENDING[s.spending]} alpha spending "
            f"(Lan-DeMets), stop when every gate of every router arm is decided{futility}"
        )
    a = plan.analysis.abort
    rules = []
    if a is not None and a.max_failure_rate is not None:
        rules.append(
            f"an arm stops once over {a.max_failure_rate:g} of its trials failed (after {a.min_trials})"
        )
    if a is not None and a.max_invalid_dispatch_s is not None:
        rules.append(f"a live run stops after {a.max_invalid_dispatch_s:g} s of invalid dispatch")
    return rule + ("; abort rules: " + ", ".join(rules) if rules else "")


def build_sequential(results: Results, plan: Plan) -> SequentialView | None:
    """The sequential section's view, or None at a fixed horizon."""
    seq = results.sequential
    if seq is None:
        return None
    rows = tuple(
        LookRow(
            lk.look,
            lk.fraction,
            lk.cases,
            lk.requests,
            tuple(sorted(lk.levels.items())),
            lk.analysed,
            lk.decided,
        )
        for lk in seq.looks
    )
    planned = seq.looks[-1].requests
    cut = seq.looks[seq.last_look - 1].requests if seq.last_look else 0
    method = (
        f"{stopping_sentence(plan)}. At each look a gate's bounds are taken at the level of the spending "
        "boundary (repeated confidence bounds, Jennison and Turnbull 1989), or are a confidence sequence's, "
        "so a verdict reached at any look keeps its error rate; a gate keeps the verdict of the first "
        "look that decided it. The "
        "other figures of this report are fixed-sample estimates on the trials through the last look "
        "analysed, not adjusted for the stop."
    )
    return SequentialView(
        headline=seq.reason,
        method=method,
        looks=rows,
        not_run=planned - cut - seq.rows_after_stop if seq.stopped_at is not None else 0,
        after_stop=seq.rows_after_stop,
    )
