"""Arms: the no-routing control and router arms, simulated or live, behind one protocol."""

from arms._protocol import (
    ArmRequest,
    ArmResult,
    DownstreamOutcome,
    LiveArm,
    RoutingOutcome,
    SimulatedArm,
)

__all__ = [
    "ArmRequest",
    "ArmResult",
    "DownstreamOutcome",
    "LiveArm",
    "RoutingOutcome",
    "SimulatedArm",
]
