"""What the caller knows about a run beyond its trials: hashes, source, planned and allocated counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["RunMeta"]


@dataclass(frozen=True)
class RunMeta:
    """Run metadata handed to :func:`analysis.analyze` by the command that read the trials.

    ``planned_per_arm``: requests the plan schedules per arm; ``allocated_per_arm_case``: the
    allocation written before the first request (arm -> case -> count), None when unknown (e.g. a
    CSV from elsewhere); ``live``: lateness figures of a live run, measured to the wire (``p50_ms``,
    ``p99_ms``, ``connect_wait_p99_ms``) and ``not_sent_in_time``, the requests whose timeout expired
    before they were written.
    """

    plan_canonical_sha256: str
    plan_bytes_sha256: str
    analysis_code_matches: bool
    deviations: tuple[str, ...] = ()
    source: Literal["store", "parquet", "csv"] = "store"
    planned_per_arm: dict[str, int] = field(default_factory=dict)
    allocated_per_arm_case: dict[str, dict[str, int]] | None = None
    live: dict[str, float] | None = None
