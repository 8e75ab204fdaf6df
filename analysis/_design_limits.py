"""What a design can show before any data exist: the fewest correct answers that pass an
accuracy gate, and the smallest sample at which a quantile can be bounded from above at all."""

from __future__ import annotations

import math

import numpy as np

from analysis._proportions import CI_METHODS, proportion_bounds
from prereg.errors import InputError

__all__ = ["fewest_correct_to_pass", "min_n_for_quantile_upper_bound"]


def fewest_correct_to_pass(n: int, threshold: float, level: float, method: str = "wilson") -> int | None:
    """The fewest correct answers out of ``n`` whose one-sided lower bound clears ``threshold``.

    Parameters
    ----------
    n : int
        Number of independent units (unique cases by default), at least 1.
    threshold : float
        The gate, e.g. 0.85 for ``accuracy >= 0.85``.
    level : float
        One-sided confidence level of the lower bound, e.g. 0.95.
    method : {"wilson", "clopper_pearson", "jeffreys", "agresti_coull"}
        Interval method of the plan.

    Returns
    -------
    int or None
        The smallest ``x`` in ``0..n`` with ``lower(x, n) >= threshold``; None when even ``x = n``
        does not pass (the design cannot pass the gate at this ``n``).

    Notes
    -----
    The one-sided lower bound at level :math:`L` is the lower end of the two-sided interval at
    level :math:`2L-1`; it increases with ``x``, so the first passing ``x`` is the answer.
    At ``n = 60``, 0.85 and a one-sided 95% Wilson bound this is 56 (56/60 gives 0.8595).

    References
    ----------
    .. [1] Wilson, E. B. (1927). doi:10.1080/01621459.1927.10502953
    .. [2] Brown, L. D., Cai, T. T., DasGupta, A. (2001). doi:10.1214/ss/1009213286

    Examples
    --------
    >>> fewest_correct_to_pass(60, 0.85, 0.95)
    56
    """
    if n < 1:
        raise InputError(f"expected at least 1 unit, found {n}", field="n")
    if method not in CI_METHODS:
        raise InputError(f"expected an interval method in {list(CI_METHODS)}, found {method!r}", field="method")
    xs = np.arange(n + 1, dtype=np.float64)
    lower, _ = proportion_bounds(xs, float(n), level, method, side="lower")
    passing = np.flatnonzero(lower >= threshold)
    return int(passing[0]) if passing.size else None


def min_n_for_quantile_upper_bound(q: float, level: float) -> int:
    """The smallest sample size at which a distribution-free upper bound for the q-quantile exists.

    Parameters
    ----------
    q : float
        Quantile in (0, 1), e.g. 0.95 for P95 (unit of analysis: the request, one latency each).
    level : float
        One-sided confidence level in (0, 1), e.g. 0.95.

    Returns
    -------
    int
        Smallest ``n`` with :math:`1 - q^n \\ge` ``level`` (59 for q = level = 0.95).

    Notes
    -----
    The largest order statistic :math:`X_{(n)}` exceeds the q-quantile with probability
    :math:`1 - q^n` for any continuous distribution; no order statistic does better, so below this
    ``n`` no finite distribution-free upper bound exists at ``level``.

    References
    ----------
    .. [1] Hahn, G. J., Meeker, W. Q. (1991). Statistical Intervals: A Guide for Practitioners.
       Wiley, section 5.3. doi:10.1002/9780470316771

    Examples
    --------
    >>> min_n_for_quantile_upper_bound(0.95, 0.95)
    59
    """
    if not 0.0 < q < 1.0:
        raise InputError(f"expected a quantile in (0, 1), found {q}", field="q")
    if not 0.0 < level < 1.0:
        raise InputError(f"expected a confidence level in (0, 1), found {level}", field="level")
    n = max(1, math.ceil(math.log1p(-level) / math.log(q)))
    # Guard the float ceiling against rounding on either side.
    while n > 1 and 1.0 - q ** (n - 1) >= level:
        n -= 1
    while 1.0 - q**n < level:
        n += 1
    return n
