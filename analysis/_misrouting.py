"""The expected misrouting cost per 1,000 requests: each wrong decision weighed by its pre-registered
gold -> predicted cost (``analysis.misrouting_cost``), with case-bootstrap bounds, and its gate.

With every cost 1 (the defaults) the estimate is ``1000 * (1 - routing accuracy)`` on the same
unit, so the gate generalises an accuracy gate to errors that do not all cost the same.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analysis._arm import ArmData, Codes
from analysis._case_bootstrap import CaseResampler
from analysis._clustered_quantile import too_few_cases
from analysis._comparisons import case_aggregate
from analysis._gates import decide_gate
from analysis._planned_comparisons import RngFor
from analysis._results import GateVerdict, Interval, MeanResult, Unit
from analysis._table import TrialTable, factorize
from prereg.schema import AnalysisSpec, GateSpec, MisroutingCostSpec, Plan

__all__ = [
    "METHOD",
    "METRIC",
    "MisroutingBounds",
    "attach_misrouting",
    "estimate_misrouting_cost",
    "misrouting_costs",
    "misrouting_gate_verdict",
    "misrouting_result",
    "plan_costs",
]

#: The gate metric.
METRIC = "misrouting_cost_per_1k"
#: The method of the bounds and the interval (the studentized case bootstrap, bootstrap-t).
METHOD = "case_bootstrap_studentized"
#: Distance from the threshold within which a bound counts as equal to it.
_TIE = 1e-9
_SCALE = 1000.0
_UNLABELLED = (
    "a wrong decision has no predicted label (a router service names a model), so its pair's cost "
    "is unknown; only the default cost applies to such arms, and this plan lists pairs"
)


def plan_costs(plan: Plan) -> MisroutingCostSpec | None:
    """The plan's misrouting costs: its ``analysis.misrouting_cost``, the defaults (every error 1)
    when only a ``misrouting_cost_per_1k`` gate asks for them, None when nothing does."""
    if plan.analysis.misrouting_cost is not None:
        return plan.analysis.misrouting_cost
    return MisroutingCostSpec() if any(g.metric == METRIC for g in plan.gates) else None


def misrouting_costs(
    gold_labels: NDArray[np.str_],
    predicted: NDArray[np.intp],
    labels: tuple[str, ...],
    correct: NDArray[np.float64],
    routing_ok: NDArray[np.bool_],
    costs: MisroutingCostSpec,
) -> NDArray[np.float64]:
    """The misrouting cost of each analysed request.

    Parameters
    ----------
    gold_labels : ndarray of str
        Each request's acceptable labels, ``'|'``-joined (the trial table's ``gold_labels``).
    predicted : ndarray of intp
        Each request's predicted label as an index into ``labels`` (-1: no label).
    labels : tuple of str
        The label names the codes index.
    correct : ndarray of float64
        1.0 when the decision is correct, 0.0 when it is wrong or failed and counted wrong.
    routing_ok : ndarray of bool
        Whether the routing decision succeeded (False: failed, counted wrong).
    costs : MisroutingCostSpec
        The plan's pre-registered costs.

    Returns
    -------
    ndarray of float64
        Unit: the request. 0 for a correct decision; for a wrong one with predicted label
        :math:`p` and gold labels :math:`G`, :math:`\\min_{g \\in G} c(g, p)`, with
        :math:`c(g, p)` the listed pair's cost or ``default``; ``failed`` (or ``default``) for a
        failed decision; NaN for a wrong decision without a label (a router service) when the
        plan lists pairs (its cost is unknown), ``default`` when it lists none.

    Notes
    -----
    The multi-label rule ``any_of`` calls a prediction correct when it is any of the case's gold
    labels: each gold label is an acceptable reading of the request. A wrong prediction is then
    judged against the reading it comes closest to serving, the least costly gold label, just as a
    correct one is judged against the label it hit; the maximum or the mean would charge a
    request for readings the plan itself calls acceptable alternatives. The costs are weights
    fixed in advance (a loss matrix, Elkan 2001); the estimate is a mean of per-request losses.

    References
    ----------
    .. [1] Elkan, C. (2001). The foundations of cost-sensitive learning. Proceedings of IJCAI 2001,
       973-978. https://www.ijcai.org/Proceedings/01/IJCAI-2001-e.pdf
    """
    sets, gold_codes = factorize(gold_labels)
    pair = {(p.gold, p.predicted): p.cost for p in costs.pairs}
    # one row per distinct gold label set, one column per label: cost of predicting it
    table = np.array(
        [
            [
                0.0 if lab in s.split("|") else min(pair.get((g, lab), costs.default) for g in s.split("|"))
                for lab in labels
            ]
            for s in sets
        ],
        dtype=np.float64,
    ).reshape(len(sets), len(labels))
    labelled = predicted >= 0
    out = np.full(predicted.size, costs.default if costs.failed is None else costs.failed)
    out[labelled] = table[gold_codes[labelled], predicted[labelled]]
    unlabelled = ~labelled & routing_ok
    out[unlabelled] = np.nan if costs.pairs else costs.default
    out[correct == 1.0] = 0.0
    return out


def attach_misrouting(plan: Plan, table: TrialTable, codes: Codes, data: ArmData) -> ArmData:
    """Arm ``data`` with the misrouting cost of each request of its accuracy analysis (the rows of
    ``data.y``), when the plan states costs or gates on them; ``data`` itself otherwise."""
    costs = plan_costs(plan)
    if costs is None or not data.router or data.y_rows is None:
        return data
    r = data.y_rows
    ok = codes.routing_status[r] == (
        codes.routing_statuses.index("ok") if "ok" in codes.routing_statuses else -2
    )
    c = misrouting_costs(table.gold_labels[r], codes.predicted[r], codes.labels, data.y, ok, costs)
    return dataclasses.replace(data, misrouting=c)


@dataclass(frozen=True)
class MisroutingBounds:
    """The estimate with one-sided bounds (``lower``, ``upper``) at one level and, for the results,
    the two-sided interval at the level of their pair; no ends, with ``note``, when absent."""

    unit: Unit
    n: int
    n_cases: int
    estimate: float | None
    lower: Interval
    upper: Interval
    note: str | None


def estimate_misrouting_cost(
    costs: NDArray[np.float64],
    cases: NDArray[np.intp],
    k: int,
    unit: Unit,
    level: float,
    resampler: CaseResampler,
    min_cases: int,
) -> MisroutingBounds:
    """The expected misrouting cost per 1,000 requests with one-sided studentized case-bootstrap bounds.

    Parameters
    ----------
    costs : ndarray of float64
        Request-level misrouting costs (:func:`misrouting_costs`; NaN: unknown).
    cases : ndarray of intp
        Case code ``0..k-1`` of each request.
    k : int
        Number of cases in the trial table.
    unit : {"case", "request"}
        Unit of analysis (``analysis.unit``).
    level : float
        Level of each one-sided bound; the pair is the two-sided interval at ``2 level - 1``.
    resampler : CaseResampler
        Source of the case resamples (the figure's own stream).
    min_cases : int
        Fewest cases for a bound (``analysis.min_cases``).

    Returns
    -------
    MisroutingBounds
        Unit ``case``: :math:`\\hat\\theta = 1000\\,k_o^{-1}\\sum_i \\bar c_i`, the mean over the
        :math:`k_o` observed cases of each case's mean cost, with
        :math:`\\widehat{se} = s_{\\bar c}/\\sqrt{k_o}`. Unit ``request``:
        :math:`\\hat\\theta = 1000\\,S/N` pooled (:math:`S_i, n_i` each case's sum and count), with
        the linearised :math:`\\widehat{se} = 1000\\sqrt{k_o/(k_o-1)\\sum_i (S_i - \\hat r n_i)^2}/N`.
        Each case resample :math:`b` gives :math:`\\hat\\theta_b` and :math:`\\widehat{se}_b` the
        same way and :math:`t_b = (\\hat\\theta_b - \\hat\\theta)/\\widehat{se}_b`; the upper bound is
        :math:`\\hat\\theta - t_{(1-\\text{level})}\\widehat{se}` and the lower
        :math:`\\hat\\theta - t_{(\\text{level})}\\widehat{se}` (:math:`t_{(q)}` the q-quantile of
        the :math:`t_b`), the lower one clipped at 0. No bounds, with a note, when a cost is unknown, below ``min_cases``
        cases, or when every case has the same mean cost (e.g. no error at all: a zero-width bound
        would be an artefact).

    Notes
    -----
    The case is the resampled unit: replays of a case share its difficulty, so their costs are
    correlated, and whole cases are drawn with replacement (the cluster bootstrap, Davison and
    Hinkley 1997, section 3.8). Costs are skewed (mostly 0, a few large) and their spread grows
    with their mean, so a dataset with few errors also shows a small spread; a percentile bound
    then sits too low exactly when the estimate is low. The studentized (bootstrap-t) bound
    divides each replicate by its own standard error, which carries that mean-spread relation into
    the bound (second-order accurate for a smooth function of means; Hall 1988, Efron and
    Tibshirani 1993 chapter 12). Calibration by simulation through :func:`analysis.analyze`
    (tests/test_analysis_misrouting_calibration.py, 60 cases x 5 replays, 15% errors, one-sided
    95%, 1,000 datasets per world): type I error at the boundary 0.050 and 0.049 with pair costs
    from 0.5 to 3 (replay ICC 0; ICC 0.6 with each case always misrouted to the same label), 0.049
    and 0.036 with unit costs; the two-sided 95% interval covered the truth 0.957, 0.965, 0.950
    and 0.972 of the time. The percentile bound at the expanded level of
    :func:`analysis._control_gate.expanded_level` (Hesterberg 2015), on the same datasets, had
    type I error 0.067, 0.085, 0.048 and 0.075: too liberal, hence the studentized bound.
    Resamples whose cases all have one mean cost have no standard error and are left out.

    References
    ----------
    .. [1] Davison, A. C., Hinkley, D. V. (1997). Bootstrap Methods and their Application,
       sections 3.8 and 5.2. Cambridge University Press. doi:10.1017/CBO9780511802843
    .. [2] Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap, chapter 12.
       doi:10.1007/978-1-4899-4541-9
    .. [3] Hall, P. (1988). Theoretical comparison of bootstrap confidence intervals. The Annals
       of Statistics 16(3), 927-953. doi:10.1214/aos/1176350933
    .. [4] Hesterberg, T. C. (2015). What teachers should know about the bootstrap. The American
       Statistician 69(4), 371-386. doi:10.1080/00031305.2015.1089789
    """
    n = int(costs.size)
    sums, counts = case_aggregate(np.nan_to_num(costs, nan=0.0), cases, k)
    present = counts > 0
    s, c = sums[present], counts[present]
    k_o = int(present.sum())

    def absent(estimate: float | None, note: str) -> MisroutingBounds:
        lo = Interval(None, None, level, METHOD, "lower", note)
        hi = Interval(None, None, level, METHOD, "upper", note)
        return MisroutingBounds(unit, n, k_o, estimate, lo, hi, note)

    if k_o == 0:
        return absent(None, "no analysed routing decisions")
    if bool(np.isnan(costs).any()):
        return absent(None, _UNLABELLED)
    est, se = _mean_and_se(s, c, None, unit)
    if k_o < min_cases:
        return absent(float(est[0]), too_few_cases(k_o, min_cases))
    if not float(se[0]) > 0.0:
        return absent(
            float(est[0]), "every case has the same mean cost, so the data carry no variance for a bound"
        )
    boot, se_b = _mean_and_se(s, c, resampler(k_o), unit)
    ok = se_b > 0.0
    t = (boot[ok] - est[0]) / se_b[ok]
    t_lo, t_hi = np.quantile(t, [1.0 - level, level])
    return MisroutingBounds(
        unit,
        n,
        k_o,
        float(est[0]),
        # a cost is never below 0: the lower bound is clipped there (no decision moves, thresholds >= 0)
        Interval(max(float(est[0] - t_hi * se[0]), 0.0), None, level, METHOD, "lower"),
        Interval(None, float(est[0] - t_lo * se[0]), level, METHOD, "upper"),
        None,
    )


def _mean_and_se(
    s: NDArray[np.float64], c: NDArray[np.float64], w: NDArray[np.float64] | None, unit: Unit
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The cost per 1,000 requests and its standard error, of the data (``w`` None: one row) or
    of each case resample (the rows of ``w``), on the unit of analysis."""
    k = s.size
    w = np.ones((1, k)) if w is None else w
    if unit == "case":
        m = s / c
        mean = (w @ m) / k
        var = np.maximum((w @ (m * m)) / k - mean * mean, 0.0) * k / (k - 1.0)
        return _SCALE * mean, _SCALE * np.sqrt(var / k)
    total = w @ c
    r = (w @ s) / total
    # the ratio's linearisation: residuals S_i - r n_i, summed in squares under the weights
    sq = w @ (s * s) - 2.0 * r * (w @ (s * c)) + r * r * (w @ (c * c))
    return _SCALE * r, _SCALE * np.sqrt(np.maximum(sq, 0.0) * k / (k - 1.0)) / total


def _bounds(data: ArmData, k: int, spec: AnalysisSpec, level: float, rng_for_arm: RngFor) -> MisroutingBounds:
    costs = data.misrouting if data.misrouting is not None else np.zeros(0)
    cases = data.y_cases if data.misrouting is not None else np.zeros(0, dtype=np.intp)
    # its own stream: adding the figure or the gate moves no other figure's draws
    resampler = CaseResampler(rng_for_arm("misrouting"), spec.bootstrap.resamples)
    return estimate_misrouting_cost(costs, cases, k, spec.unit, level, resampler, spec.min_cases)


def misrouting_result(data: ArmData, k: int, spec: AnalysisSpec, rng_for_arm: RngFor) -> MeanResult | None:
    """A router arm's expected misrouting cost per 1,000 requests with its two-sided interval at
    ``1 - alpha`` (the one-sided bounds at ``1 - alpha/2``); None without costs."""
    if data.misrouting is None:
        return None
    b = _bounds(data, k, spec, 1.0 - spec.alpha / 2.0, rng_for_arm)
    iv = Interval(b.lower.lower, b.upper.upper, 1.0 - spec.alpha, METHOD, "two-sided", b.note)
    return MeanResult(spec.unit, b.n, b.n_cases, b.estimate, iv)


def misrouting_gate_verdict(
    gate: GateSpec, a: str, data: ArmData, plan: Plan, k: int, rng_for_arm: RngFor
) -> GateVerdict:
    """The verdict of a ``misrouting_cost_per_1k`` gate for router arm ``a``: INCONCLUSIVE, with
    the reason, below ``analysis.min_cases`` cases, with an unknown cost, or with a deciding
    upper bound equal to the threshold (a tie does not clear it)."""
    spec = plan.analysis
    level = gate.rule.level if gate.rule.kind == "confidence_bound" else 1.0 - spec.alpha
    b = _bounds(data, k, spec, level, rng_for_arm)
    verdict = decide_gate(a, gate, spec.unit, b.estimate, b.lower, b.upper)
    if b.note is not None and (b.estimate is None or b.n_cases < spec.min_cases):
        return dataclasses.replace(verdict, verdict="INCONCLUSIVE", reason=b.note)
    deciding = b.upper.upper if gate.rule.kind == "confidence_bound" else None
    # per-case means of a few replays lie on a lattice, so a bound can equal the threshold exactly
    if verdict.verdict == "PASS" and deciding is not None and abs(deciding - gate.threshold) <= _TIE:
        why = f"the one-sided upper bound {deciding:.6g} equals {gate.threshold:g}: a tie does not clear it"
        return dataclasses.replace(verdict, verdict="INCONCLUSIVE", reason=why)
    return verdict
