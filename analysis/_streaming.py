"""Streaming timings per arm: time to first token (routing and downstream) and inter-token latency.

Exploratory: no gate reads these figures. Each is a quantile of request-level values with the
interval the plan's latency gates use (:func:`plan_quantile`: the case-clustered quantile bounds
of :func:`analysis._clustered_quantile.estimate_clustered_quantile` when
``analysis.latency_interval`` is ``clustered``, else the order-statistic interval of
:func:`analysis._quantiles.estimate_quantile`), so the unit of analysis is the case whenever the
gates' is: replays of one case share a prompt and its prefill, so their timings are correlated.

TTFT counts the first token of any kind (content or reasoning). Only rows that were sent, fall
outside the warm-up and the plan's exclusions, and carry a value enter; a simulated run has none,
and then :func:`streaming_timings` returns None (the results document omits the section).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from analysis._arm import Codes
from analysis._plan_quantile import plan_quantile
from analysis._results import DECIDING_KINDS, QuantileResult, StreamingArm, StreamingResult
from analysis._table import TrialTable
from prereg.schema import AnalysisSpec, Plan

__all__ = ["TTFT_NOTE", "plan_quantile", "streaming_timings"]

#: What the section states about the first token.
TTFT_NOTE = (
    "TTFT counts the first token of any kind (content or reasoning), from the request's scheduled "
    "send; ITL is each trial's (last token - first token) / (tokens out - 1). Exploratory, not gates."
)


def _kept(
    rows: NDArray[np.intp], column: NDArray[np.float64], codes: Codes
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """The sent, analysed rows of ``rows`` that carry a value, and their case codes."""
    not_sent = codes.statuses.index("not_sent") if "not_sent" in codes.statuses else -2
    sent = codes.status[rows] != not_sent
    keep = sent & ~codes.excluded_case[codes.case[rows]] & np.isfinite(column[rows])
    if codes.warmup is not None:
        keep &= ~codes.warmup[rows]
    picked = rows[keep]
    return column[picked], codes.case[picked]


def _pair(
    spec: AnalysisSpec, values: NDArray[np.float64], cases: NDArray[np.intp], qs: tuple[float, ...]
) -> tuple[QuantileResult | None, ...]:
    if values.size == 0:
        return tuple(None for _ in qs)
    return tuple(plan_quantile(spec, values, cases, q) for q in qs)


def streaming_timings(
    plan: Plan,
    table: TrialTable,
    codes: Codes,
    arms: tuple[str, ...],
    arm_codes: NDArray[np.intp],
) -> StreamingResult | None:
    """Per arm: routing TTFT (router arms) and downstream TTFT median and P95, median ITL.

    Parameters
    ----------
    plan : Plan
        The frozen plan (its arms and analysis section).
    table : TrialTable
        Every trial row; ``routing_first_token_ms``, ``downstream_first_token_ms`` and
        ``downstream_itl_ms`` are read (NaN where a trial has no value).
    codes : Codes
        The table's codes (status, case, warm-up and plan exclusions).
    arms, arm_codes : tuple of str, ndarray of intp
        The table's arm names and each row's code into them.

    Returns
    -------
    StreamingResult or None
        None when no arm has any value (a simulated run). Unit of analysis: the case (clustered
        interval) or the request, as the plan's latency gates; every estimate with its interval.
    """
    spec = plan.analysis
    out: list[StreamingArm] = []
    any_value = False
    for arm_spec in plan.arms:
        a = arm_spec.id
        rows = np.flatnonzero(arm_codes == arms.index(a)) if a in arms else np.zeros(0, dtype=np.intp)
        router = arm_spec.kind in DECIDING_KINDS
        r_med, r_p95 = _pair(spec, *_kept(rows, table.routing_first_token_ms, codes), (0.5, 0.95))
        if not router:
            r_med = r_p95 = None
        d_med, d_p95 = _pair(spec, *_kept(rows, table.downstream_first_token_ms, codes), (0.5, 0.95))
        (itl,) = _pair(spec, *_kept(rows, table.downstream_itl_ms, codes), (0.5,))
        any_value |= any(x is not None for x in (r_med, d_med, itl))
        out.append(StreamingArm(a, r_med, r_p95, d_med, d_p95, itl))
    return StreamingResult(TTFT_NOTE, tuple(out)) if any_value else None
