"""Trials a pre-registered abort rule kept from being sent, counted into an arm's flow.

A runner stores each such request as ``not_sent`` with the error ``aborted: <reason>``
(``analysis.abort``: the arm's failure rate, or a live run's invalid dispatch), so an abort is
data like any failure: the flow counts the rows and names the rule, and, being unsent, they never
enter an estimate (like every ``not_sent`` trial).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import NDArray

from analysis._results import ArmResult
from analysis._table import TrialTable

__all__ = ["ABORTED_PREFIX", "with_aborted"]

#: The error text's prefix that marks a trial an abort rule kept from being sent.
ABORTED_PREFIX = "aborted: "


def with_aborted(result: ArmResult, rows: NDArray[np.intp], table: TrialTable) -> ArmResult:
    """``result`` with its flow's ``aborted`` count and reason (unchanged when none was aborted)."""
    if not rows.size:
        return result
    unsent = rows[table.status[rows] == "not_sent"]
    reasons = [e for e in table.error[unsent].tolist() if isinstance(e, str) and e.startswith(ABORTED_PREFIX)]
    if not reasons:
        return result
    flow = dataclasses.replace(
        result.flow, aborted=len(reasons), abort_reason=reasons[0][len(ABORTED_PREFIX) :]
    )
    return dataclasses.replace(result, flow=flow)
