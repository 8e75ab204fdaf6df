"""What a design can show: fewest correct to pass, smallest n that bounds a quantile from above."""

from __future__ import annotations

import pytest
from reference.proportions import FEWEST_CORRECT

from analysis import fewest_correct_to_pass, min_n_for_quantile_upper_bound
from prereg.errors import InputError


def test_study2_needs_56_of_60() -> None:
    """At n = 60 a one-sided 95% Wilson bound passes 0.85 only from 56 correct (NOTES.md)."""
    assert fewest_correct_to_pass(60, 0.85, 0.95) == 56


@pytest.mark.parametrize(("key", "expected"), sorted(FEWEST_CORRECT.items(), key=str))
def test_fewest_correct_matches_enumeration(key: tuple[int, float, str], expected: int | None) -> None:
    """The answer equals a brute-force search over statsmodels' one-sided bounds."""
    n, threshold, method = key
    assert fewest_correct_to_pass(n, threshold, 0.95, method) == expected


def test_none_when_even_all_correct_fails() -> None:
    """Ten cases can never certify 0.85: all ten correct gives a Wilson bound below it."""
    assert fewest_correct_to_pass(10, 0.85, 0.95) is None


def test_p95_upper_bound_needs_59() -> None:
    """A one-sided 95% distribution-free upper bound for a P95 exists from n = 59."""
    assert min_n_for_quantile_upper_bound(0.95, 0.95) == 59


@pytest.mark.parametrize(("q", "level"), [(0.5, 0.95), (0.9, 0.9), (0.99, 0.95), (0.95, 0.99)])
def test_min_n_is_smallest_by_enumeration(q: float, level: float) -> None:
    """The answer is the first n with 1 - q**n >= level."""
    expected = next(n for n in range(1, 10_000) if 1 - q**n >= level)
    assert min_n_for_quantile_upper_bound(q, level) == expected


def test_bad_arguments_are_input_errors() -> None:
    """Out-of-range arguments raise the project's InputError, naming the field."""
    with pytest.raises(InputError, match="method"):
        fewest_correct_to_pass(60, 0.85, 0.95, "normal")
    with pytest.raises(InputError, match="q"):
        min_n_for_quantile_upper_bound(1.0, 0.95)
    with pytest.raises(InputError, match="n"):
        fewest_correct_to_pass(0, 0.85, 0.95)
