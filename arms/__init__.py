"""Arms: the no-routing control and router arms, simulated or live, behind one protocol.

Simulated arms run in SimPy virtual time (:func:`build_simulated_arms`); their pure behaviour
objects (:class:`ClassifierBehaviour`, :class:`ModelBehaviour`) are reused by the live test server.
``docs/calibration.md`` says which calibration figures come from the study and which are
illustrative.
"""

from arms._behaviour import ClassifierBehaviour, ModelBehaviour
from arms._calibration import (
    Z_95,
    fit_lognormal,
    marginal_accuracy,
    mean_service_ms,
    solve_intercept,
    solve_intercepts,
    utilisation,
)
from arms._control import SimulatedControlArm
from arms._protocol import (
    ArmRequest,
    ArmResult,
    DownstreamOutcome,
    LiveArm,
    RoutingOutcome,
    SimulatedArm,
)
from arms._records import to_trial_record
from arms._router import SimulatedRouterArm
from arms._server import FifoServer
from arms._simulated import SHARED_DIFFICULTY, build_simulated_arms
from arms._simulated_endpoint import Endpoint

__all__ = [
    "SHARED_DIFFICULTY",
    "Z_95",
    "ArmRequest",
    "ArmResult",
    "ClassifierBehaviour",
    "DownstreamOutcome",
    "Endpoint",
    "FifoServer",
    "LiveArm",
    "ModelBehaviour",
    "RoutingOutcome",
    "SimulatedArm",
    "SimulatedControlArm",
    "SimulatedRouterArm",
    "build_simulated_arms",
    "fit_lognormal",
    "marginal_accuracy",
    "mean_service_ms",
    "solve_intercept",
    "solve_intercepts",
    "to_trial_record",
    "utilisation",
]
