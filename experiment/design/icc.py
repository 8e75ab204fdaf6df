"""The intra-case correlations of the design's ICC grid: which case difficulty gives which ICC.

Replays of one case are not independent: a simulated router answers case ``c`` correctly with
probability ``p_c = logistic(b + sd * Z_c)``, ``Z_c`` standard normal and drawn once per case
(``arms._behaviour``), and a live router sees the same prompt every time. The design diagnosis
therefore checks each gate at its boundary over a grid of ICCs (``DEFAULT_ICC_GRID``), and this
module turns an ICC into the simulated classifier's ``case_difficulty_sd``.

Correctness ICC (binary, observed scale)
    Two replays ``Y, Y'`` of one case are Bernoulli(``p_c``) given the case, independent given it.
    Their correlation is

    ``rho = Cov(Y, Y') / Var(Y) = Var(p_c) / (p (1 - p))``,  ``p = E[p_c]``,

    the intraclass correlation of clustered binary data in the sense of the beta-binomial model
    (for ``p_c ~ Beta(a, b)``, ``rho = 1 / (a + b + 1)``: Crowder 1978; Ridout, Demetrio & Firth
    1999), and the ``rho`` of the design effect ``1 + (m - 1) rho`` of a case mean over ``m``
    replays (Kish 1965). It is *not* the latent-scale ICC ``sd^2 / (sd^2 + pi^2 / 3)`` of the
    logistic-normal model (Goldstein, Browne & Rasbash 2002; Nakagawa & Schielzeth 2010), which is
    larger; the 0/1 data, the ANOVA estimator (``analysis.icc_anova``) and the design effect all
    live on the observed scale. ``rho`` depends on ``p`` as well as on ``sd``: the same difficulty
    SD gives a smaller ICC far from ``p = 0.5``.

    :func:`difficulty_for_icc` finds, for a marginal accuracy ``p`` and a target ``rho``, the SD
    (Brent's method; ``rho`` rises from 0 at ``sd = 0`` towards 1 as ``sd`` grows) and the
    intercept ``b`` whose *exact* marginal accuracy ``E[logistic(b + sd Z)]`` is ``p``. Both
    moments are computed by adaptive quadrature (``scipy.integrate.quad``) split at the point
    where the integrand steps (``z = -b / sd``), accurate to ~1e-12 at any SD. The simulated arms
    calibrate the intercept with a 64-node Gauss-Hermite rule (``arms.solve_intercept``), which is
    exact for the SDs of real plans but not for the steep integrands of a high ICC (at ``p = 0.85``
    and ``sd = 20``, ICC ~0.91, its intercept gives a marginal accuracy of 0.844, not 0.85). So
    the accuracy written into the plan is ``plan_accuracy = arms.marginal_accuracy(b, sd)``, the
    Gauss-Hermite value the arms invert back to exactly ``b``: the simulated truth is ``p``.

Latency ICC (log scale)
    ``LatencySpec.case_icc`` is the share of the log service time's variance that belongs to the
    case; the marginal lognormal (median, P95) is unchanged, so a latency gate's boundary stays
    on its threshold at every ICC. The grid sets it directly.

References
----------
- Crowder, M. J. (1978). Beta-binomial anova for proportions. Applied Statistics 27(1), 34-37.
  doi:10.2307/2346223
- Ridout, M. S., Demetrio, C. G. B., Firth, D. (1999). Estimating intraclass correlation for
  binary data. Biometrics 55(1), 137-148. doi:10.1111/j.0006-341X.1999.00137.x
- Goldstein, H., Browne, W., Rasbash, J. (2002). Partitioning variation in multilevel models.
  Understanding Statistics 1(4), 223-231. doi:10.1207/S15328031US0104_02
- Nakagawa, S., Schielzeth, H. (2010). Repeatability for Gaussian and non-Gaussian data.
  Biological Reviews 85(4), 935-956. doi:10.1111/j.1469-185X.2010.00141.x
- Kish, L. (1965). Survey Sampling. Wiley (the design effect).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit
from scipy.stats import norm

from arms import marginal_accuracy, solve_intercept

__all__ = [
    "DEFAULT_ICC_GRID",
    "MAX_ICC",
    "Difficulty",
    "correctness_icc",
    "difficulty_for_icc",
    "exact_intercept",
    "logistic_normal_moments",
]

#: The ICCs each gate is checked at, at its boundary (correctness ICC for accuracy gates, log
#: service-time ICC for latency gates).
DEFAULT_ICC_GRID: tuple[float, ...] = (0.0, 0.3, 0.6, 0.9)
#: Largest ICC the grid accepts (as ``LatencySpec.case_icc``): at 1 a case would be one draw.
MAX_ICC = 0.99

_SD_CAP = 1e4
_Z_RANGE = 40.0
_T_RANGE = 40.0
_PANEL = 0.25
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)
_INTERCEPT_BRACKET = 200.0


def logistic_normal_moments(intercept: float, sd: float) -> tuple[float, float]:
    """``(E[p], E[p^2])`` of ``p = logistic(intercept + sd * Z)``, ``Z`` standard normal.

    Composite 16-point Gauss-Legendre quadrature against the normal density on ``|z| <= 40``
    (beyond it the density is below 1e-300), on panels no wider than 0.25 on the ``z`` scale and,
    where the logistic is not saturated (``|intercept + sd z| <= 40``), no wider than 0.25 on the
    logit scale: each panel's integrand is smooth on its own width, whatever the SD, so the rule
    is accurate to ~1e-13.
    """
    if sd == 0.0:
        p = float(expit(intercept))
        return p, p * p
    edges = np.arange(-_Z_RANGE, _Z_RANGE + _PANEL / 2, _PANEL)
    t = np.arange(-_T_RANGE, _T_RANGE + _PANEL / 2, _PANEL)
    steep = (t - intercept) / sd
    edges = np.unique(np.concatenate([edges, steep[np.abs(steep) < _Z_RANGE]]))
    lo, hi = edges[:-1], edges[1:]
    half = (hi - lo)[:, None] / 2.0
    z = (lo[:, None] + hi[:, None]) / 2.0 + half * _GL_NODES[None, :]
    w = half * _GL_WEIGHTS[None, :] * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    p = expit(intercept + sd * z)
    return float(np.sum(w * p)), float(np.sum(w * p * p))


def exact_intercept(accuracy: float, sd: float) -> float:
    """The intercept ``b`` with ``E[logistic(b + sd Z)] = accuracy`` (exact quadrature)."""
    _check_accuracy(accuracy)
    logit = math.log(accuracy) - math.log1p(-accuracy)
    if sd == 0.0:
        return logit
    # For a large SD the logistic is nearly a step and b ~ sd * Phi^-1(accuracy): bracket both.
    reach = abs(logit) + sd * (abs(float(norm.ppf(accuracy))) + 1.0) + _T_RANGE
    root = brentq(
        lambda b: logistic_normal_moments(b, sd)[0] - accuracy, -reach, reach, xtol=1e-12, rtol=1e-14
    )
    return float(root)


def correctness_icc(accuracy: float, sd: float) -> float:
    """The binary replay ICC ``Var(p_c) / (p (1 - p))`` at marginal accuracy ``p = accuracy`` and
    case difficulty SD ``sd`` (the intercept solved exactly for that accuracy)."""
    b = exact_intercept(accuracy, sd)
    m1, m2 = logistic_normal_moments(b, sd)
    return max(0.0, (m2 - m1 * m1) / (m1 * (1.0 - m1)))


@dataclass(frozen=True, slots=True)
class Difficulty:
    """A case difficulty that gives ``icc`` at marginal accuracy ``accuracy``.

    ``sd`` is the classifier's ``case_difficulty_sd``, ``intercept`` the logit intercept whose
    exact marginal accuracy is ``accuracy``, ``plan_accuracy`` the per-family accuracy to write in
    the plan so that the simulated arms' calibration (``arms.solve_intercept``) yields that
    intercept; ``achieved`` is the ICC the pair gives (equal to ``icc`` to ~1e-9).
    """

    accuracy: float
    icc: float
    sd: float
    intercept: float
    plan_accuracy: float
    achieved: float


@lru_cache(maxsize=256)
def difficulty_for_icc(accuracy: float, icc: float) -> Difficulty:
    """The case difficulty SD (and intercept) whose binary replay ICC at ``accuracy`` is ``icc``.

    ``accuracy`` in (0, 1), ``icc`` in [0, :data:`MAX_ICC`]. Raises ``ValueError`` outside.
    """
    _check_accuracy(accuracy)
    if not 0.0 <= icc <= MAX_ICC:
        raise ValueError(f"expected an ICC in [0, {MAX_ICC}], found {icc}")
    if icc == 0.0:
        b = exact_intercept(accuracy, 0.0)
        return Difficulty(accuracy, icc, 0.0, b, accuracy, 0.0)
    hi = 1.0
    while correctness_icc(accuracy, hi) < icc:
        hi *= 2.0
        if hi > _SD_CAP:  # pragma: no cover - ICC <= 0.99 is reached far below the cap
            raise ValueError(f"ICC {icc} is out of reach at accuracy {accuracy}")
    sd = float(brentq(lambda s: correctness_icc(accuracy, s) - icc, 0.0, hi, xtol=1e-10, rtol=1e-12))
    b = exact_intercept(accuracy, sd)
    plan_accuracy = marginal_accuracy(b, sd)
    try:
        calibrated = solve_intercept(plan_accuracy, sd)
    except ValueError:
        calibrated = math.nan
    if not abs(calibrated - b) <= 1e-8 * max(1.0, abs(b)):
        raise ValueError(
            f"ICC {icc} at accuracy {accuracy} needs a case difficulty SD of {sd:.4g} and an "
            f"intercept of {b:.4g}, beyond what the simulated arms calibrate"
        )
    return Difficulty(accuracy, icc, sd, b, plan_accuracy, correctness_icc(accuracy, sd))


def _check_accuracy(accuracy: float) -> None:
    if not 0.0 < accuracy < 1.0:
        raise ValueError(f"expected an accuracy strictly between 0 and 1, found {accuracy}")
