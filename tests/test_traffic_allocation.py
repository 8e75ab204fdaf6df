"""Case-blocked randomization and the schedule built from a plan."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from _traffic_plans import case_ids, make_plan
from hypothesis import given, settings
from hypothesis import strategies as st

import traffic
from prereg.errors import PlanMeaningError
from traffic import Schedule, assign_arms, build_schedule

HASH = "ab" * 32

ratios = st.lists(st.integers(0, 3), min_size=1, max_size=4).filter(any)


@given(cases=st.integers(0, 12), ratio=ratios, replays=st.integers(1, 4), seed=st.integers(0, 2**32))
def test_every_case_gets_exactly_its_planned_requests_per_arm(
    cases: int, ratio: list[int], replays: int, seed: int
) -> None:
    """Each (arm, case) cell holds replays_per_case * ratio[arm] requests, whatever the ratio."""
    arms = [f"arm{i}" for i in range(len(ratio))]
    arm, case, _ = assign_arms(cases, arms, ratio, replays, np.random.default_rng(seed))
    counts = np.zeros((len(ratio), cases), dtype=np.int64)
    np.add.at(counts, (arm, case), 1)
    assert counts.tolist() == [[replays * w] * cases for w in ratio]
    assert (arm.dtype, case.dtype) == (np.dtype(np.int16), np.dtype(np.int32))


@given(cases=st.integers(1, 12), ratio=ratios, replays=st.integers(1, 4), seed=st.integers(0, 2**32))
def test_replays_count_up_in_time_within_each_arm_and_case(
    cases: int, ratio: list[int], replays: int, seed: int
) -> None:
    """Within each (arm, case) cell the replay numbers are 0, 1, 2, ... in time order."""
    arms = [f"arm{i}" for i in range(len(ratio))]
    arm, case, replay = assign_arms(cases, arms, ratio, replays, np.random.default_rng(seed))
    for a, w in enumerate(ratio):
        for c in range(cases):
            cell = replay[(arm == a) & (case == c)]
            assert cell.tolist() == list(range(replays * w))


def test_small_allocation_is_the_documented_sequence() -> None:
    """Two arms at 1:2, three cases, two replays: the exact sequence for seed 0."""
    arm, case, replay = assign_arms(3, ["a", "b"], [1, 2], 2, np.random.default_rng(0))
    assert arm.tolist() == [0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1]
    assert case.tolist() == [1, 1, 1, 1, 0, 2, 0, 2, 2, 1, 2, 1, 0, 0, 2, 0, 0, 2]
    assert replay.tolist() == [0, 0, 1, 1, 0, 0, 0, 1, 0, 2, 1, 3, 1, 2, 2, 3, 1, 3]


def test_time_order_is_mixed_so_each_half_of_the_night_sees_every_arm_in_ratio() -> None:
    """With 60 cases x 50 replays x 1:3, both halves of the night hold arms in about a 1:3 share."""
    arm, _, _ = assign_arms(60, ["a", "b"], [1, 3], 50, np.random.default_rng(3))
    half = arm.size // 2
    for part in (arm[:half], arm[half:]):
        assert abs(float(np.mean(part == 0)) - 0.25) < 0.02


@pytest.mark.parametrize("ratio", [[0, 0], [1, -1], [1]])
def test_bad_ratio_is_a_one_line_plan_error(ratio: list[int]) -> None:
    """All-zero, negative or mis-sized weights raise PlanMeaningError naming randomization.ratio."""
    with pytest.raises(PlanMeaningError, match=r"^randomization\.ratio: expected ") as info:
        assign_arms(3, ["a", "b"], ratio, 1, np.random.default_rng(0))
    assert "\n" not in str(info.value)


@settings(max_examples=25)
@given(seed=st.integers(0, 2**31), replays=st.integers(1, 3), weight=st.integers(1, 3))
def test_same_plan_gives_an_identical_schedule(seed: int, replays: int, weight: int) -> None:
    """Building the schedule twice from one plan gives equal arrays and equal digests."""
    plan = make_plan(seed=seed, replays=replays, ratio={"control": 1, "qwen": weight})
    one = build_schedule(plan, case_ids(5), HASH, Path("."))
    two = build_schedule(plan, case_ids(5), HASH, Path("."))
    for name in ("arm_index", "case_index", "replay", "scheduled_s"):
        assert np.array_equal(getattr(one, name), getattr(two, name))
    assert one.digest() == two.digest()
    assert len(one) == 5 * replays * (1 + weight)


def test_seed_and_plan_hash_each_change_the_schedule() -> None:
    """Another seed or another canonical hash derives another allocation and other send times."""
    base = build_schedule(make_plan(seed=1), case_ids(20), HASH, Path("."))
    other_seed = build_schedule(make_plan(seed=2), case_ids(20), HASH, Path("."))
    other_hash = build_schedule(make_plan(seed=1), case_ids(20), "cd" * 32, Path("."))
    assert len({base.digest(), other_seed.digest(), other_hash.digest()}) == 3
    assert not np.array_equal(base.arm_index, other_seed.arm_index)


def test_schedule_names_its_trials_and_counts_its_allocation() -> None:
    """Trial ids read arm:case:replay, are unique, and allocation_counts matches the ratio."""
    plan = make_plan(arm_ids=("control", "qwen", "phi"), ratio={"control": 1, "qwen": 2, "phi": 1}, replays=3)
    schedule = build_schedule(plan, case_ids(4), HASH, Path("."))
    ids = schedule.trial_ids()
    assert ids == [schedule.trial_id(i) for i in range(len(schedule))]
    assert len(set(ids)) == len(schedule) == 4 * 3 * 4
    assert sorted(i for i in ids if i.startswith("phi:c002:")) == [
        "phi:c002:0",
        "phi:c002:1",
        "phi:c002:2",
    ]
    assert schedule.allocation_counts() == {
        "control": dict.fromkeys(case_ids(4), 3),
        "qwen": dict.fromkeys(case_ids(4), 6),
        "phi": dict.fromkeys(case_ids(4), 3),
    }
    assert np.all(np.diff(schedule.scheduled_s) >= 0)


def test_schedule_arrays_are_read_only() -> None:
    """A frozen schedule's arrays cannot be written in place."""
    schedule = build_schedule(make_plan(), case_ids(2), HASH, Path("."))
    with pytest.raises(ValueError, match="read-only"):
        schedule.arm_index[0] = 1


def test_digest_is_the_documented_sha256() -> None:
    """A one-request schedule's digest is fixed (a change here changes stored fingerprints)."""
    one = Schedule(
        ("a",),
        ("c",),
        np.zeros(1, np.int16),
        np.zeros(1, np.int32),
        np.zeros(1, np.int32),
        np.zeros(1),
    )
    assert one.digest() == "74e04789278d0e00c9a09ed653d9fec3efd2294ad537de42e2794169d0773a3f"


def test_package_exports_its_public_names() -> None:
    """traffic.__all__ is sorted and equals the package's public, non-module names."""
    public = {n for n, v in vars(traffic).items() if not n.startswith("_") and not isinstance(v, ModuleType)}
    assert traffic.__all__ == sorted(public)
