"""What a run did, as the command prints it: a simulated run's and a live run's summary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from experiment.campaign.managed_servers import ServerRecord

__all__ = ["CampaignSummary", "LiveRunSummary", "RunSummary"]


@dataclass(frozen=True, kw_only=True)
class CampaignSummary:
    """The store's counts after a run, and how much of that this run wrote."""

    store_url: str
    plan_hash: str
    planned: dict[str, int]
    done: dict[str, int]
    failures: dict[str, int]
    resumed: int
    written: int
    elapsed_s: float
    progress_file: Path | None
    #: The signal that stopped the run before every trial was stored, else None.
    interrupted_by: int | None = None
    #: Why the pre-registered stopping rule ended the campaign at a look, else None.
    stopped_early: str | None = None

    @property
    def complete(self) -> bool:
        """Every allocated request has its trial row."""
        return all(self.done.get(arm, 0) == n for arm, n in self.planned.items())

    @property
    def finished(self) -> bool:
        """Nothing is left to run: every trial is stored, or the stopping rule ended the campaign."""
        return self.complete or self.stopped_early is not None


@dataclass(frozen=True, kw_only=True)
class RunSummary(CampaignSummary):
    """A simulated run: also how much virtual time the campaign covered."""

    virtual_s: float


@dataclass(frozen=True, kw_only=True)
class LiveRunSummary(CampaignSummary):
    """A live run: also what was sent and whether its dispatch was punctual enough to be valid."""

    interrupted: int
    sent: int
    lateness_p50_ms: float | None
    lateness_p99_ms: float | None
    max_lateness_p99_ms: float
    valid: bool
    stopped: bool
    journal_file: Path
    #: p99 of the time requests waited for a connection and connecting (ms), None if none sent.
    connect_wait_p99_ms: float | None = None
    #: Trials whose request timed out before it was written (no connection free in time).
    not_sent_in_time: int = 0
    #: Servers whose warm-up requests all failed before the clock started, with the reason.
    warm_up_failures: dict[str, str] | None = None
    #: The managed servers this run segment started (version, start-up time, log), in plan order.
    servers: tuple[ServerRecord, ...] = ()
