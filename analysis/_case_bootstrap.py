"""The case bootstrap's weights: how often each case appears in each resample.

Replays of a case are resampled together (the cluster bootstrap), so a resample is a vector of
case counts; every bootstrap of the analysis draws its weights here, in the analysis' fixed call
order, so the results are deterministic for a plan and its seed.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["CaseResampler", "bootstrap_case_weights"]


def bootstrap_case_weights(rng: np.random.Generator, k: int, resamples: int) -> NDArray[np.float64]:
    """How often each of ``k`` cases appears in each resample: a ``resamples x k`` matrix.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the draws.
    k : int
        Number of cases (the resampled unit).
    resamples : int
        Number of resamples.

    Returns
    -------
    ndarray of float64
        ``resamples x k`` counts; every row sums to ``k``.

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
    idx = rng.integers(0, k, size=(resamples, k), dtype=np.int64)
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
