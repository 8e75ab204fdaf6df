"""Binomial proportion intervals against statsmodels' proportion_confint (tests/reference)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference.proportions import PROPORTION_CONFINT

from analysis import estimate_proportion, proportion_bounds
from prereg.errors import InputError


@pytest.mark.parametrize(("key", "expected"), sorted(PROPORTION_CONFINT.items(), key=str))
def test_bounds_match_statsmodels(key: tuple[float, int, str, str], expected: tuple[float, float]) -> None:
    """Every method, side and edge (0 of n, n of n, 1 of 1, non-integer x) matches the reference."""
    x, n, method, side = key
    lo, hi = proportion_bounds(x, n, 0.95, method, side)  # type: ignore[arg-type]
    exp_lo, exp_hi = expected
    if method == "jeffreys" and x == 0 and side != "upper":
        exp_lo = 0.0  # Brown et al. (2001): lower end 0 at x = 0; statsmodels leaves it unmodified
    if method == "jeffreys" and x == n and side != "lower":
        exp_hi = 1.0  # and upper end 1 at x = n
    assert float(lo) == pytest.approx(exp_lo, abs=1e-12)
    assert float(hi) == pytest.approx(exp_hi, abs=1e-12)


def test_vectorised_over_arrays() -> None:
    """Arrays of successes give the same bounds as scalar calls."""
    lo, hi = proportion_bounds(np.array([238, 249]), 300, 0.95)
    assert lo.tolist() == pytest.approx(
        [
            PROPORTION_CONFINT[(238, 300, "wilson", "two-sided")][0],
            PROPORTION_CONFINT[(249, 300, "wilson", "two-sided")][0],
        ],
        abs=1e-12,
    )
    assert hi.shape == (2,)


def test_no_trials_gives_no_interval() -> None:
    """n = 0 gives NaN bounds, and an estimate record with None and a note."""
    lo, hi = proportion_bounds(0, 0, 0.95)
    assert math.isnan(float(lo)) and math.isnan(float(hi))
    res = estimate_proportion(0.0, 0.0, 0, 0.95, "wilson", "case")
    assert (res.estimate, res.interval.lower, res.interval.upper) == (None, None, None)
    assert res.interval.note == "no units to analyse"


def test_bad_input_is_input_error() -> None:
    """Successes above n, an unknown method and a level outside (0, 1) raise InputError."""
    with pytest.raises(InputError, match="successes"):
        proportion_bounds(5, 4, 0.95)
    with pytest.raises(InputError, match="method"):
        proportion_bounds(1, 4, 0.95, "normal")
    with pytest.raises(InputError, match="level"):
        proportion_bounds(1, 4, 1.0)
