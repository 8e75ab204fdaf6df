"""The installed routetrial's version, as the lock, the store and the report record it."""

from __future__ import annotations

import importlib.metadata

__all__ = ["UNKNOWN_VERSION", "version"]

#: Recorded when routetrial runs from a source tree that was never installed (a PEP 440 local version).
UNKNOWN_VERSION = "0+unknown"


def version() -> str:
    """The version of the installed ``routetrial`` distribution, else :data:`UNKNOWN_VERSION`."""
    try:
        return importlib.metadata.version("routetrial")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - source checkout only
        return UNKNOWN_VERSION
