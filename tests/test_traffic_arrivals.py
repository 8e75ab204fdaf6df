"""Arrival processes: send times on an absolute timeline, at the planned rate."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from prereg.errors import TraceError
from prereg.schema import ArrivalSpec, DiurnalArrival, TraceArrival
from traffic import arrival_times

SPEC: TypeAdapter[ArrivalSpec] = TypeAdapter(ArrivalSpec)
HERE = Path(".")
stats = settings(max_examples=15, derandomize=True, deadline=None)


def spec(**fields: object) -> ArrivalSpec:
    """An arrival spec from plain fields, validated as the plan would be."""
    return SPEC.validate_python(fields)


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


renewal_specs = st.one_of(
    st.builds(lambda r: spec(kind="poisson", rate_per_s=r), st.floats(0.01, 1e4)),
    st.builds(lambda r: spec(kind="constant", rate_per_s=r), st.floats(0.01, 1e4)),
    st.builds(
        lambda r, b: spec(kind="gamma", rate_per_s=r, burstiness=b),
        st.floats(0.01, 1e4),
        st.floats(0.1, 4.0),
    ),
)


@given(arrival=renewal_specs, n=st.integers(0, 300), seed=st.integers(0, 2**32))
def test_renewal_times_start_at_zero_are_non_decreasing_and_reproducible(
    arrival: ArrivalSpec, n: int, seed: int
) -> None:
    """Poisson, constant, gamma: n float64 times from 0, non-decreasing, equal for equal seeds."""
    times = arrival_times(arrival, n, rng(seed), HERE)
    assert times.dtype == np.float64 and times.shape == (n,)
    assert n == 0 or times[0] == 0.0
    assert np.all(np.diff(times) >= 0)
    assert np.array_equal(times, arrival_times(arrival, n, rng(seed), HERE))


def test_constant_rate_is_exact() -> None:
    """Constant arrivals at 2/s are exactly 0, 0.5, 1.0, 1.5."""
    assert arrival_times(spec(kind="constant", rate_per_s=2.0), 4, rng(0), HERE).tolist() == [
        0.0,
        0.5,
        1.0,
        1.5,
    ]


@given(rate=st.floats(0.1, 1e4))
def test_constant_rate_has_no_drift_over_a_long_night(rate: float) -> None:
    """Request one million of a constant stream is sent within a rounding of 999,999 / rate."""
    times = arrival_times(spec(kind="constant", rate_per_s=rate), 1_000_000, rng(0), HERE)
    assert times[-1] == pytest.approx(999_999 / rate, rel=1e-15)


@stats
@given(rate=st.floats(0.05, 5000.0), seed=st.integers(0, 2**32))
def test_poisson_realised_rate_is_within_3_percent(rate: float, seed: int) -> None:
    """20,000 Poisson arrivals realise the planned rate within 3% (4 standard errors)."""
    times = arrival_times(spec(kind="poisson", rate_per_s=rate), 20_000, rng(seed), HERE)
    assert (times.size - 1) / times[-1] == pytest.approx(rate, rel=0.03)


@stats
@given(rate=st.floats(0.05, 5000.0), cv=st.floats(0.25, 2.0), seed=st.integers(0, 2**32))
def test_gamma_gaps_have_the_planned_mean_and_burstiness(rate: float, cv: float, seed: int) -> None:
    """50,000 gamma arrivals: mean gap 1/rate within 5% and gap CV within 6% of the burstiness."""
    times = arrival_times(spec(kind="gamma", rate_per_s=rate, burstiness=cv), 50_000, rng(seed), HERE)
    gaps = np.diff(times)
    assert gaps.mean() == pytest.approx(1.0 / rate, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.06)


@stats
@given(
    mean=st.floats(5.0, 200.0),
    ratio=st.floats(1.0, 10.0),
    peak=st.floats(0.0, 50.0),
    seed=st.integers(0, 2**32),
)
def test_diurnal_mean_rate_over_whole_periods_is_within_3_percent(
    mean: float, ratio: float, peak: float, seed: int
) -> None:
    """Arrivals counted over whole periods realise the mean rate within 3% (4 standard errors)."""
    period = 20_000 / mean / 20  # about 20 periods in 20,000 requests
    arrival = DiurnalArrival(
        kind="diurnal", mean_rate_per_s=mean, peak_to_trough=ratio, peak_at_s=peak, period_s=period
    )
    times = arrival_times(arrival, 20_000, rng(seed), HERE)
    assert np.all(np.diff(times) >= 0) and times[0] >= 0
    horizon = math.floor(times[-1] / period) * period
    assert np.count_nonzero(times < horizon) / horizon == pytest.approx(mean, rel=0.03)


def test_diurnal_peak_to_trough_is_as_planned() -> None:
    """Around the peak the rate is about peak_to_trough times the rate around the trough."""
    arrival = DiurnalArrival(
        kind="diurnal", mean_rate_per_s=50.0, peak_to_trough=3.0, peak_at_s=5.0, period_s=20.0
    )
    times = arrival_times(arrival, 100_000, rng(11), HERE)
    phase = ((times - 5.0) / 20.0) % 1.0
    near_peak = np.count_nonzero((phase < 0.025) | (phase > 0.975))
    near_trough = np.count_nonzero(np.abs(phase - 0.5) < 0.025)
    assert near_peak / near_trough == pytest.approx(3.0, rel=0.1)


# --- traces ---------------------------------------------------------------------------------------


def trace(tmp_path: Path, text: str, sha256: str | None = None) -> TraceArrival:
    """A trace spec for a file named trace.txt holding ``text``."""
    (tmp_path / "trace.txt").write_text(text, encoding="utf-8")
    return TraceArrival(kind="trace", path="trace.txt", sha256=sha256)


def test_trace_is_replayed_shifted_to_zero_ignoring_comments_and_blanks(tmp_path: Path) -> None:
    """Timestamps are read in order, comments and blank lines skipped, the first moved to 0."""
    arrival = trace(tmp_path, "# captured 2024-05-01\n100.5\n\n101.0  # burst\n101.0\n103.25\n")
    assert arrival_times(arrival, 3, rng(0), tmp_path).tolist() == [0.0, 0.5, 0.5]
    assert arrival_times(arrival, 4, rng(0), tmp_path).tolist() == [0.0, 0.5, 0.5, 2.75]


def test_trace_with_its_pinned_sha256_is_accepted(tmp_path: Path) -> None:
    """A trace whose bytes match the plan's sha256 replays normally."""
    text = "0\n1\n"
    arrival = trace(tmp_path, text, hashlib.sha256(text.encode()).hexdigest())
    assert arrival_times(arrival, 2, rng(0), tmp_path).tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    ("text", "sha256", "n", "message"),
    [
        (
            None,
            None,
            1,
            "traffic.arrival.path: expected a file of arrival timestamps, found no such file",
        ),
        (
            "1\n3\n2\n",
            None,
            3,
            "line 3: expected timestamps in non-decreasing order, found 2 after 3.0 (line 2)",
        ),
        ("# nothing yet\n\n", None, 1, "expected at least one timestamp, found none"),
        ("0.0\n1,5\n", None, 2, "line 2: expected a timestamp in seconds, found '1,5'"),
        ("0.0\nnan\n", None, 2, "line 2: expected a timestamp in seconds, found 'nan'"),
        ("0\n1\n", None, 3, "expected at least 3 timestamps (one per request), found 2"),
        (
            "0\n1\n",
            "0" * 64,
            2,
            "traffic.arrival.sha256: expected SHA-256 "
            + "0" * 64
            + ", found "
            + hashlib.sha256(b"0\n1\n").hexdigest(),
        ),
    ],
    ids=["missing", "unsorted", "empty", "unparseable", "not-finite", "too-few", "sha256"],
)
def test_bad_trace_is_a_one_line_error(
    tmp_path: Path, text: str | None, sha256: str | None, n: int, message: str
) -> None:
    """Each trace problem is a one-line TraceError: the file, what was expected, what was found."""
    arrival = (
        TraceArrival(kind="trace", path="trace.txt", sha256=sha256)
        if text is None
        else trace(tmp_path, text, sha256)
    )
    with pytest.raises(TraceError) as info:
        arrival_times(arrival, n, rng(0), tmp_path)
    assert str(info.value) == f"{tmp_path / 'trace.txt'}: {message}"
