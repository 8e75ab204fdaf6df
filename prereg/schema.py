"""The pre-registration plan: what people write in YAML, as pydantic models.

Every model forbids unknown keys (a typo must not silently become a default) and is frozen: a plan
is a record of intent, not a mutable config. Variants are picked by a ``kind`` field. This module
checks structure and per-field ranges only; cross-field meaning (labels in the taxonomy, routes to
defined models, sample size against the corpus) is checked in :mod:`prereg.check`, which can name
the exact field path that is wrong.

Figures in defaults come from ``shared/STUDY.md`` (Study 2: four arms, 60 cases x 5 replays per arm,
gates accuracy >= 0.85 and P95 <= 2,000 ms).

The models live in modules by concept: ``_schema_numbers`` (number types and limits),
``_schema_study`` (the study and its hypotheses), ``_schema_traffic`` (arrivals,
randomization, size), ``_schema_analysis`` (outcomes, gates, the
analysis), ``_schema_arms`` (the arms that call no classifier: control, fixed, random, oracle) and
the public :mod:`prereg.backends` (backend variants and their time models, where a new backend is
added); this module holds the rest and re-exports the names other packages use, so
``from prereg.schema import X`` keeps working. A new backend variant is imported from
:mod:`prereg.backends`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, field_serializer, field_validator, model_serializer

from prereg._schema_abort import AbortSpec
from prereg._schema_analysis import (
    CONFIDENCE_SEQUENCE_METRICS,
    AnalysisSpec,
    BootstrapSpec,
    ConfidenceBoundRule,
    ConfidenceSequenceStopping,
    FailureHandlingSpec,
    FixedHorizonStopping,
    GateSpec,
    GroupSequentialStopping,
    OutcomesSpec,
    PointEstimateRule,
    StoppingSpec,
)
from prereg._schema_arms import ControlArmSpec, FixedArmSpec, OracleArmSpec, RandomArmSpec, ReferenceArmSpec
from prereg._schema_calls import DecodingSpec, RetrySpec
from prereg._schema_misrouting import MisroutingCostSpec, MisroutingPairSpec
from prereg._schema_numbers import (
    MAX_CASES,
    MAX_CONCURRENCY,
    MAX_DURATION_MS,
    MAX_PERIOD_S,
    MAX_PRICE_PER_1K,
    MAX_RATE_PER_S,
    MAX_RATIO,
    MAX_REPLAYS,
    MAX_REQUESTS,
    MAX_RESAMPLES,
    MAX_SEED,
    MAX_TIMEOUT_MS,
    MAX_TOKENS,
    MIN_RATE_PER_S,
    Finite,
    Identifier,
    Sha256,
    Spec,
    Whole,
)
from prereg._schema_service import ServiceArmSpec
from prereg._schema_study import HypothesisSpec, StudySpec
from prereg._schema_traffic import (
    ArrivalSpec,
    ConstantArrival,
    DiurnalArrival,
    GammaArrival,
    PoissonArrival,
    RandomizationSpec,
    SampleSizeSpec,
    TraceArrival,
    TrafficSpec,
    WarmupSpec,
)
from prereg.backends import (
    TIME_MODEL_NAMES,
    BackendSpec,
    ClassifierBackendSpec,
    FailureSpec,
    LatencySpec,
    ModelBackendSpec,
    OpenAIBackendSpec,
    PriceSpec,
    SimulatedClassifierSpec,
    SimulatedModelSpec,
    TimeModel,
    TokenSpec,
)
from prereg.servers import ServerSpec, omit_no_servers

__all__ = [
    "CONFIDENCE_SEQUENCE_METRICS",
    "DEFAULT_LABELS",
    "MAX_CASES",
    "MAX_CONCURRENCY",
    "MAX_DURATION_MS",
    "MAX_PERIOD_S",
    "MAX_PRICE_PER_1K",
    "MAX_RATE_PER_S",
    "MAX_RATIO",
    "MAX_REPLAYS",
    "MAX_REQUESTS",
    "MAX_RESAMPLES",
    "MAX_SEED",
    "MAX_TIMEOUT_MS",
    "MAX_TOKENS",
    "MIN_RATE_PER_S",
    "TIME_MODEL_NAMES",
    "AbortSpec",
    "Amendment",
    "AnalysisSpec",
    "ArmSpec",
    "ArrivalSpec",
    "BackendSpec",
    "BootstrapSpec",
    "ClassifierBackendSpec",
    "ClassifierSpec",
    "ConfidenceBoundRule",
    "ConfidenceSequenceStopping",
    "ConstantArrival",
    "ControlArmSpec",
    "CorpusSpec",
    "DecodingSpec",
    "DiurnalArrival",
    "FailureHandlingSpec",
    "FailureSpec",
    "FixedArmSpec",
    "FixedHorizonStopping",
    "GammaArrival",
    "GateSpec",
    "GraderSpec",
    "GroupSequentialStopping",
    "HypothesisSpec",
    "LatencySpec",
    "MisroutingCostSpec",
    "MisroutingPairSpec",
    "ModelBackendSpec",
    "ModelSpec",
    "MultiLabelRule",
    "OpenAIBackendSpec",
    "OracleArmSpec",
    "OutcomesSpec",
    "ParsingRule",
    "ParsingSpec",
    "Plan",
    "PointEstimateRule",
    "PoissonArrival",
    "PriceSpec",
    "RandomArmSpec",
    "RandomizationSpec",
    "ReferenceArmSpec",
    "RetrySpec",
    "RouterArmSpec",
    "RoutingSpec",
    "SampleSizeSpec",
    "ServiceArmSpec",
    "SimulatedClassifierSpec",
    "SimulatedModelSpec",
    "StoppingSpec",
    "StudySpec",
    "TaxonomySpec",
    "TimeModel",
    "TokenSpec",
    "TraceArrival",
    "TrafficSpec",
    "WarmupSpec",
]

#: The six task families of the study's router taxonomy.
DEFAULT_LABELS: tuple[str, ...] = (
    "code",
    "math",
    "summarization",
    "translation",
    "creative_writing",
    "knowledge_qa",
)

# --- taxonomy, corpus -------------------------------------------------------------------------


class MultiLabelRule(Spec):
    """How a case with more than one acceptable label is scored.

    ``any_of``: a case carries a set of gold labels; exact match means the predicted label is one
    of them. Example: "Summarise this Python function's behaviour in one sentence" has gold labels
    {summarization, code}; predicting ``code`` or ``summarization`` is correct, ``knowledge_qa`` is not.
    """

    kind: Literal["any_of"] = "any_of"
    example: str = (
        "gold {summarization, code}: predicting code or summarization is correct, "
        "predicting knowledge_qa is wrong"
    )


class TaxonomySpec(Spec):
    """The label set a router chooses from."""

    labels: list[Identifier] = Field(default_factory=lambda: list(DEFAULT_LABELS), min_length=2)
    multi_label: MultiLabelRule = Field(default_factory=MultiLabelRule)


class CorpusSpec(Spec):
    """The case file (JSON Lines: id, text, gold_labels, family) and its pinned SHA-256.

    ``path`` is relative to the plan file.
    """

    path: str = Field(min_length=1)
    sha256: Sha256


# --- models ------------------------------------------------------------------------------------


class ModelSpec(Spec):
    """A downstream answering model: the routing table's targets and the control's default."""

    model: str = Field(min_length=1, description="Model name sent to the server")
    backend: ModelBackendSpec
    price: PriceSpec = Field(default_factory=PriceSpec)
    decoding: DecodingSpec = Field(default_factory=lambda: DecodingSpec(max_tokens=512))
    timeout_ms: Finite = Field(default=60_000.0, gt=0.0, le=MAX_TIMEOUT_MS)
    retry: RetrySpec = Field(default_factory=RetrySpec)


#: The rules that turn a classifier's reply into a label (see :mod:`arms._parsing`).
ParsingRule = Literal["strict", "json_label"]


class ParsingSpec(Spec):
    """A parsing rule and whether a leading ``<think>...</think>`` block is stripped first.

    The plan may write the bare rule (``parsing: strict``, no stripping) or the mapping
    ``{rule: strict, strip_reasoning: true}`` for a model that reasons before its label.
    """

    rule: ParsingRule = "strict"
    # Strict: a quoted "no" is not a boolean here (lax pydantic would read it as False).
    strip_reasoning: StrictBool = False


class ClassifierSpec(Spec):
    """A router arm's classifier: the model that reads a request and names its task family."""

    model: str = Field(min_length=1, description="Model name sent to the server")
    backend: ClassifierBackendSpec
    # Optional because a backend that reads no prompt (``keyword``) needs none; `check` requires
    # it for the backends that do (USES_PROMPT).
    prompt_template: str | None = Field(
        default=None, min_length=1, description="Must contain {text} and {labels}"
    )
    parsing: ParsingSpec = Field(default_factory=ParsingSpec)
    decoding: DecodingSpec = Field(default_factory=DecodingSpec)
    timeout_ms: Finite = Field(default=10_000.0, gt=0.0, le=MAX_TIMEOUT_MS)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    price: PriceSpec = Field(default_factory=PriceSpec)

    @field_validator("parsing", mode="before", json_schema_input_type=ParsingRule | ParsingSpec)
    @classmethod
    def _bare_rule(cls, value: Any) -> Any:
        """``parsing: strict`` is ``{rule: strict}``: the form plans had before strip_reasoning."""
        if isinstance(value, str):
            return {"rule": value}
        if isinstance(value, dict | ParsingSpec):
            return value
        raise ValueError(
            f"expected 'strict', 'json_label' or a mapping {{rule, strip_reasoning}}, found {repr(value)[:60]}"
        )

    @field_serializer("parsing")
    def _dump_parsing(self, value: ParsingSpec) -> str | dict[str, Any]:
        # Without stripping the rule is dumped bare, as before the mapping form existed: frozen
        # plans keep their canonical hash, and `{rule: strict}` hashes like `strict`.
        if not value.strip_reasoning:
            return value.rule
        return {"rule": value.rule, "strip_reasoning": True}


# --- arms and routing --------------------------------------------------------------------------


class RouterArmSpec(Spec):
    """A router arm: its classifier picks a label, the routing table picks the model."""

    id: Identifier
    kind: Literal["router"]
    classifier: ClassifierSpec
    description: str = ""


ArmSpec = Annotated[
    ControlArmSpec | RouterArmSpec | ReferenceArmSpec | ServiceArmSpec, Field(discriminator="kind")
]


class RoutingSpec(Spec):
    """Label -> downstream model (keys of ``models``); ``fallback`` takes failed routing decisions."""

    routes: dict[str, str]
    fallback: str


class GraderSpec(Spec):
    """How a downstream answer is graded against a case's reference answer in live mode.

    ``regex`` uses ``pattern`` when given, else the case's ``reference`` as the pattern.
    """

    kind: Literal["exact", "numeric", "regex", "judge"]
    tolerance: Finite = Field(default=0.0, ge=0.0)
    pattern: str | None = None
    judge_model: str | None = None


class Amendment(Spec):
    """Present in an amendment file: which frozen plan it amends and why."""

    parent_sha256: Sha256
    number: Whole = Field(ge=1, le=1_000_000)
    reason: str = Field(min_length=1)


class Plan(Spec):
    """A complete pre-registration."""

    schema_version: Literal[1] = 1
    study: StudySpec
    taxonomy: TaxonomySpec = Field(default_factory=TaxonomySpec)
    corpus: CorpusSpec
    models: dict[Identifier, ModelSpec]
    arms: list[ArmSpec] = Field(min_length=1)
    routing: RoutingSpec
    graders: dict[Identifier, GraderSpec] = Field(default_factory=dict)
    traffic: TrafficSpec
    randomization: RandomizationSpec
    sample_size: SampleSizeSpec
    outcomes: OutcomesSpec = Field(default_factory=OutcomesSpec)
    gates: list[GateSpec] = Field(min_length=1)
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec)
    amendment: Amendment | None = None
    servers: dict[Identifier, ServerSpec] = Field(default_factory=dict)  # started by a live run
    _dump = model_serializer(mode="wrap")(omit_no_servers)

    @field_validator("schema_version", mode="before")
    @classmethod
    def _version_not_a_boolean(cls, value: Any) -> Any:
        if isinstance(value, bool):  # True == 1 in Python: a boolean must not pass for the version
            raise ValueError(f"expected 1, found {value!r}")
        return value

    def arm(self, arm_id: str) -> ControlArmSpec | RouterArmSpec | ReferenceArmSpec | ServiceArmSpec:
        """The arm with this id."""
        for a in self.arms:
            if a.id == arm_id:
                return a
        raise KeyError(arm_id)

    @property
    def arm_ids(self) -> tuple[str, ...]:
        """Arm ids in plan order (the order used everywhere: allocation, store, report)."""
        return tuple(a.id for a in self.arms)

    @property
    def router_arms(self) -> tuple[RouterArmSpec, ...]:
        """The router arms in plan order."""
        return tuple(a for a in self.arms if isinstance(a, RouterArmSpec))

    def ratio_of(self, arm_id: str) -> int:
        """The allocation weight of an arm (1 when the plan gives no ratio)."""
        ratio = self.randomization.ratio
        return 1 if ratio is None else ratio.get(arm_id, 0)

    @property
    def backends(self) -> tuple[tuple[str, BackendSpec], ...]:
        """Every backend with its field path (``models.<key>.backend``, ``arms[<i>].classifier.backend``)."""
        found: list[tuple[str, BackendSpec]] = [
            (f"models.{key}.backend", model.backend) for key, model in self.models.items()
        ]
        for i, arm in enumerate(self.arms):
            if isinstance(arm, RouterArmSpec):
                found.append((f"arms[{i}].classifier.backend", arm.classifier.backend))
            elif isinstance(arm, ServiceArmSpec):
                found.append((f"arms[{i}].backend", arm.backend))
        return tuple(found)

    @property
    def decision_arms(self) -> tuple[str, ...]:
        """Ids of the arms whose routing decisions are judged by the gates: routers and services."""
        return tuple(a.id for a in self.arms if isinstance(a, RouterArmSpec | ServiceArmSpec))

    @property
    def time_models(self) -> frozenset[TimeModel]:
        """The time models every backend of the plan can run in (empty: the plan cannot run)."""
        common: frozenset[TimeModel] = frozenset(("virtual", "wall"))
        for _, backend in self.backends:
            common &= backend.TIME_MODELS
        return common

    @property
    def is_live(self) -> bool:
        """Whether the plan runs live: some backend needs the wall clock (it cannot run in virtual time)."""
        return any("virtual" not in backend.TIME_MODELS for _, backend in self.backends)
