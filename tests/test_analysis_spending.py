"""Lan-DeMets alpha-spending boundaries: gsDesign's values, scipy's multivariate normal, a Monte
Carlo of the Brownian motion itself, and the edges."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from analysis._spending import (
    Boundaries,
    Spending,
    boundaries,
    crossing_probabilities,
    nominal_level,
    spent_alpha,
)
from prereg.errors import InputError

# gsDesign's sfLDOF bounds to 4 decimals, as quoted (R is not on the build machines, so not re-run
# here); the recursion gives 4.332634 2.963132 2.359044 2.014090 and 2.962588 1.968596.
# > R -e 'library(gsDesign); gsDesign(k=4, test.type=1, alpha=0.025, sfu=sfLDOF)$upper$bound'
GSDESIGN_LDOF_K4 = (4.3326, 2.9631, 2.3590, 2.0141)
# > R -e 'library(gsDesign); gsDesign(k=2, test.type=1, alpha=0.025, sfu=sfLDOF)$upper$bound'
GSDESIGN_LDOF_K2 = (2.9626, 1.9686)
# Pocock type, K = 4 equally spaced, from this recursion (r = 32; r = 256 agrees to 1e-8), matched
# by the multivariate normal and Monte Carlo tests below; look 1 is exact, Phi^-1(1 - alpha(0.25)).
# To compare: R -e 'library(gsDesign); gsDesign(k=4, test.type=1, alpha=0.025, sfu=sfLDPocock)$upper$bound'
POCOCK_K4 = (2.368328, 2.367524, 2.358168, 2.350036)
# Pocock type, K = 5 equally spaced, from this recursion: its first three looks are the 2.4380,
# 2.4268, 2.4101 once quoted to us for K = 4 (used at four equally spaced looks, those bounds and
# 2.4030 spend 0.0216 of 0.025, by Monte Carlo and by the multivariate normal).
POCOCK_K5 = (2.437977, 2.426814, 2.410194, 2.396649, 2.386000)

MC_PATHS = 400_000


def _monte_carlo_first_crossing(
    fractions: tuple[float, ...], z: tuple[float, ...], drift: float
) -> npt.NDArray[np.float64]:
    """Share of simulated Brownian paths that first cross at each look (Z_k = S(t_k) / sqrt(t_k))."""
    rng = np.random.default_rng(20261202)
    t = np.asarray(fractions)
    dt = np.diff(t, prepend=0.0)
    s = np.cumsum(rng.standard_normal((MC_PATHS, t.size)) * np.sqrt(dt) + drift * dt, axis=1)
    crossed = s / np.sqrt(t) >= np.asarray(z)
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1), -1)
    return np.array([np.mean(first == k) for k in range(t.size)])


def _mc_tolerance(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Five Monte Carlo standard errors, plus a little for p near 0."""
    return 5.0 * np.sqrt(p * (1.0 - p) / MC_PATHS) + 1e-5


def test_obrien_fleming_matches_gsdesign_k4() -> None:
    """Four equally spaced looks at one-sided 0.025 give gsDesign's sfLDOF bounds."""
    b = boundaries([0.25, 0.5, 0.75, 1.0], 0.025, "obrien_fleming")
    assert b.z == pytest.approx(GSDESIGN_LDOF_K4, abs=1e-4)


def test_obrien_fleming_matches_gsdesign_k2() -> None:
    """One interim look at half the information gives gsDesign's sfLDOF bounds."""
    b = boundaries([0.5, 1.0], 0.025, "obrien_fleming")
    assert b.z == pytest.approx(GSDESIGN_LDOF_K2, abs=1e-4)


@pytest.mark.parametrize(("k", "expected"), [(4, POCOCK_K4), (5, POCOCK_K5)])
def test_pocock_values(k: int, expected: tuple[float, ...]) -> None:
    """Equally spaced Pocock-type bounds keep their stored values, the first one exactly."""
    b = boundaries([(i + 1) / k for i in range(k)], 0.025, "pocock")
    assert b.z == pytest.approx(expected, abs=2e-6)
    assert b.z[0] == stats.norm.isf(spent_alpha("pocock", 1 / k, 0.025))


@pytest.mark.parametrize(
    ("fractions", "spending"),
    [((0.5, 1.0), "obrien_fleming"), ((0.3, 1.0), "pocock"), ((0.3, 0.55, 1.0), "pocock")],
)
def test_total_alpha_agrees_with_multivariate_normal(
    fractions: tuple[float, ...], spending: Spending
) -> None:
    """1 - P(all Z_k < z_k) from scipy's multivariate normal equals alpha(t_K) to 1e-6."""
    b = boundaries(fractions, 0.025, spending)
    t = np.asarray(fractions)
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    below = stats.multivariate_normal.cdf(np.asarray(b.z), np.zeros(t.size), corr, abseps=1e-8, releps=1e-8)
    assert 1.0 - below == pytest.approx(b.cumulative[-1], abs=1e-6)


@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
def test_monte_carlo_crossing_equals_spending(spending: Spending) -> None:
    """Under the null, simulated paths cross by each look as often as alpha(t_k) says."""
    b = boundaries([0.3, 0.55, 1.0], 0.025, spending)
    simulated = np.cumsum(_monte_carlo_first_crossing(b.fractions, b.z, 0.0))
    expected = np.asarray(b.cumulative)
    assert np.all(np.abs(simulated - expected) <= _mc_tolerance(expected))


@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
def test_monte_carlo_crossing_under_drift(spending: Spending) -> None:
    """At drift 2.5 the recursion's first-crossing probabilities match simulated paths."""
    b = boundaries([0.3, 0.55, 1.0], 0.025, spending)
    computed = np.asarray(crossing_probabilities(b.fractions, b.z, 2.5))
    simulated = _monte_carlo_first_crossing(b.fractions, b.z, 2.5)
    assert np.all(np.abs(simulated - computed) <= _mc_tolerance(computed))
    assert 0.5 < computed.sum() < 0.75  # a fixed design at drift 2.5 has power 0.705


def test_crossing_at_null_gives_back_the_spending() -> None:
    """At drift 0 the crossing probabilities are the spent increments, to the solver's accuracy."""
    b = boundaries([0.2, 0.45, 0.7, 1.0], 0.05, "obrien_fleming")
    increments = np.diff(b.cumulative, prepend=0.0)
    assert crossing_probabilities(b.fractions, b.z, 0.0) == pytest.approx(increments, rel=1e-8)


@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
@pytest.mark.parametrize("alpha", [0.025, 0.05, 0.1])
def test_one_look_is_the_fixed_design(spending: Spending, alpha: float) -> None:
    """A single look at full information spends all of alpha: z = Phi^-1(1 - alpha)."""
    b = boundaries([1.0], alpha, spending)
    assert b.z == (stats.norm.isf(alpha),)
    assert b.cumulative == (alpha,)
    assert b.nominal == pytest.approx((alpha,), rel=1e-12)


@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
def test_spending_is_alpha_at_one_exactly_and_increasing(spending: Spending) -> None:
    """alpha(1) is alpha with no rounding, and alpha(t) increases with t."""
    assert spent_alpha(spending, 1.0, 0.025) == 0.025
    values = [spent_alpha(spending, t, 0.025) for t in np.linspace(0.01, 1.0, 50)]
    assert all(b > a for a, b in itertools.pairwise(values))


def test_truncated_run_spends_alpha_of_its_last_fraction() -> None:
    """A run whose last look is at t = 0.8 spends alpha(0.8), not alpha."""
    b = boundaries([0.4, 0.8], 0.025, "pocock")
    assert b.cumulative[-1] == spent_alpha("pocock", 0.8, 0.025) < 0.025
    assert sum(crossing_probabilities(b.fractions, b.z, 0.0)) == pytest.approx(b.cumulative[-1], rel=1e-8)


def test_a_look_that_spends_nothing_cannot_stop() -> None:
    """O'Brien-Fleming spending underflows to 0 at a tiny fraction: that look's bound is infinite."""
    b = boundaries([1e-4, 0.5, 1.0], 0.025, "obrien_fleming")
    assert b.z[0] == math.inf and b.nominal[0] == 0.0 and nominal_level(b, 0) == 1.0
    assert b.z[1:] == pytest.approx(boundaries([0.5, 1.0], 0.025, "obrien_fleming").z, abs=1e-7)
    assert crossing_probabilities(b.fractions, b.z, 1.0)[0] == 0.0


def test_a_bound_far_below_the_drift_stops_every_path() -> None:
    """When no path can continue past a look (bound 35 sd under the mean), later looks get 0."""
    assert crossing_probabilities([0.5, 1.0], [0.0, 0.0], 50.0) == (1.0, 0.0)


def test_nominal_level_is_phi_of_the_bound() -> None:
    """The repeated confidence level at a look is Phi(z_k), one minus its nominal significance."""
    b = boundaries([0.5, 1.0], 0.025, "obrien_fleming")
    assert [nominal_level(b, k) for k in range(2)] == pytest.approx([1 - p for p in b.nominal], abs=1e-15)
    with pytest.raises(InputError, match="^look: "):
        nominal_level(b, 2)


def test_boundaries_are_frozen() -> None:
    """A Boundaries value cannot be changed after it is made."""
    b = boundaries([0.5, 1.0], 0.025, "pocock")
    assert isinstance(b, Boundaries)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.alpha = 0.05  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fractions", "alpha", "spending", "field"),
    [
        ([0.5, 0.5, 1.0], 0.025, "pocock", "fractions"),
        ([0.6, 0.3, 1.0], 0.025, "pocock", "fractions"),
        ([0.0, 1.0], 0.025, "pocock", "fractions"),
        ([0.5, 1.2], 0.025, "pocock", "fractions"),
        ([], 0.025, "pocock", "fractions"),
        ([0.5, 1.0], 0.0, "pocock", "alpha"),
        ([0.5, 1.0], 1.0, "pocock", "alpha"),
        ([0.5, 1.0], 0.025, "linear", "spending"),
    ],
)
def test_bad_input_is_a_value_error(fractions: list[float], alpha: float, spending: str, field: str) -> None:
    """Bad fractions, alpha or spending raise the project's InputError (a ValueError) naming the field."""
    with pytest.raises(ValueError, match=f"^{field}: "):
        boundaries(fractions, alpha, spending)  # type: ignore[arg-type]


def test_crossing_probabilities_wants_one_bound_per_look() -> None:
    """A bound list of the wrong length, or a drift that is not finite, is rejected."""
    with pytest.raises(InputError, match="^z: "):
        crossing_probabilities([0.5, 1.0], [2.0], 0.0)
    with pytest.raises(InputError, match="^drift: "):
        crossing_probabilities([0.5, 1.0], [2.0, 2.0], math.nan)
