"""Synthetic traffic: arrival processes, case-blocked randomization and the SimPy request stream.

``traffic`` imports only ``prereg`` (and numpy, SimPy). Everything random takes a generator from a
named stream of :func:`prereg.seeding.derive_rng`; nothing reads a clock.
"""

from traffic._allocation import assign_arms
from traffic._arrivals import arrival_times, diurnal_amplitude, read_trace
from traffic._process import request_stream
from traffic._schedule import Schedule, build_schedule

__all__ = [
    "Schedule",
    "arrival_times",
    "assign_arms",
    "build_schedule",
    "diurnal_amplitude",
    "read_trace",
    "request_stream",
]
