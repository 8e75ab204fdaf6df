"""The one jinja2 environment of the report: autoescaping, strict about undefined names.

Corpus text, model output and error messages are untrusted; with ``autoescape=True`` every value
a template prints is HTML-escaped unless it is explicitly marked safe (only the SVG our own code
produced is). ``StrictUndefined`` turns a misspelt name in a template into an error instead of an
empty cell in a report someone relies on.
"""

from __future__ import annotations

import functools

from jinja2 import Environment, PackageLoader, StrictUndefined

__all__ = ["environment"]


def _thousands(value: int | float) -> str:
    return f"{value:,}"


@functools.cache
def environment() -> Environment:
    """The shared environment, loading templates from ``reports/templates``."""
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["thousands"] = _thousands
    return env
