"""The starter pre-registration that ``routetrial init`` writes: a commented Study 2 plan and the
60-case corpus the project ships (docs/corpus.md)."""

from __future__ import annotations

from pathlib import Path

import jinja2

from prereg.canonical import bytes_hash
from prereg.errors import InputError

__all__ = ["STARTER_CORPUS", "init_plan", "render_starter_plan"]

_HERE = Path(__file__).resolve().parent
#: The shipped corpus: 60 cases, 10 per task family.
STARTER_CORPUS = _HERE / "corpus.jsonl"


def render_starter_plan(corpus_sha256: str, corpus_file: str = "corpus.jsonl") -> str:
    """The text of the starter plan, pinned to a corpus file and its SHA-256."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template("plan.yaml.j2").render(corpus_sha256=corpus_sha256, corpus_file=corpus_file)


def init_plan(folder: Path) -> tuple[Path, Path]:
    """Write ``plan.yaml`` and ``corpus.jsonl`` into ``folder`` (created if needed).

    Refuses to overwrite an existing plan, or a ``corpus.jsonl`` that differs from the starter
    corpus. Returns the plan and corpus paths.
    """
    folder = Path(folder)
    plan_path, corpus_path = folder / "plan.yaml", folder / "corpus.jsonl"
    if plan_path.exists():
        raise InputError("expected no plan here, found one; not overwriting it", file=str(plan_path))
    corpus = STARTER_CORPUS.read_bytes()
    if corpus_path.exists() and corpus_path.read_bytes() != corpus:
        raise InputError(
            "expected no corpus here, found a different one; not overwriting it", file=str(corpus_path)
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        corpus_path.write_bytes(corpus)
        with plan_path.open("x", encoding="utf-8") as handle:
            handle.write(render_starter_plan(bytes_hash(corpus)))
    except FileExistsError:
        raise InputError(
            "expected no plan here, found one; not overwriting it", file=str(plan_path)
        ) from None
    except OSError as exc:
        raise InputError(f"expected a writable folder, found {exc.strerror}", file=str(folder)) from None
    return plan_path, corpus_path
