"""Sample-ratio mismatch and balance of task families across arms."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from analysis._results import BalanceResult, SrmResult

__all__ = ["SRM_THRESHOLD", "check_balance", "check_srm"]

#: p-value below which allocation counts are flagged as a sample-ratio mismatch.
SRM_THRESHOLD = 0.0005


def check_srm(what: str, observed: dict[str, int], ratio: dict[str, int]) -> SrmResult:
    """Chi-square goodness of fit of per-arm counts against the planned allocation ratio.

    Parameters
    ----------
    what : {"allocated", "sent"}
        Which counts these are.
    observed : dict
        Arm id -> count of requests (unit of analysis: the request, the randomized unit), for every
        arm of the plan.
    ratio : dict
        Arm id -> planned weight.

    Returns
    -------
    SrmResult
        ``mismatch`` is true when ``p < SRM_THRESHOLD``.

    Notes
    -----
    :math:`\\chi^2 = \\sum_a (O_a - E_a)^2/E_a` with :math:`E_a = N r_a/\\sum r`, on
    :math:`A-1` degrees of freedom; the p-value is ``chi2.sf`` (never ``1 - cdf``).

    References
    ----------
    .. [1] Kohavi, R., Tang, D., Xu, Y. (2020). Trustworthy Online Controlled Experiments,
       chapter 21. Cambridge University Press. doi:10.1017/9781108653985
    .. [2] Fabijan, A. et al. (2019). Diagnosing sample ratio mismatch in online controlled
       experiments. KDD '19. doi:10.1145/3292500.3330722
    """
    arms = sorted(observed)
    total = sum(observed.values())
    wsum = sum(ratio[a] for a in arms)
    expected = {a: total * ratio[a] / wsum for a in arms}
    df = len(arms) - 1
    if total == 0 or df == 0:
        return SrmResult(what, dict(observed), expected, None, df, None, SRM_THRESHOLD, False)  # type: ignore[arg-type]
    chi2 = float(sum((observed[a] - expected[a]) ** 2 / expected[a] for a in arms if expected[a] > 0))
    p = float(stats.chi2.sf(chi2, df))
    return SrmResult(what, dict(observed), expected, chi2, df, p, SRM_THRESHOLD, p < SRM_THRESHOLD)  # type: ignore[arg-type]


def check_balance(
    families: tuple[str, ...], arms: tuple[str, ...], counts: NDArray[np.int64]
) -> BalanceResult:
    """Family x arm counts and the chi-square test of independence (no continuity correction).

    Parameters
    ----------
    families : tuple of str
        Row names (task families).
    arms : tuple of str
        Column names (arm ids).
    counts : ndarray of int64
        Sent requests per family and arm (unit of analysis: the request).

    Returns
    -------
    BalanceResult
        ``chi2`` and ``p_value`` are None when the table has no data or one row or column.

    Notes
    -----
    :math:`E_{fa} = R_f C_a / N`, :math:`\\chi^2 = \\sum (O-E)^2/E` over cells with
    :math:`E > 0`, on :math:`(F'-1)(A'-1)` degrees of freedom for the non-empty rows and columns;
    the p-value is ``chi2.sf``.

    References
    ----------
    .. [1] Kohavi, R., Tang, D., Xu, Y. (2020). doi:10.1017/9781108653985
    """
    c = np.asarray(counts, dtype=np.float64)
    rows, cols = c.sum(axis=1), c.sum(axis=0)
    n = c.sum()
    table = tuple(tuple(int(v) for v in row) for row in counts)
    df = (int((rows > 0).sum()) - 1) * (int((cols > 0).sum()) - 1)
    if n == 0 or df <= 0:
        return BalanceResult("request", families, arms, table, None, max(df, 0), None)
    expected = np.outer(rows, cols) / n
    mask = expected > 0
    chi2 = float((((c - expected) ** 2)[mask] / expected[mask]).sum())
    return BalanceResult("request", families, arms, table, chi2, df, float(stats.chi2.sf(chi2, df)))
