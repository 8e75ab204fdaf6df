"""Secrets out of every text a live trial keeps: the values of the plan's ``api_key_env`` variables.

The value of every environment variable a plan names in an ``api_key_env`` is replaced by
``[redacted]`` in every text a live reply puts into a trial (error texts, the reply quoted in an
``unparseable`` error), whichever backend's key it is and whichever server echoed it, before the
trial is journalled, stored, printed or rendered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping

from prereg.schema import OpenAIBackendSpec, Plan

__all__ = ["REDACTED", "Redactor", "plan_secrets"]

#: What a secret is replaced with in any text of a trial.
REDACTED = "[redacted]"
#: A text cut by a length limit may end in the first characters of a key: from this many on,
#: such a tail is redacted as well.
_MIN_PREFIX = 4


class Redactor:
    """Replaces every occurrence of the given secrets in a text by :data:`REDACTED`.

    Each secret is matched as it is, without surrounding whitespace (a key read from a file may
    end in a newline that the header does not carry), and as ``repr`` and JSON would escape it (an
    error object quoted from a reply). A text that ends in the first characters of a secret (cut
    by a length limit) has that tail redacted too.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            for value in (secret, secret.strip()):
                if value:
                    forms |= {value, repr(value)[1:-1], json.dumps(value)[1:-1]}
        self._forms = tuple(sorted(forms, key=lambda v: (-len(v), v)))

    def __bool__(self) -> bool:
        return bool(self._forms)

    def text(self, value: str) -> str:
        """``value`` with every secret replaced."""
        for form in self._forms:
            value = value.replace(form, REDACTED)
        for form in self._forms:
            for n in range(len(form) - 1, min(_MIN_PREFIX, len(form)) - 1, -1):
                if value.endswith(form[:n]):
                    return value[: len(value) - n] + REDACTED
        return value

    def optional(self, value: str | None) -> str | None:
        """Like :meth:`text`; None stays None."""
        return None if value is None else self.text(value)


def plan_secrets(plan: Plan, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values of the environment variables named by the plan's ``api_key_env`` fields."""
    env = os.environ if environ is None else environ
    backends = [backend for _, backend in plan.backends]
    names = {b.api_key_env for b in backends if isinstance(b, OpenAIBackendSpec) and b.api_key_env}
    return tuple(sorted(v for v in (env.get(name) for name in names) if v))
