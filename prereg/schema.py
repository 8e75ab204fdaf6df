"""The pre-registration plan: what people write in YAML, as pydantic models.

Every model forbids unknown keys (a typo must not silently become a default) and is frozen: a plan
is a record of intent, not a mutable config. Variants are picked by a ``kind`` field. This module
checks structure and per-field ranges only; cross-field meaning (labels in the taxonomy, routes to
defined models, sample size against the corpus) is checked in :mod:`prereg.check`, which can name
the exact field path that is wrong.

Figures in defaults come from ``shared/STUDY.md`` (Study 2: four arms, 60 cases x 5 replays per arm,
gates accuracy >= 0.85 and P95 <= 2,000 ms).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEFAULT_LABELS",
    "Amendment",
    "AnalysisSpec",
    "ArmSpec",
    "ArrivalSpec",
    "BootstrapSpec",
    "ClassifierBackendSpec",
    "ClassifierSpec",
    "ConfidenceBoundRule",
    "ConstantArrival",
    "ControlArmSpec",
    "CorpusSpec",
    "DecodingSpec",
    "DiurnalArrival",
    "FailureHandlingSpec",
    "FailureSpec",
    "GammaArrival",
    "GateSpec",
    "GraderSpec",
    "LatencySpec",
    "ModelBackendSpec",
    "ModelSpec",
    "MultiLabelRule",
    "OpenAIBackendSpec",
    "OutcomesSpec",
    "Plan",
    "PointEstimateRule",
    "PoissonArrival",
    "PriceSpec",
    "RandomizationSpec",
    "RetrySpec",
    "RouterArmSpec",
    "RoutingSpec",
    "SampleSizeSpec",
    "SimulatedClassifierSpec",
    "SimulatedModelSpec",
    "StoppingSpec",
    "StudySpec",
    "TaxonomySpec",
    "TokenSpec",
    "TraceArrival",
    "TrafficSpec",
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

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=64)]

# --- numbers -------------------------------------------------------------------------------------
# Every number of a plan is strict (no "5" or true where a number belongs; an integer is a number,
# a float is not an integer) and finite (no .inf, no NaN), and has an upper limit that this machine
# can run: a limit the schema states, so `check` refuses what `run` would crash or hang on.

#: A real number written as a number: finite, never a string or a boolean.
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
#: A whole number written as one: never a string, a boolean or a float.
Whole = Annotated[int, Field(strict=True)]
Probability = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0.0, le=1.0)]

#: Longest latency, RTT, backoff or lateness a plan may state (one hour).
MAX_DURATION_MS = 3_600_000.0
#: Longest request timeout (the design diagnosis uses 10^12 ms as "never times out").
MAX_TIMEOUT_MS = 1e12
#: Fastest and slowest arrival rates (requests per second).
MAX_RATE_PER_S = 1_000_000.0
MIN_RATE_PER_S = 1e-6
#: Most requests in one campaign (every trial is a row of the store).
MAX_REQUESTS = 10_000_000
#: Most unique cases in a corpus and replays of one case.
MAX_CASES = 1_000_000
MAX_REPLAYS = 100_000
#: Most bootstrap resamples (each one resamples every case).
MAX_RESAMPLES = 100_000
#: Seeds are 63-bit (NumPy seeds and the store's BIGINT).
MAX_SEED = 2**63 - 1
#: Most requests served at once by a simulated backend.
MAX_CONCURRENCY = 10_000
#: Most tokens: a request's max_tokens and a mean token count.
MAX_TOKENS = 1_000_000
#: Highest price in US dollars per 1,000 tokens.
MAX_PRICE_PER_1K = 1_000.0
#: Longest period or peak time of a diurnal arrival process (about 31.7 years).
MAX_PERIOD_S = 1e9
#: Largest allocation weight of one arm.
MAX_RATIO = 1_000
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- study, taxonomy, corpus -------------------------------------------------------------------


class StudySpec(_Spec):
    """Who runs the study and what it claims in advance."""

    title: str = Field(min_length=1)
    authors: list[str] = Field(min_length=1)
    hypotheses: list[str] = Field(min_length=1)
    rationale: str = ""


class MultiLabelRule(_Spec):
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


class TaxonomySpec(_Spec):
    """The label set a router chooses from."""

    labels: list[Identifier] = Field(default_factory=lambda: list(DEFAULT_LABELS), min_length=2)
    multi_label: MultiLabelRule = Field(default_factory=MultiLabelRule)


class CorpusSpec(_Spec):
    """The case file (JSON Lines: id, text, gold_labels, family) and its pinned SHA-256.

    ``path`` is relative to the plan file.
    """

    path: str = Field(min_length=1)
    sha256: Sha256


# --- models and backends -----------------------------------------------------------------------


class PriceSpec(_Spec):
    """US dollars per 1,000 tokens."""

    input_per_1k: Finite = Field(default=0.0, ge=0.0, le=MAX_PRICE_PER_1K)
    output_per_1k: Finite = Field(default=0.0, ge=0.0, le=MAX_PRICE_PER_1K)


class LatencySpec(_Spec):
    """A service-time distribution fitted to a median and a P95, served at finite concurrency.

    Service time is lognormal with the given median and 95th percentile over all requests (the
    marginal distribution); ``concurrency`` requests are served at once and the rest queue, so
    latency grows under load. ``network_rtt_ms`` is added for hosted APIs.

    ``case_icc`` is the share of the variance of the log service time that belongs to the case:
    ``log service = mu + sigma * (sqrt(case_icc) * a_c + sqrt(1 - case_icc) * e)`` with ``a_c``
    drawn once per case and ``e`` per request, both standard normal, so the median and P95 stay
    the given ones whatever ``case_icc``. Why: in live mode replays of a case share their prompt,
    hence their prefill, so their latencies are correlated, and a latency interval that treated
    them as independent would be too narrow; the simulation must show that. 0 makes every request
    independent; the default 0.5 is illustrative (measure it: the ICC of log latency by case in a
    pilot run).
    """

    median_ms: Finite = Field(gt=0.0, le=MAX_DURATION_MS)
    p95_ms: Finite = Field(gt=0.0, le=MAX_DURATION_MS)
    concurrency: Whole = Field(default=4, ge=1, le=MAX_CONCURRENCY)
    network_rtt_ms: Finite = Field(default=0.0, ge=0.0, le=MAX_DURATION_MS)
    case_icc: Finite = Field(
        default=0.5,
        ge=0.0,
        le=0.99,
        description="Share of the log service time's variance that belongs to the case (same prompt,"
        " same prefill): replays of one case are correlated as in live mode",
    )

    @model_validator(mode="after")
    def _p95_above_median(self) -> LatencySpec:
        if self.p95_ms <= self.median_ms:
            raise ValueError(f"p95_ms must exceed median_ms ({self.median_ms}), found {self.p95_ms}")
        return self


class FailureSpec(_Spec):
    """Rates of failures that are not timeouts (timeouts arise from latency against the timeout)."""

    http_error_rate: Probability = 0.0
    unparseable_rate: Probability = 0.0


class TokenSpec(_Spec):
    """Mean token counts per request, for cost."""

    input: Whole = Field(default=200, ge=0, le=MAX_TOKENS)
    output: Whole = Field(default=4, ge=0, le=MAX_TOKENS)


class SimulatedClassifierSpec(_Spec):
    """A calibrated simulated router classifier.

    ``accuracy`` is the marginal probability of a correct label per gold family. Each case has a
    difficulty drawn once (normal on the logit scale, SD ``case_difficulty_sd``), so replays of one
    case are correlated as a mostly deterministic router's are. A wrong answer is drawn from the
    ``confusion`` row of the gold family (uniform over the other labels when absent).
    """

    kind: Literal["simulated"]
    accuracy: dict[str, Probability]
    case_difficulty_sd: Finite = Field(default=1.5, ge=0.0, le=1_000.0)
    confusion: dict[str, dict[str, Annotated[Finite, Field(ge=0.0, le=1e6)]]] | None = None
    latency: LatencySpec
    failures: FailureSpec = Field(default_factory=FailureSpec)
    tokens: TokenSpec = Field(default_factory=TokenSpec)


class SimulatedModelSpec(_Spec):
    """A calibrated simulated downstream model.

    ``quality`` is the probability that the model answers a request of each task family correctly;
    a misrouted request is answered with the quality of the model it was sent to for its true family.
    """

    kind: Literal["simulated"]
    quality: dict[str, Probability]
    latency: LatencySpec
    failures: FailureSpec = Field(default_factory=FailureSpec)
    tokens: TokenSpec = Field(default_factory=lambda: TokenSpec(input=300, output=400))


class OpenAIBackendSpec(_Spec):
    """A live OpenAI-compatible chat-completions endpoint (vLLM, SGLang, Ollama, llama.cpp, DeepSeek).

    ``api_key_env`` is the *name* of the environment variable holding the key; the key itself never
    appears in the plan, the store, logs or the report.
    """

    kind: Literal["openai"]
    base_url: str = Field(pattern=r"^https?://")
    api_key_env: str | None = None
    structured: Literal["choice", "json_schema", "none"] = "none"
    stream: bool = True
    extra_body: dict[str, Any] = Field(default_factory=dict)


ClassifierBackendSpec = Annotated[SimulatedClassifierSpec | OpenAIBackendSpec, Field(discriminator="kind")]
ModelBackendSpec = Annotated[SimulatedModelSpec | OpenAIBackendSpec, Field(discriminator="kind")]


class DecodingSpec(_Spec):
    """Sampling settings sent with each request."""

    temperature: Finite = Field(default=0.0, ge=0.0, le=2.0)
    top_p: Finite = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: Whole = Field(default=16, ge=1, le=MAX_TOKENS)


class RetrySpec(_Spec):
    """Which failures are retried and how; retry time counts in the latency."""

    max_attempts: Whole = Field(default=1, ge=1, le=10)
    backoff_ms: Finite = Field(default=250.0, ge=0.0, le=MAX_DURATION_MS)
    retry_on: tuple[Literal["timeout", "http_error", "rate_limited", "connection_error"], ...] = (
        "rate_limited",
        "connection_error",
    )


class ModelSpec(_Spec):
    """A downstream answering model: the routing table's targets and the control's default."""

    model: str = Field(min_length=1, description="Model name sent to the server")
    backend: ModelBackendSpec
    price: PriceSpec = Field(default_factory=PriceSpec)
    decoding: DecodingSpec = Field(default_factory=lambda: DecodingSpec(max_tokens=512))
    timeout_ms: Finite = Field(default=60_000.0, gt=0.0, le=MAX_TIMEOUT_MS)
    retry: RetrySpec = Field(default_factory=RetrySpec)


class ClassifierSpec(_Spec):
    """A router arm's classifier: the model that reads a request and names its task family."""

    model: str = Field(min_length=1, description="Model name sent to the server")
    backend: ClassifierBackendSpec
    prompt_template: str = Field(min_length=1, description="Must contain {text} and {labels}")
    parsing: Literal["strict", "json_label"] = "strict"
    decoding: DecodingSpec = Field(default_factory=DecodingSpec)
    timeout_ms: Finite = Field(default=10_000.0, gt=0.0, le=MAX_TIMEOUT_MS)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    price: PriceSpec = Field(default_factory=PriceSpec)


# --- arms and routing --------------------------------------------------------------------------


class ControlArmSpec(_Spec):
    """The no-routing control: every request goes to ``model`` (a key of ``models``)."""

    id: Identifier
    kind: Literal["control"]
    model: str
    description: str = ""


class RouterArmSpec(_Spec):
    """A router arm: its classifier picks a label, the routing table picks the model."""

    id: Identifier
    kind: Literal["router"]
    classifier: ClassifierSpec
    description: str = ""


ArmSpec = Annotated[ControlArmSpec | RouterArmSpec, Field(discriminator="kind")]


class RoutingSpec(_Spec):
    """Label -> downstream model (keys of ``models``); ``fallback`` takes failed routing decisions."""

    routes: dict[str, str]
    fallback: str


class GraderSpec(_Spec):
    """How a downstream answer is graded against a case's reference answer in live mode.

    ``regex`` uses ``pattern`` when given, else the case's ``reference`` as the pattern.
    """

    kind: Literal["exact", "numeric", "regex", "judge"]
    tolerance: Finite = Field(default=0.0, ge=0.0)
    pattern: str | None = None
    judge_model: str | None = None


# --- traffic and randomization -----------------------------------------------------------------


class PoissonArrival(_Spec):
    """Exponential inter-arrival times at ``rate_per_s``."""

    kind: Literal["poisson"]
    rate_per_s: Finite = Field(ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S)


class ConstantArrival(_Spec):
    """Evenly spaced arrivals at ``rate_per_s``."""

    kind: Literal["constant"]
    rate_per_s: Finite = Field(ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S)


class GammaArrival(_Spec):
    """Gamma inter-arrival times; ``burstiness`` is their coefficient of variation (1 = Poisson)."""

    kind: Literal["gamma"]
    rate_per_s: Finite = Field(ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S)
    burstiness: Finite = Field(gt=0.0, le=100.0)


class DiurnalArrival(_Spec):
    """A non-homogeneous Poisson process whose rate follows a sinusoid over ``period_s``."""

    kind: Literal["diurnal"]
    mean_rate_per_s: Finite = Field(ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S)
    peak_to_trough: Finite = Field(default=3.0, ge=1.0, le=1_000.0)
    peak_at_s: Finite = Field(default=14 * 3600.0, ge=0.0, le=MAX_PERIOD_S)
    period_s: Finite = Field(default=86_400.0, ge=1.0, le=MAX_PERIOD_S)


class TraceArrival(_Spec):
    """Replay of a file of arrival timestamps (seconds, one per line, sorted); ``path`` is
    relative to the plan file."""

    kind: Literal["trace"]
    path: str = Field(min_length=1)
    sha256: Sha256 | None = None


ArrivalSpec = Annotated[
    PoissonArrival | ConstantArrival | GammaArrival | DiurnalArrival | TraceArrival,
    Field(discriminator="kind"),
]


class TrafficSpec(_Spec):
    """The synthetic request stream."""

    arrival: ArrivalSpec
    replays_per_case: Whole = Field(default=5, ge=1, le=MAX_REPLAYS)
    max_lateness_p99_ms: Finite = Field(
        default=10.0,
        gt=0.0,
        le=MAX_DURATION_MS,
        description="Live runs are marked invalid above this dispatch lateness",
    )


class RandomizationSpec(_Spec):
    """Requests are the unit of randomization, blocked by case; one seed derives everything."""

    unit: Literal["request"] = "request"
    block: Literal["case"] = "case"
    ratio: dict[str, Annotated[Whole, Field(le=MAX_RATIO)]] | None = Field(
        default=None, description="arm id -> weight; equal if absent"
    )
    seed: Whole = Field(ge=0, le=MAX_SEED)


class SampleSizeSpec(_Spec):
    """The declared size, checked against the corpus, the replays and the allocation ratio."""

    unique_cases: Whole = Field(ge=1, le=MAX_CASES)
    requests_total: Whole = Field(ge=1, le=MAX_REQUESTS)


# --- outcomes, gates, analysis -----------------------------------------------------------------


class OutcomesSpec(_Spec):
    """Primary and secondary outcomes, named before the data exist."""

    primary: tuple[Literal["routing_accuracy", "routing_latency_median", "routing_latency_p95"], ...] = (
        "routing_accuracy",
        "routing_latency_median",
        "routing_latency_p95",
    )
    secondary: tuple[Literal["cost", "e2e_latency", "downstream_quality"], ...] = (
        "cost",
        "e2e_latency",
        "downstream_quality",
    )


class PointEstimateRule(_Spec):
    """PASS or FAIL by the point estimate alone (never INCONCLUSIVE)."""

    kind: Literal["point_estimate"]


class ConfidenceBoundRule(_Spec):
    """PASS when the one-sided bound at ``level`` clears the threshold, FAIL when the opposite
    one-sided bound misses it, INCONCLUSIVE otherwise (including when no finite bound exists)."""

    kind: Literal["confidence_bound"]
    level: Finite = Field(default=0.95, gt=0.5, lt=1.0)


class GateSpec(_Spec):
    """A pre-registered viability gate for each router arm."""

    id: Identifier
    metric: Literal["routing_accuracy", "routing_latency_p95_ms", "routing_latency_median_ms"]
    op: Literal[">=", "<="]
    threshold: Finite = Field(ge=-1e12, le=1e12)
    rule: Annotated[PointEstimateRule | ConfidenceBoundRule, Field(discriminator="kind")] = Field(
        default_factory=lambda: ConfidenceBoundRule(kind="confidence_bound")
    )


class BootstrapSpec(_Spec):
    """Case-level (cluster) bootstrap settings."""

    resamples: Whole = Field(default=2000, ge=100, le=MAX_RESAMPLES)


class FailureHandlingSpec(_Spec):
    """How failed trials enter the analysis."""

    routing: Literal["count_as_wrong", "exclude"] = "count_as_wrong"
    latency: Literal["elapsed", "exclude"] = "elapsed"
    interrupted: Literal["exclude", "count_as_wrong"] = "exclude"


class StoppingSpec(_Spec):
    """When the campaign ends; only a fixed horizon is supported (no peeking)."""

    kind: Literal["fixed_horizon"] = "fixed_horizon"


class AnalysisSpec(_Spec):
    """The locked analysis plan."""

    ci_method: Literal["wilson", "clopper_pearson", "jeffreys", "agresti_coull"] = "wilson"
    alpha: Finite = Field(default=0.05, gt=0.0, lt=0.5)
    multiplicity: Literal["holm", "bonferroni", "none"] = "holm"
    unit: Literal["case", "request"] = "case"
    cluster_robust: Literal["bootstrap", "gee"] = "bootstrap"
    bootstrap: BootstrapSpec = Field(default_factory=BootstrapSpec)
    latency_interval: Literal["clustered", "order_statistic", "bootstrap"] = "clustered"
    min_cases: Whole = Field(
        default=10,
        ge=2,
        le=MAX_CASES,
        description="Fewest unique cases for an interval; below it an interval is null with a note",
    )
    family: tuple[Literal["router_vs_router", "router_vs_control", "downstream_groups"], ...] = Field(
        default=("router_vs_router", "router_vs_control"),
        description="The planned comparisons adjusted together by `multiplicity`; others are exploratory"
        " (the downstream groups by routing outcome are not randomized, so not in the default family)",
    )
    failures: FailureHandlingSpec = Field(default_factory=FailureHandlingSpec)
    stopping: StoppingSpec = Field(default_factory=StoppingSpec)
    exclusions: list[str] = Field(default_factory=list)


class Amendment(_Spec):
    """Present in an amendment file: which frozen plan it amends and why."""

    parent_sha256: Sha256
    number: Whole = Field(ge=1, le=1_000_000)
    reason: str = Field(min_length=1)


class Plan(_Spec):
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

    @field_validator("schema_version", mode="before")
    @classmethod
    def _version_not_a_boolean(cls, value: Any) -> Any:
        if isinstance(value, bool):  # True == 1 in Python: a boolean must not pass for the version
            raise ValueError(f"expected 1, found {value!r}")
        return value

    def arm(self, arm_id: str) -> ControlArmSpec | RouterArmSpec:
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
