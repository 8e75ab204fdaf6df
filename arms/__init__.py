"""Arms: the no-routing control and router arms, simulated or live, over backends behind one seam.

Simulated arms run in SimPy virtual time (:func:`build_simulated_arms`), live arms on the wall
clock against real servers (:func:`build_live_arms`, sharing one :class:`ClientPool`). Either way
the arms ask their backends through :mod:`arms._backend` ("ask a model": classify, answer), and
each backend is built by the factory its plan ``kind`` names in :data:`BACKENDS` (DEVELOPERS.md,
"Adding a backend"). The pure behaviour objects (:class:`ClassifierBehaviour`,
:class:`ModelBehaviour`) are reused by the live test server. ``docs/calibration.md`` says which
calibration figures come from the study and which are illustrative.
"""

from arms._backend import (
    Backend,
    ChatResult,
    Classification,
    LiveClassifier,
    LiveContext,
    LiveModel,
    VirtualContext,
)
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
from arms._client_pool import ClientPool
from arms._control import SimulatedControlArm
from arms._grading import JUDGE_PROMPT, grade_answer, grade_case, judge_prompt, normalise_answer
from arms._live_arms import (
    LiveArmOutcome,
    LiveControlArm,
    LiveReferenceArm,
    LiveRouterArm,
    LiveTimings,
    build_live_arms,
    cost_usd,
)
from arms._openai import OpenAIChat
from arms._parsing import parse_label, parse_verdict
from arms._protocol import (
    ArmOutcome,
    ArmRequest,
    DownstreamOutcome,
    LiveArm,
    RoutingOutcome,
    SimulatedArm,
)
from arms._records import to_trial_record
from arms._redaction import REDACTED, Redactor, plan_secrets
from arms._reference import ReferenceRoutes, SimulatedReferenceArm
from arms._registry import BACKENDS
from arms._router import SimulatedRouterArm
from arms._server import FifoServer
from arms._simulated import SHARED_DIFFICULTY, build_simulated_arms
from arms._simulated_endpoint import Endpoint

__all__ = [
    "BACKENDS",
    "JUDGE_PROMPT",
    "REDACTED",
    "SHARED_DIFFICULTY",
    "Z_95",
    "ArmOutcome",
    "ArmRequest",
    "Backend",
    "ChatResult",
    "Classification",
    "ClassifierBehaviour",
    "ClientPool",
    "DownstreamOutcome",
    "Endpoint",
    "FifoServer",
    "LiveArm",
    "LiveArmOutcome",
    "LiveClassifier",
    "LiveContext",
    "LiveControlArm",
    "LiveModel",
    "LiveReferenceArm",
    "LiveRouterArm",
    "LiveTimings",
    "ModelBehaviour",
    "OpenAIChat",
    "Redactor",
    "ReferenceRoutes",
    "RoutingOutcome",
    "SimulatedArm",
    "SimulatedControlArm",
    "SimulatedReferenceArm",
    "SimulatedRouterArm",
    "VirtualContext",
    "build_live_arms",
    "build_simulated_arms",
    "cost_usd",
    "fit_lognormal",
    "grade_answer",
    "grade_case",
    "judge_prompt",
    "marginal_accuracy",
    "mean_service_ms",
    "normalise_answer",
    "parse_label",
    "parse_verdict",
    "plan_secrets",
    "solve_intercept",
    "solve_intercepts",
    "to_trial_record",
    "utilisation",
]
