"""The gate ``downstream_quality_vs_control``: a router arm's downstream answer quality minus the
control arm's, paired by case, with one-sided bounds for a non-inferiority decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from analysis._case_bootstrap import CaseResampler
from analysis._comparisons import case_aggregate
from analysis._reference import estimate_quality_difference
from analysis._results import Interval

__all__ = ["METHOD", "QualityBounds", "quality_vs_control_bounds"]

#: The method recorded in the gate's bounds.
METHOD = "paired_case_bootstrap_percentile"


@dataclass(frozen=True)
class QualityBounds:
    """The gate's estimate and its one-sided bounds at one level (no ends, with ``note``, when absent)."""

    n_cases: int
    estimate: float | None
    lower: Interval
    upper: Interval
    note: str | None


def quality_vs_control_bounds(
    router: tuple[NDArray[np.float64], NDArray[np.intp]],
    control: tuple[NDArray[np.float64], NDArray[np.intp]] | None,
    k: int,
    level: float,
    resampler: CaseResampler,
    min_cases: int,
) -> QualityBounds:
    """Downstream quality of the router minus the control's, paired by case, with one-sided bounds.

    Parameters
    ----------
    router, control : tuple of ndarray
        Each arm's request-level downstream quality (0/1, NaN: not graded or excluded) and the
        case code ``0..k-1`` of each request; ``control`` None when the plan's control arm has
        no data.
    k : int
        Number of cases in the trial table.
    level : float
        Level of each one-sided bound (the gate rule's ``level``).
    resampler : CaseResampler
        Source of the case resamples (the gate's own stream, so no other figure's draws move).
    min_cases : int
        Fewest common cases for a bound (the plan's ``analysis.min_cases``).

    Returns
    -------
    QualityBounds
        Unit ``case``. The estimate is :math:`\\bar D`, the mean over the :math:`k_c` cases both
        arms observed of :math:`D_i = \\bar y_{ri} - \\bar y_{ci}` (each arm's mean quality on
        case :math:`i`); the lower (upper) bound is the :math:`1 - \\text{level}`
        (:math:`\\text{level}`) quantile of its bootstrap replicates. No bounds, with a note, when
        the control has no data, below ``min_cases`` common cases, or when every case has the
        same difference (the data carry no variance; a zero-width bound would be an artefact).

    Notes
    -----
    The case is the unit: every arm sees every case, and the replays of a case share its
    difficulty (and so are correlated, within and across arms), so whole cases are resampled and
    both arms are evaluated on the same draw, keeping the pairing. This is
    :func:`analysis.estimate_quality_difference` (the reference comparisons' paired case
    bootstrap of downstream quality) at the two-sided level :math:`2\\,\\text{level} - 1`, whose
    ends are the one-sided percentile bounds at ``level``
    (Davison and Hinkley 1997, section 3.8, the bootstrap of clustered data resampling the
    top-level units; the percentile method, Efron and Tibshirani 1993, chapter 13). Calibration
    by simulation through :func:`analysis.analyze` (tests/test_analysis_quality_vs_control_calibration.py,
    60 cases x 5 replays, margin 0.05, one-sided 95%): type I error at the margin 0.048 without a
    case effect and 0.049 with case difficulty shared by both arms (replay ICC 0.3), a bound
    exactly at the threshold counting as no PASS (the analysis' tie rule).

    References
    ----------
    .. [1] Davison, A. C., Hinkley, D. V. (1997). Bootstrap Methods and their Application,
       section 3.8. Cambridge University Press. doi:10.1017/CBO9780511802843
    .. [2] Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap, chapter 13.
       doi:10.1007/978-1-4899-4541-9
    .. [3] Field, C. A., Welsh, A. H. (2007). Bootstrapping clustered data. JRSS B 69(3),
       369-390. doi:10.1111/j.1467-9868.2007.00593.x
    """
    if control is None:
        note = "the control arm has no downstream quality data"
        return QualityBounds(
            0, None, _side(None, level, "lower", note), _side(None, level, "upper", note), note
        )
    a = case_aggregate(router[0], router[1], k)
    b = case_aggregate(control[0], control[1], k)
    # the two-sided interval at 2 level - 1 has the one-sided bounds at level as its ends
    n, _, est, iv = estimate_quality_difference(a, b, 2.0 * level - 1.0, resampler, min_cases)
    if n == 0:
        note = "no case has downstream quality in both the router and the control arm"
        return QualityBounds(
            0, None, _side(None, level, "lower", note), _side(None, level, "upper", note), note
        )
    return QualityBounds(
        n, est, _side(iv.lower, level, "lower", iv.note), _side(iv.upper, level, "upper", iv.note), iv.note
    )


def _side(end: float | None, level: float, side: Literal["lower", "upper"], note: str | None) -> Interval:
    if side == "lower":
        return Interval(end, None, level, METHOD, "lower", note)
    return Interval(None, end, level, METHOD, "upper", note)
