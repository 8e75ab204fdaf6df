"""The interim looks of a group-sequential campaign: when a look's trials are all stored, the
locked gates run on the store, and the campaign stops once every gate is decided.

The schedule serves the cases in one block per look (:func:`prereg.looks.look_ends`), so a look
is complete once every request before its end has a row. :class:`LookWatcher` counts the rows
as they come (resumed rows included) and says which looks just completed, in order; the runner
then flushes its writer and calls :func:`decide_look`, which reads the store on the runner's own
connection and runs :func:`analysis.analyze` (scope ``gates``): the same code, on the same rows,
as ``routetrial analyze`` afterwards. Each look is logged once in the plan's hash-chained log
(kind ``look``), with its boundary and what it decided; a resumed run replays the same looks and
finds them logged.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from analysis import SequentialResult, analyze
from experiment.store import TrialStore, store_trials
from prereg.log import append_log, read_log
from prereg.looks import look_ends
from prereg.schema import Plan

__all__ = ["LookDecision", "LookWatcher", "decide_look"]


class LookWatcher:
    """Which looks of a group-sequential schedule are complete, as trial rows arrive."""

    def __init__(self, plan: Plan, n_cases: int, stored: Iterable[int]) -> None:
        self.ends = look_ends(plan, n_cases)
        starts = (0, *self.ends[:-1])
        self.remaining = [end - start for start, end in zip(starts, self.ends, strict=True)]
        self.next = 0  # the first look not yet reported complete
        for seq in stored:
            self.remaining[bisect.bisect_right(self.ends, int(seq))] -= 1

    def add(self, seq: int) -> bool:
        """Count the row of ``seq``; True when the next look to report is now complete."""
        self.remaining[bisect.bisect_right(self.ends, seq)] -= 1
        return self.next < len(self.ends) and self.remaining[self.next] == 0

    def completed(self) -> list[int]:
        """The looks (1-based) completed since the last call, in order."""
        out = []
        while self.next < len(self.ends) and self.remaining[self.next] == 0:
            self.next += 1
            out.append(self.next)
        return out


@dataclass(frozen=True)
class LookDecision:
    """What the locked gates said at a look: the sequential record and whether to stop."""

    look: int
    result: SequentialResult

    @property
    def stop(self) -> bool:
        """Every gate of every deciding arm is decided (or futility): the campaign ends here."""
        return self.result.stopped_at is not None


def decide_look(
    plan: Plan,
    store: TrialStore,
    plan_hash: str,
    look: int,
    plan_path: Path | None,
) -> LookDecision:
    """The locked gates on the store's rows at ``look``, logged once in the plan's log.

    A live run's looks are judged valid or not on their own trials' lateness
    (:func:`analysis.analyze` does so for every look), so a look of a run whose dispatch is already
    invalid cannot decide a latency gate.
    """
    table, meta = store_trials(store, plan_hash, plan_hash, True)
    result = analyze(plan, table, meta, scope="gates").sequential
    assert result is not None  # a group-sequential plan always has its looks
    decision = LookDecision(look, result)
    if plan_path is not None:
        _log(plan_path, store.url, decision)
    return decision


def _log(plan_path: Path, store_url: str, decision: LookDecision) -> None:
    """Append the look to the plan's log unless this store's look is already there (a resume)."""
    r = decision.result
    at = r.looks[decision.look - 1]
    for entry in read_log(plan_path):
        if (
            entry.kind == "look"
            and entry.detail.get("look") == str(at.look)
            and entry.detail.get("store") == store_url
        ):
            return
    append_log(
        plan_path,
        "look",
        {
            "store": store_url,
            "look": str(at.look),
            "of": str(len(r.looks)),
            "cases": str(at.cases),
            "requests": str(at.requests),
            "fraction": f"{at.fraction:.6g}",
            "spending": r.spending,
            "levels": json.dumps(at.levels, sort_keys=True),
            "decided": json.dumps(list(at.decided)),
            "stop": "yes" if decision.stop and r.stopped_at == at.look else "no",
            "reason": r.reason if decision.stop else "",
        },
    )
