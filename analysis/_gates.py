"""Gate verdicts: PASS / FAIL / INCONCLUSIVE per router arm and gate, and viability.

Viability is an intersection-union test: an arm is viable only when every gate passes, each gate
tested at the full level (no alpha split), which keeps the overall error rate at most alpha.
"""

from __future__ import annotations

from analysis._results import ArmVerdict, GateVerdict, Interval, Unit, Verdict
from prereg.schema import GateSpec

__all__ = ["decide_gate", "decide_viability"]


def decide_gate(
    arm: str,
    gate: GateSpec,
    unit: Unit,
    estimate: float | None,
    lower: Interval | None,
    upper: Interval | None,
) -> GateVerdict:
    """The verdict of one gate for one arm under the gate's decision rule.

    Parameters
    ----------
    arm : str
        Router arm id.
    gate : GateSpec
        The gate (metric, op, threshold, rule).
    unit : {"case", "request"}
        Unit of analysis of the estimate.
    estimate : float or None
        Point estimate (None when there are no data).
    lower, upper : Interval or None
        One-sided lower and upper bounds at the rule's level (None under a point-estimate rule).

    Returns
    -------
    GateVerdict

    Notes
    -----
    For ``op ">="`` under a confidence-bound rule: PASS when the one-sided lower bound is at least the
    threshold, FAIL when the one-sided upper bound is below it, INCONCLUSIVE otherwise or when the
    deciding bound does not exist. ``"<="`` mirrors this (PASS: upper <= threshold; FAIL: lower >
    threshold). A point-estimate rule compares the estimate alone and is never INCONCLUSIVE unless
    there are no data.

    References
    ----------
    .. [1] Berger, R. L. (1982). Multiparameter hypothesis testing and acceptance sampling.
       Technometrics 24(4), 295-300. doi:10.1080/00401706.1982.10487790
    """
    t = gate.threshold
    rule = gate.rule.kind if gate.rule.kind == "point_estimate" else f"confidence_bound@{gate.rule.level:g}"

    def verdict(v: Verdict, reason: str, deciding: Interval | None, opposite: Interval | None) -> GateVerdict:
        return GateVerdict(
            arm, gate.id, gate.metric, gate.op, t, rule, unit, estimate, deciding, opposite, v, reason
        )

    if estimate is None:
        return verdict("INCONCLUSIVE", "no analysable trials", None, None)
    if gate.rule.kind == "point_estimate":
        ok = estimate >= t if gate.op == ">=" else estimate <= t
        return verdict(
            "PASS" if ok else "FAIL",
            f"point estimate {estimate:.6g} {'meets' if ok else 'misses'} {gate.op} {t:g}",
            None,
            None,
        )
    deciding, opposite = (lower, upper) if gate.op == ">=" else (upper, lower)
    d = None if deciding is None else (deciding.lower if gate.op == ">=" else deciding.upper)
    o = None if opposite is None else (opposite.upper if gate.op == ">=" else opposite.lower)
    if d is not None and (d >= t if gate.op == ">=" else d <= t):
        side = "lower" if gate.op == ">=" else "upper"
        return verdict("PASS", f"one-sided {side} bound {d:.6g} {gate.op} {t:g}", deciding, opposite)
    if o is not None and (o < t if gate.op == ">=" else o > t):
        side = "upper" if gate.op == ">=" else "lower"
        rel = "<" if gate.op == ">=" else ">"
        return verdict("FAIL", f"one-sided {side} bound {o:.6g} {rel} {t:g}", deciding, opposite)
    if d is None:
        why = deciding.note if deciding is not None and deciding.note else "the deciding bound does not exist"
        return verdict("INCONCLUSIVE", why, deciding, opposite)
    lo, hi = (d, o) if gate.op == ">=" else (o, d)
    if lo is not None and hi is not None:
        return verdict(
            "INCONCLUSIVE",
            f"the one-sided bounds {lo:.6g} and {hi:.6g} lie on either side of {t:g}",
            deciding,
            opposite,
        )
    return verdict("INCONCLUSIVE", f"the bounds do not separate the estimate from {t:g}", deciding, opposite)


def decide_viability(arm: str, verdicts: list[GateVerdict]) -> ArmVerdict:
    """PASS when every gate passes, FAIL when any gate fails, INCONCLUSIVE otherwise.

    Parameters
    ----------
    arm : str
        Router arm id.
    verdicts : list of GateVerdict
        The arm's gate verdicts (each on its own unit of analysis, see :func:`decide_gate`).

    Returns
    -------
    ArmVerdict

    Notes
    -----
    An intersection-union test: the arm is declared viable only when every gate's null ("the gate is
    not met") is rejected, each at the full level, and the overall error rate stays at most that
    level without splitting alpha.

    References
    ----------
    .. [1] Berger, R. L. (1982). doi:10.1080/00401706.1982.10487790
    """
    ids = tuple(v.gate for v in verdicts)
    failed = [v.gate for v in verdicts if v.verdict == "FAIL"]
    open_ = [v.gate for v in verdicts if v.verdict == "INCONCLUSIVE"]
    if failed:
        return ArmVerdict(arm, "FAIL", ids, "failed: " + ", ".join(failed))
    if open_:
        return ArmVerdict(arm, "INCONCLUSIVE", ids, "inconclusive: " + ", ".join(open_))
    return ArmVerdict(arm, "PASS", ids, "every gate passes (intersection-union test)")
