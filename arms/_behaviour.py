"""Pure behaviour of the simulated backends: what a classifier or a model answers, and how slowly.

These objects know nothing of SimPy or of any clock: they turn a case into an outcome and a
*service time* (the time a server slot is busy with the request). The SimPy arms add queueing,
the network round trip, timeouts and retries around them; the live test server
(``routetrial serve``) sleeps for the service time and answers with the outcome.

Random numbers are drawn in vectorised blocks and consumed in call order, so a call costs a list
index and one multiplication rather than a generator call. Blocks grow from 256 to 65,536 draws
(doubling), so a short campaign does not pay for 65,536 draws per backend; the values drawn do not
depend on the block sizes (a PCG64 generator yields the same sequence whether ``random`` and
``lognormal`` are called once for ``n + m`` values or twice, for ``n`` then ``m``). The outcomes
are a deterministic function of the generator's seed, the corpus (its order included) and the
order of calls (in SimPy that order is itself deterministic). The ``replay`` argument is part of
the interface (a live server sees it) and does not enter the draws: replays of a case are related
through what was drawn for the case once, at construction (its difficulty and its latency effect).

Calibration (see :mod:`arms._calibration` and ``docs/calibration.md``): a classifier answers a case
of gold family ``f`` correctly with probability ``logistic(b_f + u_c)``, ``u_c ~ N(0, sd^2)``, where
``b_f`` makes the marginal accuracy equal the plan's ``accuracy[f]``.

Service time is lognormal with the plan's median and P95 *marginally* (over cases and requests),
with a case effect: ``log service = mu + sigma * (sqrt(icc) * a_c + sqrt(1 - icc) * e)``, where
``(mu, sigma)`` is :func:`~arms._calibration.fit_lognormal` of the median and P95, ``icc`` is
``latency.case_icc``, ``a_c ~ N(0, 1)`` is drawn once per case (in corpus order, from the backend's
generator, like the classifier's difficulty) and ``e ~ N(0, 1)`` afresh per request. The bracket
is standard normal whatever ``icc``, so the marginal median and P95 are the plan's exactly, and
``icc`` is the intra-case correlation of the log service time. Why: in live mode replays of a case
share their prompt and hence their prefill (and output length at temperature 0), so their
latencies are correlated; a simulation that drew them independently would make an interval that
treats requests as independent look calibrated when it is not. The per-case part
``exp(mu + sigma * sqrt(icc) * a_c)`` is computed once per case, the per-request part
``exp(sigma * sqrt(1 - icc) * e)`` a block at a time, so a request costs one product.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from functools import lru_cache
from itertools import accumulate

import numpy as np
from scipy.special import expit

from arms._calibration import fit_lognormal, solve_intercepts
from prereg.errors import ArmError
from prereg.records import Case, Status
from prereg.schema import FailureSpec, LatencySpec, SimulatedClassifierSpec, SimulatedModelSpec

__all__ = ["ClassifierBehaviour", "DeclaredLatency", "ModelBehaviour"]

_CHUNK = 65_536
_FIRST_CHUNK = 256

#: ``(p correct, right label, wrong labels, cumulative weights, latency scale)`` of a case.
_CaseRow = tuple[float, str, tuple[str, ...], tuple[float, ...], float]
_LabelRow = tuple[str, tuple[str, ...], tuple[float, ...]]


class _Draws:
    """Pre-drawn ``(within-case service factor, uniform)`` pairs, refilled a block at a time.

    Each request consumes exactly one pair: the uniform decides failure, correctness and the wrong
    label by successive rescaling (given ``u >= a``, ``(u - a) / (1 - a)`` is again uniform), so
    the i-th request of a backend always gets the i-th pair. The service time is the case's scale
    (:func:`_case_scales`) times the factor ``exp(sigma * sqrt(1 - icc) * e)``, ``e`` standard
    normal, drawn in blocks as ``lognormal(0, sigma * sqrt(1 - icc))`` (numpy computes that as
    ``exp(0 + s * e)`` from the same standard normal, so it is the same draw).
    """

    __slots__ = ("_i", "_next_size", "_s", "_s_rng", "_u", "_u_rng", "_within_sigma")

    def __init__(self, rng: np.random.Generator, latency: LatencySpec) -> None:
        # Separate child streams for the two kinds of draw, each a block at a time. Spawning does
        # not depend on (or move) the parent's state, so the parent's own draws (case difficulty,
        # case latency effects) are unaffected by the order of construction.
        self._u_rng, self._s_rng = rng.spawn(2)
        _, sigma = fit_lognormal(latency.median_ms, latency.p95_ms)
        self._within_sigma = sigma * math.sqrt(1.0 - latency.case_icc)
        self._u: list[float] = []
        self._s: list[float] = []
        self._i = 0
        self._next_size = _FIRST_CHUNK

    def next(self, case_scale: float) -> tuple[float, float]:
        """The next ``(service ms, uniform on [0, 1))`` for a case whose scale is ``case_scale``."""
        i = self._i
        if i == len(self._u):
            size = self._next_size
            self._next_size = min(2 * size, _CHUNK)
            self._u = self._u_rng.random(size).tolist()
            self._s = self._s_rng.lognormal(0.0, self._within_sigma, size).tolist()
            i = 0
        self._i = i + 1
        return case_scale * self._s[i], self._u[i]


def _case_scales(rng: np.random.Generator, cases: Sequence[Case], latency: LatencySpec) -> list[float]:
    """``exp(mu + sigma * sqrt(icc) * a_c)`` per case, in corpus order, ``a_c`` drawn from ``rng``.

    The ``a_c`` are drawn whatever ``icc`` (at 0 every scale is the median), so the generator is
    left in the same state and the rest of a backend's draws do not depend on ``case_icc``.
    """
    mu, sigma = fit_lognormal(latency.median_ms, latency.p95_ms)
    a = rng.standard_normal(len(cases))
    scales: list[float] = np.exp(mu + sigma * math.sqrt(latency.case_icc) * a).tolist()
    return scales


def _failure_thresholds(failures: FailureSpec) -> tuple[float, float, float]:
    """``(http, fail, rescale)``: u < http is an HTTP error, u < fail unparseable, and
    ``(u - fail) * rescale`` is a fresh uniform when neither."""
    http = failures.http_error_rate
    fail = http + failures.unparseable_rate
    if fail > 1.0:
        raise ArmError(f"failures: expected http_error_rate + unparseable_rate <= 1, found {fail:g}")
    return http, fail, (1.0 / (1.0 - fail) if fail < 1.0 else 0.0)


class ClassifierBehaviour:
    """A simulated router classifier: a label (or a failure) and a service time per request.

    Parameters are the plan's classifier spec, the taxonomy's labels, the corpus and a generator.
    Each case's difficulty ``u_c = sd * z_c`` is fixed at construction, ``z_c`` standard normal
    drawn from ``rng`` in corpus order, or given as ``case_z`` (one per case, in corpus order) when
    difficulty is shared between classifiers; then each case's latency effect ``a_c`` is drawn
    from ``rng``, in corpus order (see the module docstring). A correct answer names the case's
    primary family (or its first gold label when the family is not among them); a wrong answer is
    drawn from the spec's confusion row for the family, normalised over the labels that are not
    gold, or uniformly among those when the row is absent or puts no weight there. A case whose
    gold labels cover the whole taxonomy can only be answered correctly.
    """

    def __init__(
        self,
        spec: SimulatedClassifierSpec,
        labels: Sequence[str],
        cases: Sequence[Case],
        rng: np.random.Generator,
        *,
        case_z: Sequence[float] | None = None,
    ) -> None:
        label_set = tuple(labels)
        families = sorted({c.family for c in cases})
        missing = [f for f in families if f not in spec.accuracy]
        if missing:
            raise ArmError(
                f"classifier.backend.accuracy: expected a figure for every task family, "
                f"missing {', '.join(missing)}"
            )
        _check_confusion(spec, label_set)
        if case_z is None:
            z = rng.standard_normal(len(cases))
        else:
            z = np.asarray(case_z, dtype=float)
            if z.shape != (len(cases),):
                raise ArmError(f"case_z: expected {len(cases)} values, found {z.shape}")
        intercepts = _intercepts(tuple((f, spec.accuracy[f]) for f in families), spec.case_difficulty_sd)
        b = np.array([intercepts[c.family] for c in cases])
        self.difficulty: dict[str, float] = {}
        p_correct = expit(b + spec.case_difficulty_sd * z) if len(cases) else b
        scales = _case_scales(rng, cases, spec.latency)
        self._rows: dict[str, _CaseRow] = {}
        # the labels a case can get depend on its family and gold labels only: one row per kind
        kinds: dict[tuple[str, tuple[str, ...]], _LabelRow] = {}
        for case, u, p, scale in zip(
            cases, (spec.case_difficulty_sd * z).tolist(), p_correct.tolist(), scales, strict=True
        ):
            self.difficulty[case.id] = u
            kind = (case.family, case.gold_labels)
            if kind not in kinds:
                kinds[kind] = _label_row(case, label_set, spec)
            self._rows[case.id] = (float(p), *kinds[kind], scale)
        self._http, self._fail, self._rescale = _failure_thresholds(spec.failures)
        self._draws = _Draws(rng, spec.latency)

    def probability_correct(self, case_id: str) -> float:
        """The probability that this case is labelled correctly on any one request."""
        return self._rows[case_id][0]

    def decide(self, case: Case, replay: int) -> tuple[str | None, Status, float]:
        """``(label, status, service_ms)`` for one request; the label is None on a failure."""
        try:
            p, right, wrong, cum, scale = self._rows[case.id]
        except KeyError:
            raise ArmError(f"case {case.id!r}: not in the corpus this classifier was built for") from None
        service, u = self._draws.next(scale)
        fail = self._fail
        if u < fail:
            return None, ("http_error" if u < self._http else "unparseable"), service
        u = (u - fail) * self._rescale
        if u < p or not wrong:
            return right, "ok", service
        return wrong[bisect_right(cum, (u - p) / (1.0 - p))], "ok", service


def _check_confusion(spec: SimulatedClassifierSpec, labels: tuple[str, ...]) -> None:
    for family, row in (spec.confusion or {}).items():
        for label, weight in row.items():
            if label not in labels:
                raise ArmError(
                    f"classifier.backend.confusion.{family}.{label}: expected a taxonomy label, "
                    f"found {label!r}"
                )
            if not weight >= 0.0 or math.isinf(weight):
                raise ArmError(
                    f"classifier.backend.confusion.{family}.{label}: expected a finite weight "
                    f">= 0, found {weight}"
                )


@lru_cache(maxsize=256)
def _intercepts(accuracy: tuple[tuple[str, float], ...], difficulty_sd: float) -> dict[str, float]:
    """:func:`solve_intercepts`, remembered: a design diagnosis builds the same classifiers for
    thousands of simulations (callers must not mutate the dict)."""
    return solve_intercepts(dict(accuracy), difficulty_sd)


def _label_row(case: Case, labels: tuple[str, ...], spec: SimulatedClassifierSpec) -> _LabelRow:
    """``(right, wrong labels, cumulative weights)`` of a case: see :class:`ClassifierBehaviour`."""
    gold = set(case.gold_labels)
    right = case.family if case.family in gold else case.gold_labels[0]
    wrong = tuple(label for label in labels if label not in gold)
    row = (spec.confusion or {}).get(case.family, {})
    weights = [row.get(label, 0.0) for label in wrong]
    if sum(weights) <= 0.0:
        weights = [1.0] * len(wrong)
    # Drop zero-weight labels so a uniform can never land on them; the last bound is exactly 1 so
    # a uniform on [0, 1) always finds a label.
    kept = [(label, w) for label, w in zip(wrong, weights, strict=True) if w > 0.0]
    total = sum(w for _, w in kept)
    cum = [c / total for c in accumulate(w for _, w in kept)]
    if cum:
        cum[-1] = 1.0
    return right, tuple(label for label, _ in kept), tuple(cum)


class ModelBehaviour:
    """A simulated downstream model: whether it answers correctly, and its service time.

    A request is answered correctly with probability ``quality[case.family]``: the quality of the
    model the request reached, for the request's *true* family, so a misrouted request is answered
    as well as the wrong model answers that kind of request. Correctness and failures are drawn
    independently per request. Service times carry a per-case effect (the module docstring): the
    corpus is given so that each case's latency effect ``a_c`` is drawn once, from ``rng`` in corpus
    order; a request for a case outside it is an :class:`~prereg.errors.ArmError`.
    """

    def __init__(self, spec: SimulatedModelSpec, cases: Sequence[Case], rng: np.random.Generator) -> None:
        quality = dict(spec.quality)
        scales = _case_scales(rng, cases, spec.latency)
        # A case whose family has no quality figure is kept out of the rows and raises on use, as
        # before the case effect (a server for a partial plan still starts).
        self._rows: dict[str, tuple[float, float]] = {
            c.id: (quality[c.family], scale)
            for c, scale in zip(cases, scales, strict=True)
            if c.family in quality
        }
        self._corpus = frozenset(c.id for c in cases)
        self._http, self._fail, self._rescale = _failure_thresholds(spec.failures)
        self._draws = _Draws(rng, spec.latency)

    def answer(self, case: Case, replay: int) -> tuple[bool, Status, float]:
        """``(correct, status, service_ms)`` for one request; ``correct`` is False on a failure."""
        try:
            q, scale = self._rows[case.id]
        except KeyError:
            if case.id in self._corpus:
                raise ArmError(
                    f"backend.quality: expected a figure for task family {case.family!r}, found none"
                ) from None
            raise ArmError(f"case {case.id!r}: not in the corpus this model was built for") from None
        service, u = self._draws.next(scale)
        fail = self._fail
        if u < fail:
            return False, ("http_error" if u < self._http else "unparseable"), service
        return (u - fail) * self._rescale < q, "ok", service


class DeclaredLatency:
    """A declared service time, drawn per request exactly as a simulated classifier's is.

    For a backend whose decision is computed, not simulated (``keyword``, ``python``,
    ``embedding``, ``tfidf``), in virtual time: each case's latency effect is drawn from ``rng``
    once, in corpus order (:func:`_case_scales`), then one pair of :class:`_Draws` per request,
    in call order, so a simulated campaign stays a deterministic function of the frozen plan.
    """

    __slots__ = ("_draws", "_scales")

    def __init__(self, rng: np.random.Generator, cases: Sequence[Case], latency: LatencySpec) -> None:
        self._scales = dict(zip((c.id for c in cases), _case_scales(rng, cases, latency), strict=True))
        self._draws = _Draws(rng, latency)

    def next(self, case: Case) -> float:
        """The service time (ms) of the next request, for ``case``."""
        try:
            scale = self._scales[case.id]
        except KeyError:
            raise ArmError(f"case {case.id!r}: not in the corpus this backend was built for") from None
        service, _ = self._draws.next(scale)
        return service
