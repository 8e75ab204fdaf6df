"""Calibration of the simulated backends: logit intercepts for a marginal accuracy, lognormal fits.

Two closed pieces of arithmetic turn the plan's figures into the parameters the simulation draws
from, and a third says how to set them from a reported accuracy; ``docs/calibration.md`` says
which figures come from the study and which are illustrative.

Accuracy with per-case difficulty
    A case ``c`` of gold family ``f`` is answered correctly with probability
    ``logistic(b_f + u_c)``, where ``u_c ~ N(0, sd^2)`` is the case's difficulty, drawn once. The
    plan's ``accuracy[f]`` is the *marginal* accuracy over the population of cases,
    ``E[logistic(b_f + sd * Z)]`` with ``Z ~ N(0, 1)``; :func:`solve_intercepts` finds the
    ``b_f`` that makes it so. The expectation is computed with a fixed 64-node Gauss-Hermite rule
    (exact to ~1e-12 for these smooth integrands) and each root with Brent's method. A finite corpus
    realises its own ``u_c``, so its accuracy scatters around the marginal one: that scatter is the
    case-sampling variance a 60-case study really has.

Service time from a median and a P95
    Lognormal, ``mu = ln(median)``, ``sigma = (ln(p95) - ln(median)) / z_0.95`` with
    ``z_0.95 = norm.isf(0.05) = 1.6449``: the median and the 95th percentile are reproduced
    exactly. Its mean is ``median * exp(sigma^2 / 2)`` (:func:`mean_service_ms`), which is what
    loads a server (:func:`utilisation`). The plan's median and P95 are *service* times; observed
    latency adds the queue wait and the network round trip (``docs/calibration.md``). They are
    *marginal* figures: the behaviours split ``sigma`` into a per-case part and a per-request part
    (``latency.case_icc``, :mod:`arms._behaviour`) without changing the marginal lognormal, so this
    fit, the mean and the utilisation hold whatever the ICC.

A reported accuracy and the failures
    ``accuracy[f]`` is per answered request; HTTP errors and unparseable answers are drawn before
    it, and a study's accuracy counts them as wrong (Study 2's 238/300). To reproduce a reported
    figure ``A``, set the answered accuracy to ``A / P(no failure)``: the starter plan does, and
    ``experiment.design.scenarios.true_accuracy`` computes the resulting marginal.

Which figures come from the study (``shared/STUDY.md``, Study 2): Qwen-2.5-3B accuracy 0.793 and
median 988 ms; DeepSeek-V3 accuracy 0.830 and P95 about 2,295 ms; Phi-4-mini "below Qwen-2.5-3B";
the gates (0.85, 2,000 ms). Illustrative (chosen for the starter plan, to be replaced by your own
measurements): Phi-4-mini's figures, per-family accuracies and confusion rows, the case difficulty
SD 1.5, the latency case ICC 0.5, the P95s and medians the study does not give, concurrency, round
trips, failure rates and downstream qualities.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit
from scipy.stats import norm

__all__ = [
    "Z_95",
    "fit_lognormal",
    "marginal_accuracy",
    "mean_service_ms",
    "solve_intercept",
    "solve_intercepts",
    "utilisation",
]

#: One-sided standard normal quantile of the 95th percentile, ``norm.isf(0.05)``.
Z_95: float = float(norm.isf(0.05))

_NODES, _WEIGHTS = np.polynomial.hermite.hermgauss(64)
# E[g(Z)] for Z ~ N(0, 1) is sum(w_k g(sqrt(2) x_k)) / sqrt(pi): fold the constants in once.
_Z_NODES = np.sqrt(2.0) * _NODES
_Z_WEIGHTS = _WEIGHTS / math.sqrt(math.pi)
_BRACKET = 60.0


def marginal_accuracy(intercept: float, difficulty_sd: float) -> float:
    """``E[logistic(intercept + difficulty_sd * Z)]`` for a standard normal ``Z``."""
    return float(np.dot(_Z_WEIGHTS, expit(intercept + difficulty_sd * _Z_NODES)))


def solve_intercept(accuracy: float, difficulty_sd: float) -> float:
    """The logit intercept whose marginal accuracy under ``N(0, difficulty_sd^2)`` is ``accuracy``.

    Returns ``-inf`` for accuracy 0 and ``+inf`` for accuracy 1 (every case always wrong / right).
    """
    if accuracy <= 0.0:
        return -math.inf
    if accuracy >= 1.0:
        return math.inf
    if difficulty_sd == 0.0:
        return math.log(accuracy) - math.log1p(-accuracy)
    root = brentq(lambda b: marginal_accuracy(b, difficulty_sd) - accuracy, -_BRACKET, _BRACKET, xtol=1e-12)
    return float(root)


def solve_intercepts(accuracy: Mapping[str, float], difficulty_sd: float) -> dict[str, float]:
    """:func:`solve_intercept` for every family of a per-family accuracy table."""
    return {family: solve_intercept(a, difficulty_sd) for family, a in accuracy.items()}


def fit_lognormal(median_ms: float, p95_ms: float) -> tuple[float, float]:
    """``(mu, sigma)`` of the lognormal whose median and 95th percentile are the given ones."""
    mu = math.log(median_ms)
    return mu, (math.log(p95_ms) - mu) / Z_95


def mean_service_ms(median_ms: float, p95_ms: float) -> float:
    """The mean of the fitted lognormal service time, ``median * exp(sigma^2 / 2)``."""
    _, sigma = fit_lognormal(median_ms, p95_ms)
    return median_ms * math.exp(sigma * sigma / 2.0)


def utilisation(rate_per_s: float, median_ms: float, p95_ms: float, concurrency: int) -> float:
    """Offered load per server slot, ``rate * E[service] / concurrency``.

    Well below 1 the observed latency is close to the service time (plus the network round trip);
    near 1 queueing dominates, and above 1 the queue grows without bound for the whole campaign.
    """
    return rate_per_s * mean_service_ms(median_ms, p95_ms) / 1000.0 / concurrency
