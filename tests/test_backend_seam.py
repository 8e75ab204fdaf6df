"""The backend seam: every backend kind of the schema has its registry entry, and the recipe holds.

A backend is a schema variant, one module in ``arms/`` and one registry line (DEVELOPERS.md,
"Adding a backend"); these tests keep the registry, the variants' declared time models and roles,
and that recipe in step.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from arms import BACKENDS
from prereg.backends import Backend as BackendVariant
from prereg.schema import ClassifierBackendSpec, ModelBackendSpec, Plan

ROOT = Path(__file__).resolve().parent.parent


def _variants(union: object) -> dict[str, type[BackendVariant]]:
    """``kind`` -> variant class of an ``Annotated[A | B, discriminator]`` union."""
    members = typing.get_args(typing.get_args(union)[0])
    out: dict[str, type[BackendVariant]] = {}
    for cls in members:
        (kind,) = typing.get_args(cls.model_fields["kind"].annotation)
        out[kind] = cls
    return out


CLASSIFIERS = _variants(ClassifierBackendSpec)
MODELS = _variants(ModelBackendSpec)


def test_the_registry_covers_every_backend_kind_of_the_schema() -> None:
    """The registry's kinds are exactly the kinds of the classifier and model unions."""
    assert set(BACKENDS) == set(CLASSIFIERS) | set(MODELS)


@pytest.mark.parametrize("kind", sorted(set(CLASSIFIERS) | set(MODELS)))
def test_factories_match_the_declared_roles_and_time_models(kind: str) -> None:
    """A factory exists for a role and time model exactly when the schema allows the kind there."""
    entry = BACKENDS[kind]
    for role, variants in (("classifier", CLASSIFIERS), ("model", MODELS)):
        declared = variants[kind].TIME_MODELS if kind in variants else frozenset()
        assert (getattr(entry, f"virtual_{role}") is not None) == ("virtual" in declared), role
        assert (getattr(entry, f"live_{role}") is not None) == ("wall" in declared), role


def test_every_variant_declares_its_time_models() -> None:
    """``TIME_MODELS`` is a non-empty subset of virtual/wall on every variant; simulated and openai as documented."""
    for cls in [*CLASSIFIERS.values(), *MODELS.values()]:
        assert cls.TIME_MODELS and {"virtual", "wall"} >= cls.TIME_MODELS, cls
    assert CLASSIFIERS["simulated"].TIME_MODELS == MODELS["simulated"].TIME_MODELS == {"virtual"}
    assert {"wall"} == CLASSIFIERS["openai"].TIME_MODELS
    assert "keyword" not in MODELS  # classifier only


def _recipe() -> str:
    text = (ROOT / "DEVELOPERS.md").read_text(encoding="utf-8")
    match = re.search(r"^## Adding a backend\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, "DEVELOPERS.md has no 'Adding a backend' section"
    return match.group(1)


def test_the_recipe_names_at_most_three_code_files() -> None:
    """The numbered steps of the recipe name three files: schema variant, arms module, registry."""
    steps = re.findall(r"^\d+\. `([^`]+)`", _recipe(), re.M)
    assert steps == ["prereg/backends.py", "arms/_<kind>.py", "arms/_registry.py"]


def test_the_keyword_backend_touched_only_the_recipes_files() -> None:
    """The keyword backend's code is named in the recipe's three files and no other source file."""
    sources = [*(ROOT / "prereg").rglob("*.py"), *(ROOT / "arms").rglob("*.py")]
    pattern = re.compile(r"KeywordClassifierSpec|\bKEYWORD\b|arms\._keyword|MAX_KEYWORD")
    touched = sorted(
        str(p.relative_to(ROOT)) for p in sources if pattern.search(p.read_text(encoding="utf-8"))
    )
    assert touched == ["arms/_keyword.py", "arms/_registry.py", "prereg/backends.py"]
    registry = (ROOT / "arms" / "_registry.py").read_text(encoding="utf-8")
    assert len(re.findall(r'^    "keyword": KEYWORD,$', registry, re.M)) == 1


def test_is_live_follows_the_time_models() -> None:
    """A plan is live when a backend cannot run in virtual time; the live runner asks the same."""
    from _live_plans import live_plan, sim_plan

    from experiment.campaign.live import is_live_plan

    simulated, live = sim_plan(), live_plan("http://127.0.0.1:9/v1")
    assert (simulated.is_live, live.is_live) == (False, True)
    assert (is_live_plan(simulated), is_live_plan(live)) == (False, True)
    assert simulated.time_models == {"virtual"} and live.time_models == {"wall"}
    assert isinstance(simulated, Plan)
