"""The quantile of a timing with the plan's latency interval: the one rule every latency uses.

The P95 gates, the per-arm latency estimates and the streaming timings all take a quantile this
way, so an interval means the same thing wherever the report shows one.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from analysis._clustered_quantile import estimate_clustered_quantile
from analysis._quantiles import estimate_quantile
from analysis._results import QuantileResult
from prereg.schema import AnalysisSpec

__all__ = ["plan_quantile"]


def plan_quantile(
    spec: AnalysisSpec, values: NDArray[np.float64], cases: NDArray[np.intp], q: float
) -> QuantileResult:
    """The ``q`` quantile of ``values`` with the plan's latency interval (as the P95 gates).

    Parameters
    ----------
    spec : AnalysisSpec
        The plan's analysis section (``latency_interval``, ``alpha``, ``ci_method``, ``min_cases``).
    values : ndarray of float64
        Request-level timings in ms (NaN already removed).
    cases : ndarray of intp
        Case code of each value (the cluster when the interval is clustered).
    q : float
        Quantile in (0, 1).

    Returns
    -------
    QuantileResult
        Unit ``case`` (clustered: Binomial bounds on the clustered CDF proportion, see
        :func:`analysis._clustered_quantile.estimate_clustered_quantile`) or ``request``
        (order-statistic interval, :func:`analysis._quantiles.estimate_quantile`).
    """
    level = 1.0 - spec.alpha
    if spec.latency_interval == "clustered":
        return estimate_clustered_quantile(values, cases, q, level, spec.ci_method, spec.min_cases)
    return estimate_quantile(values, q, level)
