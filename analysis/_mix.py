"""Estimates under the target traffic mix: each family's figure weighted by its production share.

The corpus's own mix (its share of cases per family, typically equal) is what every other figure of
the results stands on. A plan's ``analysis.target_mix`` states the production share of each task
family; accuracy, downstream quality and cost are then also estimated post-stratified to it, each
family's estimate on the plan's unit of analysis, and a gate with ``mix: target`` is judged on
that estimate. Cases are the clusters and the family sizes stay those of the corpus, as
post-stratification conditions on them: a proportion's interval is the plan's binomial interval on
the effective n of the stratified variance, any other's a stratified case bootstrap
(:func:`analysis.stratified_case_weights`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from analysis._arm import ArmData, Codes
from analysis._case_bootstrap import stratified_case_weights, too_few_resamples
from analysis._clustered_quantile import too_few_cases
from analysis._comparisons import case_aggregate
from analysis._control_gate import ControlBounds, settle_control_gate
from analysis._interval import MeanResult
from analysis._mix_results import MixArm, MixResult
from analysis._planned_comparisons import RngFor
from analysis._proportions import Side, proportion_bounds
from analysis._results import GateVerdict, Interval, Unit
from prereg.schema import GateSpec, Plan

__all__ = ["METHOD", "Mix", "estimate_post_stratified", "mix_gate_verdict", "mix_section", "target_mix"]

#: The method of the bootstrap intervals and bounds under the target mix (costs, the vs-control gates).
METHOD = "stratified_case_bootstrap_percentile"
#: The suffix of a proportion's method under the target mix (after ``analysis.ci_method``).
PROPORTION = "_effective_n_post_stratified"
#: What the gates' reasons and the section's note say of the figures.
UNDER = "under the target mix"


@dataclass(frozen=True)
class Mix:
    """The plan's target mix on the trial table's codes.

    ``share[f]`` is the target share of the table's family ``families[f]`` (0 for a family the mix
    does not name), ``of_case[i]`` the family code of table case ``i``, and ``absent`` the families
    with a share above 0 that no trial of the table belongs to (no estimate exists then).
    """

    families: tuple[str, ...]
    share: NDArray[np.float64]
    of_case: NDArray[np.intp]
    absent: tuple[str, ...] = ()


def target_mix(plan: Plan, codes: Codes) -> Mix | None:
    """The plan's ``analysis.target_mix`` on the table's family and case codes (None without one)."""
    target = plan.analysis.target_mix
    if target is None:
        return None
    of_case = np.zeros(codes.k_cases, dtype=np.intp)
    of_case[codes.case] = codes.family
    share = np.array([target.get(f, 0.0) for f in codes.families], dtype=np.float64)
    absent = tuple(f for f, w in target.items() if w > 0.0 and f not in codes.families)
    return Mix(codes.families, share, of_case, absent)


def _mixed(
    vals: NDArray[np.float64],
    cnt: NDArray[np.float64],
    fam: NDArray[np.intp],
    share: NDArray[np.float64],
    w: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Per row of the case weights ``w``: :math:`\\sum_f w_f (\\sum_{i\\in f} w_i v_i) / (\\sum_{i\\in f} w_i c_i)`."""
    pos = np.flatnonzero(share > 0.0)
    member = (fam[:, None] == pos[None, :]).astype(np.float64)
    num, den = w @ (member * vals[:, None]), w @ (member * cnt[:, None])
    return np.asarray((num / den) @ share[pos], dtype=np.float64)


def _variance(
    vals: NDArray[np.float64], cnt: NDArray[np.float64], fam: NDArray[np.intp], share: NDArray[np.float64]
) -> tuple[float, float, float]:
    """The linearized variance of :func:`_mixed`'s estimate, its Satterthwaite degrees of freedom,
    and the Kish effective number of cases :math:`1/\\sum_f w_f^2/n_f` (replays all agreeing)."""
    comps, dfs, kish = [], [], 0.0
    for f in np.flatnonzero(share > 0.0):
        inf = fam == f
        n = int(inf.sum())
        u = (vals[inf] - cnt[inf] * (vals[inf].sum() / cnt[inf].sum())) / cnt[inf].mean()
        comps.append(share[f] ** 2 * float(u.var(ddof=1)) / n)
        dfs.append(n - 1.0)
        kish += share[f] ** 2 / n
    c, d = np.array(comps), np.array(dfs)
    v = float(c.sum())
    nu = v * v / float(np.sum(c * c / d)) if v > 0.0 else float(d.sum())
    # floor to 1e-3 so that platform noise never moves a bound (a smaller df is wider)
    return v, float(np.floor(min(max(nu, 1.0), d.sum()) * 1000.0) / 1000.0), 1.0 / kish


def _t_tail(tail: float, nu: float) -> float:
    """The normal tail a percentile needs to stand for a t tail on ``nu`` degrees of freedom."""
    return float(special.ndtr(special.stdtrit(nu, tail)))


def _proportion(
    est: float, var: tuple[float, float, float], n: int, level: float, method: str, side: Side
) -> tuple[float, float]:
    """Bounds of a post-stratified proportion: the binomial interval on its effective n."""
    v, nu, kish = var
    pq = est * (1.0 - est)
    if pq <= 0.0:  # every case 0 (or 1): the variance says nothing, assume replays all agree
        n_star = kish
    elif v <= 1e-14 * pq:  # every case the same proportion strictly inside (0, 1)
        n_star = float(n)
    else:
        n_star = min(pq / v, float(n))
    a = (1.0 - level) / 2.0 if side == "two-sided" else 1.0 - level
    n_eff = max(n_star * (special.ndtri(a) / special.stdtrit(nu, a)) ** 2, 1.0)
    lo, hi = proportion_bounds(np.array([est * n_eff]), np.array([n_eff]), level, method, side)
    return float(lo[0]), float(hi[0])


def _problems(fam: NDArray[np.intp], mix: Mix, min_cases: int) -> tuple[str | None, str | None]:
    """Why no estimate exists (a weighted family without cases), and why no interval does."""
    per_family = np.bincount(fam, minlength=mix.share.size)
    weighted = np.flatnonzero(mix.share > 0.0)
    empty = [mix.families[f] for f in weighted if per_family[f] == 0] + list(mix.absent)
    if empty:
        return (
            f"no analysable case of family {', '.join(map(repr, empty))}, whose target share is above 0",
            None,
        )
    if fam.size < min_cases:
        return None, too_few_cases(int(fam.size), min_cases)
    single = [mix.families[f] for f in weighted if per_family[f] == 1]
    if single:
        return (
            None,
            f"one analysable case of family {', '.join(map(repr, single))}: a family's variance needs 2 cases",
        )
    return None, None


def _per_case(
    values: NDArray[np.float64], cases: NDArray[np.intp], k: int, unit: Unit
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64], int]:
    """The cases with a value; per case the value summed (or its mean, unit ``case``) and its weight."""
    sums, counts = case_aggregate(values, cases, k)
    keep = counts > 0
    if unit == "case":
        return keep, sums[keep] / counts[keep], np.ones(int(keep.sum())), int(counts.sum())
    return keep, sums[keep], counts[keep], int(counts.sum())


def estimate_post_stratified(
    values: NDArray[np.float64],
    cases: NDArray[np.intp],
    mix: Mix,
    unit: Unit,
    level: float,
    rng: np.random.Generator,
    resamples: int,
    min_cases: int,
    scale: float = 1.0,
    method: str | None = None,
) -> MeanResult:
    """A mean post-stratified to the target mix, with its two-sided interval.

    Parameters
    ----------
    values : ndarray of float64
        Request-level values (0/1 correctness, quality or cost; NaN: not observed, left out).
    cases : ndarray of intp
        Case code ``0..k-1`` of each request (``k`` the table's cases, ``mix.of_case.size``).
    mix : Mix
        The target share of each family and each case's family (:func:`target_mix`).
    unit : {"case", "request"}
        Unit of analysis within a family: ``case``, the mean of per-case means; ``request``, the
        mean over requests. The case is the cluster of the variance either way.
    level : float
        Level of the two-sided interval.
    rng : numpy.random.Generator
        Source of the case resamples (not drawn from for a proportion).
    resamples : int
        Number of resamples.
    min_cases : int
        Fewest cases for an interval (``analysis.min_cases``).
    scale : float
        Multiplier (1000 for "per 1,000 requests").
    method : str, optional
        For a proportion (accuracy, downstream quality): the binomial interval method
        (``analysis.ci_method``) on the effective n. None: the stratified case bootstrap.

    Returns
    -------
    MeanResult
        :math:`s\\sum_f w_f\\hat\\mu_f` with its interval on ``unit``. The estimate is None, with
        a note, when a family with a share above 0 has no analysable case; the interval's ends are
        None, with a note, below ``min_cases`` cases, when such a family has one case, or (the
        bootstrap) when every resample gives the same value.

    Notes
    -----
    Post-stratification: :math:`\\hat\\mu_{ps} = \\sum_f w_f \\hat\\mu_f`, where :math:`w_f` is
    the target share and :math:`\\hat\\mu_f` the family's mean on the unit (unit ``case``:
    :math:`n_f^{-1}\\sum_{i\\in f}\\bar y_i`). With the corpus's own shares of cases,
    :math:`w_f = n_f / n`, it is the plain case-level mean. Its variance, conditional on the
    family sizes, is estimated by :math:`\\hat v = \\sum_f w_f^2 s_f^2 / n_f` (Cochran 1977,
    section 5A.9; Holt and Smith 1979), :math:`s_f^2` the between-case variance within family
    :math:`f` (of the linearized ratio for unit ``request``), with Satterthwaite degrees of freedom
    :math:`\\nu = \\hat v^2 / \\sum_f (w_f^2 s_f^2/n_f)^2/(n_f-1)`.

    A proportion takes the binomial interval (``method``) on the effective n
    :math:`n^* = \\hat p(1-\\hat p)/\\hat v`, times :math:`(z/t_\\nu)^2` (Korn and Graubard 1998,
    as :func:`analysis.estimate_accuracy` does under the corpus mix); at :math:`\\hat p` of 0 or 1,
    :math:`n^*` is the Kish effective number of cases :math:`1/\\sum_f w_f^2/n_f`. Any other mean
    takes the percentile interval of a stratified case bootstrap (within each family
    :math:`n_f - 1` cases drawn with replacement and rescaled, Rao and Wu 1988,
    :func:`analysis.stratified_case_weights`, whose variance of a linear estimate is :math:`\\hat
    v`), each tail taken where a t on :math:`\\nu` degrees of freedom puts it (the expanded
    percentile, Hesterberg 2015). The percentile bootstrap alone measured liberal for accuracy
    (one-sided type I error 0.063 and 0.073 at replay ICC 0 and 0.6, ten cases per family;
    tests/test_analysis_mix_calibration.py), which is why proportions take the effective n.

    References
    ----------
    .. [1] Cochran, W. G. (1977). Sampling Techniques, 3rd ed., chapter 5. Wiley.
    .. [2] Holt, D., Smith, T. M. F. (1979). Post stratification. JRSS A 142(1), 33-46.
       doi:10.2307/2344652
    .. [3] Korn, E. L., Graubard, B. I. (1998). Confidence intervals for proportions with small
       expected number of positive counts estimated from survey data. Survey Methodology 24(2),
       193-201.
    .. [4] Rao, J. N. K., Wu, C. F. J. (1988). Resampling inference with complex survey data.
       JASA 83(401), 231-241. doi:10.1080/01621459.1988.10478591
    .. [5] Hesterberg, T. C. (2015). What teachers should know about the bootstrap. The American
       Statistician 69(4), 371-386. doi:10.1080/00031305.2015.1089789
    """
    keep, vals, cnt, n = _per_case(values, cases, mix.of_case.size, unit)
    fam = mix.of_case[keep]
    k = int(fam.size)
    name = METHOD if method is None else method + PROPORTION

    def result(estimate: float | None, lo: float | None, hi: float | None, note: str | None) -> MeanResult:
        return MeanResult(unit, n, k, estimate, Interval(lo, hi, level, name, "two-sided", note))

    empty, short = _problems(fam, mix, min_cases)
    if empty is not None:
        return result(None, None, None, empty)
    est = float(_mixed(vals, cnt, fam, mix.share, np.ones((1, k)))[0])
    if short is not None:
        return result(scale * est, None, None, short)
    var = _variance(vals, cnt, fam, mix.share)
    if method is not None:
        lo, hi = _proportion(est, var, n, level, method, "two-sided")
        return result(scale * est, scale * lo, scale * hi, None)
    boot = scale * _mixed(vals, cnt, fam, mix.share, stratified_case_weights(rng, fam, resamples))
    if float(np.ptp(boot)) <= 1e-12 * max(1.0, abs(scale * est)):  # equal up to rounding
        return result(scale * est, None, None, "every case resample gives the same value, so no interval")
    tail = _t_tail((1.0 - level) / 2.0, var[1])
    short = too_few_resamples(1.0 - tail, boot.size)
    if short is not None:
        return result(scale * est, None, None, short)
    lo, hi = np.quantile(boot, [tail, 1.0 - tail])
    return result(scale * est, float(lo), float(hi), None)


def _absent(n: int, estimate: float | None, level: float, note: str, method: str = METHOD) -> ControlBounds:
    return ControlBounds(
        n,
        estimate,
        Interval(None, None, level, method, "lower", note),
        Interval(None, None, level, method, "upper", note),
        note,
    )


def _bounds(
    n: int, est: float, lo: float | None, hi: float | None, level: float, method: str
) -> ControlBounds:
    return ControlBounds(
        n, est, Interval(lo, None, level, method, "lower"), Interval(None, hi, level, method, "upper"), None
    )


def _gate_bounds(
    gate: GateSpec,
    d: ArmData,
    c: ArmData | None,
    mix: Mix,
    plan: Plan,
    level: float,
    rng: np.random.Generator,
) -> tuple[Unit, ControlBounds]:
    """The estimate under the mix and its one-sided bounds at ``level`` that decide ``gate``."""
    spec, k = plan.analysis, mix.of_case.size
    if gate.metric == "routing_accuracy":
        keep, vals, cnt, n_req = _per_case(d.y, d.y_cases, k, spec.unit)
        fam, c_vals = mix.of_case[keep], None
    else:
        quality = gate.metric == "downstream_quality_vs_control"
        if c is None or not c.cases.size:
            what = "downstream quality" if quality else "cost"
            return "case", _absent(0, None, level, f"the control arm has no {what} data")
        vr, vc = (d.downstream, c.downstream) if quality else (d.cost, c.cost)
        (sr, nr), (sc, nc) = case_aggregate(vr, d.cases, k), case_aggregate(vc, c.cases, k)
        common = (nr > 0) & (nc > 0)
        fam, m_r, m_c = mix.of_case[common], sr[common] / nr[common], sc[common] / nc[common]
        vals, c_vals = (m_r - m_c, None) if quality else (m_r, m_c)
        cnt = np.ones(fam.size)
    unit: Unit = spec.unit if gate.metric == "routing_accuracy" else "case"
    n = int(fam.size)
    method = spec.ci_method + PROPORTION if gate.metric == "routing_accuracy" else METHOD
    empty, short = _problems(fam, mix, spec.min_cases)
    if empty is not None:
        return unit, _absent(n, None, level, empty, method)
    ones = np.ones((1, n))
    est = float(_mixed(vals, cnt, fam, mix.share, ones)[0])
    ratio = 1.0
    if c_vals is not None:
        ratio = float(_mixed(c_vals, cnt, fam, mix.share, ones)[0])
        if ratio <= 0.0:
            return unit, _absent(
                n, None, level, "the control arm's mean cost is 0, so a relative cost is undefined"
            )
        est = est / ratio - 1.0
    if short is not None:
        return unit, _absent(n, est, level, short, method)
    if gate.metric == "routing_accuracy":
        var = _variance(vals, cnt, fam, mix.share)
        lo, _ = _proportion(est, var, n_req, level, spec.ci_method, "lower")
        _, hi = _proportion(est, var, n_req, level, spec.ci_method, "upper")
        return unit, _bounds(n, est, lo, hi, level, method)
    # the relative cost's linearization: router minus (1 + R) times control, per case
    u = vals if c_vals is None else vals - (est + 1.0) * c_vals
    nu = _variance(u, cnt, fam, mix.share)[1]
    w = stratified_case_weights(rng, fam, spec.bootstrap.resamples)
    boot = _mixed(vals, cnt, fam, mix.share, w)
    if c_vals is not None:
        den = _mixed(c_vals, cnt, fam, mix.share, w)
        boot = boot[den > 0.0] / den[den > 0.0] - 1.0
    if boot.size == 0 or float(np.ptp(boot)) <= 1e-12 * max(1.0, abs(est)):
        note = "every case resample gives the same value, so the data carry no variance for a bound"
        return unit, _absent(n, est, level, note)
    tail = _t_tail(1.0 - level, nu)
    short = too_few_resamples(1.0 - tail, boot.size)
    if short is not None:
        return unit, _absent(n, est, level, short)
    lo_b, hi_b = np.quantile(boot, [tail, 1.0 - tail])
    return unit, _bounds(n, est, float(lo_b), float(hi_b), level, METHOD)


def mix_gate_verdict(
    gate: GateSpec, a: str, data: Mapping[str, ArmData], plan: Plan, mix: Mix | None, rng_for_arm: RngFor
) -> GateVerdict:
    """The verdict of a gate with ``mix: target`` for router arm ``a``: the post-stratified
    estimate (accuracy on the plan's unit; quality difference and relative cost against the
    control paired by case, unit ``case``) and its one-sided bounds (accuracy: the plan's
    interval on the effective n; the others: the stratified case bootstrap), decided and
    tie-broken as a gate against the control (:func:`settle_control_gate`)."""
    spec = plan.analysis
    level = gate.rule.level if gate.rule.kind == "confidence_bound" else 1.0 - spec.alpha
    control = next((x.id for x in plan.arms if x.kind == "control"), None)
    c = data.get(control) if control is not None else None
    # its own stream: a gate under the mix moves no other figure's draws
    rng = rng_for_arm(f"gate_{gate.metric}_target_mix")
    unit: Unit = "case"
    if mix is None:  # `check` refuses such a plan
        bounds = _absent(0, None, level, "the plan states no analysis.target_mix")
    else:
        unit, bounds = _gate_bounds(gate, data[a], c, mix, plan, level, rng)
    verdict = settle_control_gate(a, gate, unit, bounds, spec.min_cases)
    return dataclasses.replace(verdict, reason=f"{verdict.reason} ({UNDER})")


def mix_section(
    plan: Plan, data: Mapping[str, ArmData], mix: Mix | None, rng_for: Callable[[str], RngFor]
) -> MixResult | None:
    """Every arm's accuracy (routers), downstream quality and cost per 1,000 requests under the
    target mix, on the plan's unit, each with its two-sided interval at ``1 - alpha`` (None
    without a target mix)."""
    if mix is None:
        return None
    spec = plan.analysis
    level, b, mc, unit = 1.0 - spec.alpha, spec.bootstrap.resamples, spec.min_cases, spec.unit
    arms = []
    for arm in plan.arms:
        d = data[arm.id]
        rng = rng_for(arm.id)("mix")
        ci = spec.ci_method
        accuracy = (
            estimate_post_stratified(d.y, d.y_cases, mix, unit, level, rng, b, mc, method=ci)
            if d.router
            else None
        )
        quality = estimate_post_stratified(d.downstream, d.cases, mix, unit, level, rng, b, mc, method=ci)
        cost = estimate_post_stratified(d.cost, d.cases, mix, unit, level, rng, b, mc, 1000.0)
        arms.append(MixArm(arm.id, accuracy, quality, cost))
    k = max(mix.of_case.size, 1)
    per_family = np.bincount(mix.of_case, minlength=len(mix.families)) / k
    note = (
        f"Estimated {UNDER} (analysis.target_mix): each family's figure on the plan's unit, weighted "
        "by its production share; accuracy and quality with the plan's interval on the effective n of the "
        "stratified variance, cost with a stratified case bootstrap (cases resampled within each family). "
        "The corpus-mix figures stay the arms' own; only gates with mix: target use these."
    )
    return MixResult(
        note,
        unit,
        dict(plan.analysis.target_mix or {}),
        {f: float(per_family[i]) for i, f in enumerate(mix.families)},
        tuple(arms),
    )
