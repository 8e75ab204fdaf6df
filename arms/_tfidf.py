"""The ``tfidf`` backend: a TF-IDF + logistic-regression baseline trained on the plan's examples.

Trained once, when the arm is built (before the clock), on the examples file the plan pins
(:mod:`prereg.examples`): word n-grams ``1..max_ngram`` of the lower-cased text with sub-linear
term frequency (scikit-learn's ``TfidfVectorizer``), then a logistic regression (``lbfgs``,
multinomial, ``C = c``, ``random_state = 0``), so the same file trains the same router. A
decision is the most probable label; when its probability is below ``abstain_below`` the router
abstains (status ``abstained``: the routing ``fallback`` takes the request). A baseline worth
beating: a learnt router that does not beat word counts is not worth its latency. Everything
else (time models, threads, failures) is :mod:`arms._in_process`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from arms._backend import Backend, LiveContext, VirtualContext
from arms._in_process import Decision, InProcessClassifier, import_optional, pinned_examples, virtual_endpoint
from arms._simulated_endpoint import Endpoint
from prereg.backends import TfidfClassifierSpec
from prereg.errors import ArmError
from prereg.examples import Example
from prereg.schema import RouterArmSpec

__all__ = ["TFIDF", "TfidfRouter"]

#: Iterations of lbfgs: far more than a few thousand examples need, so it always converges.
_MAX_ITER = 1_000


class TfidfRouter:
    """Decisions of the trained TF-IDF + logistic regression (a :class:`~arms._in_process.TextRouter`)."""

    def __init__(self, spec: TfidfClassifierSpec, examples: Sequence[Example], where: str) -> None:
        text = import_optional("sklearn.feature_extraction.text", f"{where}.kind")
        linear = import_optional("sklearn.linear_model", f"{where}.kind")
        self._floor = spec.abstain_below
        self._vectorizer: Any = text.TfidfVectorizer(
            ngram_range=(1, spec.max_ngram), lowercase=True, sublinear_tf=True
        )
        features = self._vectorizer.fit_transform([e.text for e in examples])
        self._model: Any = linear.LogisticRegression(C=spec.c, max_iter=_MAX_ITER, random_state=0)
        self._model.fit(features, [e.label for e in examples])
        self._classes = [str(c) for c in self._model.classes_]

    def best(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """``(label, probability)`` per text: the most probable label, before abstaining."""
        probabilities = np.asarray(self._model.predict_proba(self._vectorizer.transform(list(texts))))
        top = np.argmax(probabilities, axis=1)
        return [(self._classes[int(i)], float(row[i])) for i, row in zip(top, probabilities, strict=True)]

    def decide(self, texts: Sequence[str]) -> list[Decision]:
        """One decision per text: the most probable label, or an abstention below ``abstain_below``."""
        floor = self._floor
        out: list[Decision] = []
        for label, p in self.best(texts):
            if floor is not None and p < floor:
                out.append(
                    (
                        None,
                        "abstained",
                        f"tfidf: probability {p:.3f} of {label} is below abstain_below {floor:g}",
                    )
                )
            else:
                out.append((label, "ok", None))
        return out


def _router(plan_dir: Path | None, labels: Sequence[str], index: int, arm: RouterArmSpec) -> TfidfRouter:
    where = f"arms[{index}].classifier.backend"
    spec = arm.classifier.backend
    if not isinstance(spec, TfidfClassifierSpec):  # the registry dispatches on kind: a bug if hit
        raise ArmError(f"{where}.kind: expected 'tfidf', found {spec.kind!r}")
    examples = pinned_examples(spec.examples, plan_dir, labels, where)
    return TfidfRouter(spec, examples, where)


_ERRORS = {
    "abstained": "tfidf router: the best probability is below abstain_below",
    "router_error": "tfidf router: the model raised an exception",
}


def virtual_classifier(ctx: VirtualContext, index: int, arm: RouterArmSpec) -> Endpoint[str]:
    """The tfidf router of ``plan.arms[index]`` in virtual time."""
    router = _router(ctx.plan_dir, ctx.plan.taxonomy.labels, index, arm)
    assert isinstance(arm.classifier.backend, TfidfClassifierSpec)  # _router refused others
    return virtual_endpoint(ctx, arm, router, arm.classifier.backend.latency, _ERRORS)


def live_classifier(ctx: LiveContext, index: int, arm: RouterArmSpec) -> InProcessClassifier:
    """The tfidf router of ``plan.arms[index]`` on the wall clock."""
    router = _router(ctx.plan_dir, ctx.plan.taxonomy.labels, index, arm)
    assert isinstance(arm.classifier.backend, TfidfClassifierSpec)
    return InProcessClassifier(router, arm.classifier, arm.classifier.backend.concurrency, "tfidf")


#: The registry's entry: a classifier in both time models; no downstream model.
TFIDF = Backend(virtual_classifier=virtual_classifier, live_classifier=live_classifier)
