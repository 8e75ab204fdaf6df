"""Fixtures shared by the live tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from experiment.serve import FaultSpec, SimulatedServer


@pytest.fixture()
def srv(served: tuple[SimulatedServer, str]) -> Iterator[tuple[SimulatedServer, str]]:
    """The module's ``served`` server with no faults and an empty log, reset after the test too."""
    server, url = served
    server.faults = FaultSpec()
    server.log.clear()
    yield server, url
    server.faults = FaultSpec()
