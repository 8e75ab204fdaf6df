"""Meaning checks of a plan's managed servers: commands, ports and pinned model files.

Run by :func:`prereg.check.check_plan` among its other checks, reporting through the same
one-line problems (anything with a ``plan(path, message)`` method). Refused: servers in a plan
that does not run live (nothing would start them), an empty command, a placeholder that is
unknown or malformed (``{model_file}`` without a model file), a port outside 1-65535, two
servers on one port, and a model file that is missing or differs from its pinned SHA-256.
A backend's ``base_url`` is not compared with the servers: a live plan may use managed servers,
servers it does not manage, or both.

:func:`model_file_changes` is what ``verify`` adds to its list of changes: weights that changed
after freezing change no byte of the plan, so the lock alone would not see them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from prereg._check_backends import Problems
from prereg.errors import InputError
from prereg.loader import FieldPath, read_plan
from prereg.schema import Plan
from prereg.servers import PLACEHOLDERS, ModelFileSpec, model_file_path, placeholders_in

__all__ = ["check_servers", "file_sha256", "model_file_changes"]

_MAX_PORT = 65535


def file_sha256(path: Path) -> str | None:
    """The SHA-256 of a file, read in chunks (a model file is large); None when it cannot be read."""
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except (OSError, ValueError):  # ValueError: a NUL character in the path
        return None


def check_servers(plan: Plan, plan_path: Path, problems: Problems) -> None:
    """Report every problem of ``plan.servers`` (see the module docstring)."""
    if not plan.servers:
        return
    if not plan.is_live:
        problems.plan(
            ("servers",),
            "expected no managed servers in a simulated plan (only a live run starts them), "
            f"found {len(plan.servers)}",
        )
        return
    ports: dict[int, str] = {}
    for name, server in plan.servers.items():
        where: FieldPath = ("servers", name)
        if not server.command:
            problems.plan((*where, "command"), "expected the command as a list of arguments, found none")
        _check_arguments(server.command, (*where, "command"), server.model_file is not None, problems)
        if server.version is not None and server.version.kind == "command":
            if not server.version.command:
                problems.plan(
                    (*where, "version", "command"), "expected the command as a list of arguments, found none"
                )
            _check_arguments(
                server.version.command,
                (*where, "version", "command"),
                server.model_file is not None,
                problems,
            )
        if not 1 <= server.port <= _MAX_PORT:
            problems.plan((*where, "port"), f"expected a port from 1 to {_MAX_PORT}, found {server.port}")
        elif server.port in ports:
            problems.plan(
                (*where, "port"),
                f"expected a port of its own, found {server.port}, the port of servers.{ports[server.port]}",
            )
        ports.setdefault(server.port, name)
        if server.model_file is not None:
            problem = _model_file_problem(server.model_file, plan_path.parent)
            if problem is not None:
                problems.plan((*where, "model_file", problem[0]), problem[1])


def _check_arguments(args: list[str], where: FieldPath, has_model: bool, problems: Problems) -> None:
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    for i, arg in enumerate(args):
        names, malformed = placeholders_in(arg)
        if malformed is not None:
            problems.plan((*where, i), f"expected placeholders {known}, found {malformed}")
        for name in names:
            if name not in PLACEHOLDERS:
                problems.plan((*where, i), f"expected placeholders {known}, found {{{name}}}")
            elif name == "model_file" and not has_model:
                problems.plan((*where, i), "expected a model_file for {model_file} to stand for, found none")


def _model_file_problem(spec: ModelFileSpec, plan_dir: Path) -> tuple[str, str] | None:
    """The field and the one-line reason a model file does not match its pin; None when it does."""
    path = model_file_path(spec, plan_dir)
    if path is None:
        return "package", f"expected an installed Python package {spec.package!r}, found none"
    sha = file_sha256(path)
    if sha is None:
        return "path", f"expected a model file at {str(path)!r}, found no such file"
    if sha != spec.sha256:
        return "sha256", f"expected the pinned hash {spec.sha256}, found {sha} for {path}"
    return None


def model_file_changes(plan_path: Path) -> list[str]:
    """Each model file of the plan at ``plan_path`` that no longer matches its pin, described.

    A plan that does not load yields nothing here: its own change (plan bytes) is reported.
    """
    try:
        plan = read_plan(plan_path).plan
    except InputError:
        return []
    found = []
    for name, server in plan.servers.items():
        if server.model_file is None:
            continue
        problem = _model_file_problem(server.model_file, Path(plan_path).parent)
        if problem is not None:
            found.append(f"servers.{name}.model_file.{problem[0]}: {problem[1]}")
    return found
