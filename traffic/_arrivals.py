"""Arrival processes: when each request of a campaign is sent, on an absolute timeline.

Every process returns all send times at once, as seconds from the campaign's time origin, computed
as a vectorised cumulative sum of gaps (or an exact ``k / rate`` for constant traffic). Nothing here
sleeps or reads a clock: a scheduler that later sleeps *until* ``t_i`` cannot drift, whereas one
that sleeps each gap in turn accumulates its lateness (see NOTES.md: a 200/s schedule of relative
sleeps delivered ~173/s).

Conventions (docs/traffic.md has the formulas):

* ``poisson``, ``constant``, ``gamma`` are renewal processes started at an arrival: the first
  request is sent at ``t = 0`` and ``n - 1`` gaps follow, so the realised rate is
  ``(n - 1) / t[-1]``.
* ``diurnal`` is a non-homogeneous Poisson process whose rate curve is anchored to the clock
  (its peak is at ``peak_at_s``), so it is not shifted: its first request comes after a random gap.
* ``trace`` replays a file's timestamps shifted so that the first is 0.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from prereg.errors import TraceError
from prereg.schema import (
    ArrivalSpec,
    ConstantArrival,
    DiurnalArrival,
    GammaArrival,
    PoissonArrival,
    TraceArrival,
)
from prereg.trace import parse_trace

__all__ = ["arrival_times", "diurnal_amplitude", "read_trace"]

_TRACE_FIELD = "traffic.arrival.path"


def arrival_times(spec: ArrivalSpec, n: int, rng: np.random.Generator, base_dir: Path) -> np.ndarray:
    """Send times of ``n`` requests (float64 seconds, non-decreasing) under an arrival process.

    ``rng`` is the campaign's ``"arrivals"`` stream; ``base_dir`` resolves a trace file's path
    (the plan's directory). Raises :class:`~prereg.errors.TraceError` for a bad trace file.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, found {n}")
    if isinstance(spec, PoissonArrival):
        return _renewal(rng.exponential(1.0 / spec.rate_per_s, size=max(n - 1, 0)), n)
    if isinstance(spec, ConstantArrival):
        # k / rate rather than a running sum: exact to one rounding however long the night.
        return np.arange(n, dtype=np.float64) / spec.rate_per_s
    if isinstance(spec, GammaArrival):
        shape = 1.0 / spec.burstiness**2
        scale = 1.0 / (spec.rate_per_s * shape)
        return _renewal(rng.gamma(shape, scale, size=max(n - 1, 0)), n)
    if isinstance(spec, DiurnalArrival):
        return _diurnal(spec, n, rng)
    if isinstance(spec, TraceArrival):
        times = read_trace(spec, base_dir)
        if times.size < n:
            raise TraceError(
                f"expected at least {n} timestamps (one per request), found {times.size}",
                file=str(base_dir / spec.path),
            )
        return times[:n].copy()
    raise TypeError(f"unknown arrival process {type(spec).__name__}")  # pragma: no cover


def _renewal(gaps: np.ndarray, n: int) -> np.ndarray:
    """Times of a renewal process whose first event is at 0: 0, g1, g1 + g2, ..."""
    times = np.zeros(n, dtype=np.float64)
    if n > 1:
        np.cumsum(gaps, out=times[1:])
    return times


def diurnal_amplitude(peak_to_trough: float) -> float:
    """The relative amplitude ``a = (r - 1) / (r + 1)`` whose peak/trough rate ratio is ``r``."""
    return (peak_to_trough - 1.0) / (peak_to_trough + 1.0)


def _diurnal(spec: DiurnalArrival, n: int, rng: np.random.Generator) -> np.ndarray:
    """A sinusoidal non-homogeneous Poisson process, by thinning (Lewis & Shedler 1979).

    Candidates arrive as a homogeneous Poisson process at the peak rate ``m (1 + a)``; each is kept
    with probability ``lambda(t) / (m (1 + a))``. At least half the candidates survive (``a < 1``),
    so one batch of ~``n (1 + a)`` candidates plus a margin almost always suffices; further batches
    continue the same timeline from the last candidate.
    """
    a = diurnal_amplitude(spec.peak_to_trough)
    peak_rate = spec.mean_rate_per_s * (1.0 + a)
    omega = 2.0 * math.pi / spec.period_s
    kept: list[np.ndarray] = []
    have = 0
    start = 0.0
    while have < n:
        need = n - have
        batch = int(need * (1.0 + a) * 1.05) + 64
        candidates = start + np.cumsum(rng.exponential(1.0 / peak_rate, size=batch))
        start = float(candidates[-1])
        keep_p = (1.0 + a * np.cos(omega * (candidates - spec.peak_at_s))) / (1.0 + a)
        accepted = candidates[rng.random(batch) < keep_p]
        kept.append(accepted[:need])
        have += min(accepted.size, need)
    return np.concatenate(kept) if kept else np.zeros(0, dtype=np.float64)


def read_trace(spec: TraceArrival, base_dir: Path) -> np.ndarray:
    """A trace file's timestamps, checked and shifted so that the first is 0.

    The file holds one timestamp in seconds per line, sorted; blank lines and ``#`` comments are
    ignored. Each problem is a one-line :class:`~prereg.errors.TraceError` naming the file (and the
    line where there is one): missing or unreadable, not matching the pinned SHA-256, a line that is
    not a finite number, a timestamp earlier than the one before, no timestamps at all.
    """
    path = base_dir / spec.path
    file = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TraceError(
            "expected a file of arrival timestamps, found no such file",
            file=file,
            field=_TRACE_FIELD,
        ) from None
    except OSError as exc:
        raise TraceError(
            f"expected a readable file of arrival timestamps, found {exc.strerror}",
            file=file,
            field=_TRACE_FIELD,
        ) from None
    if spec.sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != spec.sha256:
            raise TraceError(
                f"expected SHA-256 {spec.sha256}, found {actual}",
                file=file,
                field="traffic.arrival.sha256",
            )
    values = parse_trace(data, file)
    times = np.asarray(values, dtype=np.float64)
    times -= times[0]
    return times
