"""Case-blocked randomization: which arm serves which case's replay, and in what order.

The unit of randomization is the request and the block is the case. Every case is sent to arm
``a`` exactly ``replays_per_case * ratio[a]`` times, so arms are compared on the same cases equally
often (no case can be lucky for one arm). The order of all requests in time is then a uniform random
permutation, so anything that drifts over the night (load, a warm cache, a provider's outage) falls
on every arm alike. Replays are numbered per (arm, case) in time order, which makes
``arm:case:replay`` a deterministic trial id.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prereg.errors import PlanMeaningError

__all__ = ["assign_arms"]

_FIELD = "randomization.ratio"


def assign_arms(
    case_count: int,
    arm_ids: Sequence[str],
    ratio: Sequence[int],
    replays_per_case: int,
    rng: np.random.Generator,
    blocks: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The allocation sequence: ``(arm_index, case_index, replay)``, one entry per request in time.

    ``ratio[a]`` is arm ``arm_ids[a]``'s weight (0 leaves the arm out). ``rng`` is the campaign's
    ``"allocation"`` stream; it is used for one call, ``rng.permutation(N)``, so the sequence is a
    function of the plan alone. Returns arrays of dtypes int16, int32, int32.

    ``blocks`` (a group-sequential plan's cumulative cases per look, :func:`prereg.looks.look_cases`)
    serves the cases in blocks instead: a random order of the cases (``rng.permutation(cases)``)
    cut at the counts, and within each block one uniform permutation of its requests. Every
    block holds all the requests of its cases, so after each block every arm has received the same
    cases equally often: the interim looks compare the arms on balanced information.
    """
    if len(ratio) != len(arm_ids):
        raise PlanMeaningError(
            f"expected one weight per arm ({len(arm_ids)}), found {len(ratio)}", field=_FIELD
        )
    if len(arm_ids) > np.iinfo(np.int16).max:
        raise PlanMeaningError(
            f"expected at most {np.iinfo(np.int16).max} arms, found {len(arm_ids)}", field="arms"
        )
    if any(w < 0 for w in ratio) or (len(ratio) and not any(ratio)):
        raise PlanMeaningError(
            f"expected non-negative weights, not all zero, found {list(ratio)}", field=_FIELD
        )
    if case_count < 0 or replays_per_case < 1:
        raise PlanMeaningError(
            f"expected >= 0 cases and >= 1 replay per case, found {case_count} and {replays_per_case}",
            field="traffic.replays_per_case",
        )
    per_case = np.asarray(ratio, dtype=np.int64) * replays_per_case  # requests per (arm, case)
    arm_count = len(arm_ids)

    # Block order first: arm-major, case-minor, each (arm, case) cell repeated per_case[arm] times.
    group_sizes = np.repeat(per_case, case_count)  # cell g = arm * case_count + case
    group_of = np.repeat(np.arange(arm_count * case_count, dtype=np.int64), group_sizes)
    total = group_of.size

    if blocks is None:
        # One uniform permutation puts the whole sequence in time order.
        group_of = group_of[rng.permutation(total)]
    else:
        group_of = _in_blocks(group_of, case_count, blocks, rng)

    # Replay = rank in time within the cell. Sorting the unique key (cell, time) orders each cell by
    # time; an unstable sort of unique keys is several times faster than a stable sort by cell.
    order = np.argsort(group_of * total + np.arange(total, dtype=np.int64))
    cell_start = np.concatenate(([0], np.cumsum(group_sizes)[:-1])) if group_sizes.size else group_sizes
    replay = np.empty(total, dtype=np.int32)
    replay[order] = np.arange(total, dtype=np.int64) - np.repeat(cell_start, group_sizes)

    if case_count:
        arm_index = (group_of // case_count).astype(np.int16)
        case_index = (group_of % case_count).astype(np.int32)
    else:
        arm_index = np.zeros(0, dtype=np.int16)
        case_index = np.zeros(0, dtype=np.int32)
    return arm_index, case_index, replay


def _in_blocks(
    group_of: np.ndarray, case_count: int, blocks: Sequence[int], rng: np.random.Generator
) -> np.ndarray:
    """``group_of`` (cells in block order) reordered look by look: the cases of each block in a
    random order of the cases, each block's requests uniformly permuted within it."""
    if list(blocks) != sorted(set(blocks)) or (blocks and blocks[-1] != case_count):
        raise PlanMeaningError(
            f"expected strictly increasing case counts ending at {case_count}, found {list(blocks)}",
            field="analysis.stopping.looks",
        )
    block_of_case = np.empty(case_count, dtype=np.int64)
    order = rng.permutation(case_count)
    start = 0
    for b, stop in enumerate(blocks):
        block_of_case[order[start:stop]] = b
        start = stop
    block = block_of_case[group_of % case_count] if case_count else group_of
    # A stable sort by block keeps each block's cells contiguous; a random key within it permutes.
    within = rng.permutation(group_of.size)
    return np.asarray(group_of[np.lexsort((within, block))])
