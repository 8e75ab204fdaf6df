"""The case bootstrap's weights: how often each case appears in each resample.

Replays of a case are resampled together (the cluster bootstrap), so a resample is a vector of
case counts; every bootstrap of the analysis draws its weights here, in the analysis' fixed call
order, so the results are deterministic for a plan and its seed.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "MIN_TAIL",
    "CaseResampler",
    "bootstrap_case_weights",
    "stratified_case_weights",
    "too_few_resamples",
]

#: Fewest bootstrap replicates beyond a percentile bound for the bound to be read off them.
MIN_TAIL = 5


def bootstrap_case_weights(
    rng: np.random.Generator, k: int, resamples: int, draws: int | None = None
) -> NDArray[np.float64]:
    """How often each of ``k`` cases appears in each resample: a ``resamples x k`` matrix.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the draws.
    k : int
        Number of cases (the resampled unit).
    resamples : int
        Number of resamples.
    draws : int, optional
        Cases drawn per resample (default ``k``; :func:`stratified_case_weights` draws ``k - 1``).

    Returns
    -------
    ndarray of float64
        ``resamples x k`` counts; every row sums to ``draws``.

    Notes
    -----
    Drawing ``rng.integers`` indices and counting them with one ``np.bincount`` over offset codes
    gives the same resamples as indexing, without a Python loop. Resampling whole cases keeps the
    replays of a case together (the cluster bootstrap).

    References
    ----------
    .. [1] Field, C. A., Welsh, A. H. (2007). Bootstrapping clustered data. JRSS B 69(3), 369-390.
       doi:10.1111/j.1467-9868.2007.00593.x
    """
    idx = rng.integers(0, k, size=(resamples, k if draws is None else draws), dtype=np.int64)
    idx += np.arange(resamples, dtype=np.int64)[:, None] * k
    return np.bincount(idx.ravel(), minlength=resamples * k).reshape(resamples, k).astype(np.float64)


class CaseResampler:
    """Case-bootstrap weight matrices from one generator, drawn once per number of cases.

    Outcomes of one arm (or one pair of arms) over the same cases share their resamples, which
    keeps the analysis fast and deterministic: draws happen in the analysis' fixed call order.
    """

    def __init__(self, rng: np.random.Generator, resamples: int) -> None:
        self.rng = rng
        self.resamples = resamples
        self._cache: dict[int, NDArray[np.float64]] = {}

    def __call__(self, k: int) -> NDArray[np.float64]:
        """The ``resamples x k`` weight matrix for ``k`` cases."""
        if k not in self._cache:
            self._cache[k] = bootstrap_case_weights(self.rng, k, self.resamples)
        return self._cache[k]


def too_few_resamples(level: float, resamples: int) -> str | None:
    """Why ``resamples`` replicates cannot give a one-sided percentile bound at ``level`` (fewer
    than :data:`MIN_TAIL` of them lie beyond it), or None when they can.

    A group-sequential plan's first looks ask for levels like 0.9999: a percentile there would
    be the most extreme replicate, a bound tighter than the data support. The default plans
    (0.95 with at least 100 resamples) always have enough.
    """
    needed = int(np.ceil(MIN_TAIL / (1.0 - level))) if level < 1.0 else None
    if needed is not None and resamples >= needed:
        return None
    return (
        f"a percentile bound at level {level:.6g} needs at least {needed or 'infinitely many'} "
        f"bootstrap resamples (analysis.bootstrap.resamples is {resamples})"
    )


def stratified_case_weights(
    rng: np.random.Generator, strata: NDArray[np.intp], resamples: int
) -> NDArray[np.float64]:
    """Case weights of a stratified bootstrap, rescaled: a ``resamples x k`` matrix.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the draws (one stratum after another, in increasing stratum code).
    strata : ndarray of intp
        Stratum code of each of the ``k`` cases (the task family); the case is the resampled unit.
    resamples : int
        Number of resamples.

    Returns
    -------
    ndarray of float64
        ``resamples x k`` weights; within a stratum of :math:`n_h \\ge 2` cases they sum to
        :math:`n_h` in every row. A stratum of one case keeps weight 1 (it cannot vary).

    Notes
    -----
    Within each stratum :math:`n_h - 1` cases are drawn with replacement and their counts scaled
    by :math:`n_h / (n_h - 1)`: the rescaling bootstrap with :math:`m_h = n_h - 1`, whose variance
    of a stratified mean :math:`\\sum_h W_h \\bar y_h` is exactly the unbiased
    :math:`\\sum_h W_h^2 s_h^2 / n_h` (drawing :math:`n_h` would give
    :math:`(n_h - 1)/n_h` of it, too narrow with a few cases per family). Strata are resampled
    independently, so the family sizes stay fixed, as post-stratification conditions on them.

    References
    ----------
    .. [1] Rao, J. N. K., Wu, C. F. J. (1988). Resampling inference with complex survey data.
       JASA 83(401), 231-241. doi:10.1080/01621459.1988.10478591
    .. [2] McCarthy, P. J., Snowden, C. B. (1985). The bootstrap and finite population sampling.
       Vital and Health Statistics, series 2, no. 95. National Center for Health Statistics.
    """
    out = np.ones((resamples, strata.size), dtype=np.float64)
    for h in np.unique(strata):
        cols = np.flatnonzero(strata == h)
        n = int(cols.size)
        if n >= 2:
            out[:, cols] = bootstrap_case_weights(rng, n, resamples, n - 1) * (n / (n - 1.0))
    return out
