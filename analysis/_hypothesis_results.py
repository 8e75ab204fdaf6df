"""The hypotheses section of the results document: each pre-registered hypothesis with its verdict
per arm, decided by the gates the plan links it to (:mod:`analysis._hypotheses` computes it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["HypothesisResult", "HypothesisVerdict"]


@dataclass(frozen=True)
class HypothesisVerdict:
    """A hypothesis for one arm: PASS only when every linked gate passes for it (intersection-union
    test), FAIL when one fails, INCONCLUSIVE otherwise; ``reason`` names the deciding gates."""

    arm: str
    # analysis._results.Verdict, spelled out: that module imports this one.
    verdict: Literal["PASS", "FAIL", "INCONCLUSIVE"]
    reason: str


@dataclass(frozen=True)
class HypothesisResult:
    """One hypothesis of the plan (``study.hypotheses``, plan order) and what its gates decided.

    ``id`` is None for a bare statement; a hypothesis linked to no gate has no ``gates``, ``arms``
    or ``verdicts`` and the ``summary`` says so. ``arms`` are the arms it was judged for (the
    plan's, or every deciding arm); ``summary`` is the verdicts in one line.
    """

    id: str | None
    statement: str
    gates: tuple[str, ...]
    arms: tuple[str, ...]
    verdicts: tuple[HypothesisVerdict, ...]
    summary: str
