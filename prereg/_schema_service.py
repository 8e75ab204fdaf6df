"""A router service arm: a black box that picks the model itself and answers (vLLM Semantic Router,
LiteLLM's router, a RouteLLM server).

The arm sends each request to the service's OpenAI-compatible endpoint (its ``backend``, an
``openai`` backend like any other), reads which model the service chose (a response header, or
the body's ``model`` field) and takes the service's answer as the downstream answer. The chosen
model is mapped to a key of the plan's ``models`` (``served_models``, else each model's ``model``
name), which gives the route, the price and the route-level accuracy: the chosen model equals the
route of one of the case's gold labels. A name the plan does not know is the trial status
``unknown_model``. Re-exported by :mod:`prereg.schema`, whose ``kind`` union
:data:`~prereg.schema.ArmSpec` includes it; the keys are checked by :mod:`prereg.check`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from prereg._schema_calls import DecodingSpec, RetrySpec
from prereg._schema_numbers import MAX_TIMEOUT_MS, Finite, Identifier, Spec
from prereg.backends import OpenAIBackendSpec

__all__ = ["ServiceArmSpec"]

#: An HTTP header name (RFC 9110 token characters).
_HEADER = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"


class ServiceArmSpec(Spec):
    """A router service: one request per trial to ``backend``, which routes and answers it.

    ``model`` is the name sent (services route ``auto``, or take their router's name).
    ``selected_model_header`` names the response header carrying the chosen model (vLLM
    Semantic Router's ``x-vsr-selected-model``); without it the body's ``model`` field is read.
    ``served_models`` maps the names the service reports to keys of ``models``; a name not in it
    is matched against each model's ``model`` field. ``decoding``, ``timeout_ms`` and ``retry``
    mean what they mean for a downstream model. It runs on the wall clock only (its backend is
    ``openai``).

    Latency: a black box shows no decision time apart from its answer. The routing latency stored
    is the time from the scheduled send to the response headers (the service had decided and the
    chosen model had begun to answer): an upper bound of the decision time, so a latency gate it
    passes is passed, and one it fails is not known to be failed (the analysis says INCONCLUSIVE).
    """

    id: Identifier
    kind: Literal["service"]
    backend: OpenAIBackendSpec
    model: str = Field(default="auto", min_length=1, description="Model name sent to the service")
    selected_model_header: str | None = Field(default=None, pattern=_HEADER, max_length=200)
    served_models: dict[str, str] = Field(default_factory=dict)
    decoding: DecodingSpec = Field(default_factory=lambda: DecodingSpec(max_tokens=512))
    timeout_ms: Finite = Field(default=60_000.0, gt=0.0, le=MAX_TIMEOUT_MS)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    description: str = ""
