"""Loading a plan file: safe YAML only, and one-line errors with file, field path and line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from strategies import small_plan, write_plan

from prereg.errors import InputError, PlanSchemaError, PlanSyntaxError
from prereg.loader import format_path, load_plan, read_plan


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(exc: pytest.ExceptionInfo[InputError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_loads_a_valid_plan(tmp_path: Path) -> None:
    """A valid plan file loads into a Plan."""
    plan = load_plan(write_plan(tmp_path))
    assert plan.study.title == "Small test study"


def test_malformed_yaml_names_line_and_column(tmp_path: Path) -> None:
    """An unclosed flow sequence is reported with its line and column."""
    path = _write(tmp_path, "study:\n  authors: [a, b\ncorpus: {}\n")
    with pytest.raises(PlanSyntaxError) as exc:
        load_plan(path)
    assert _error(exc).startswith(f"{path}: line 3, column 7: ")


def test_duplicate_key_is_a_syntax_error(tmp_path: Path) -> None:
    """YAML would keep the last of two equal keys; the loader refuses them."""
    path = _write(tmp_path, "study: 1\nstudy: 2\n")
    with pytest.raises(PlanSyntaxError, match="line 2, column 1: duplicate key 'study'"):
        load_plan(path)


def test_python_tags_are_refused(tmp_path: Path) -> None:
    """The safe loader builds no Python objects."""
    path = _write(tmp_path, "study: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(PlanSyntaxError, match="line 1, column 8: could not determine a constructor"):
        load_plan(path)


def test_alias_expansion_is_bounded(tmp_path: Path) -> None:
    """Nested aliases that would expand to millions of values are refused."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    with pytest.raises(PlanSyntaxError, match="alias expansion"):
        load_plan(_write(tmp_path, "\n".join(lines) + "\n"))


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    """A misspelt field names its path, its line and the closest known key."""
    data = small_plan()
    data["arms"][1]["classifier"]["timeot_ms"] = 5
    with pytest.raises(PlanSchemaError) as exc:
        load_plan(write_plan(tmp_path, data))
    assert "arms[1].classifier.timeot_ms: unknown key 'timeot_ms': did you mean 'timeout_ms'?" in _error(exc)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    """An unknown section gets the closest section name suggested."""
    data = small_plan()
    data["gate"] = data.pop("gates")
    with pytest.raises(PlanSchemaError, match="gate: unknown key 'gate': did you mean 'gates'"):
        load_plan(write_plan(tmp_path, data))


def test_wrong_type_names_expected_and_found(tmp_path: Path) -> None:
    """A string where a number belongs reads: expected a valid number, found 'fast'."""
    data = small_plan()
    data["traffic"]["arrival"]["rate_per_s"] = "fast"
    with pytest.raises(PlanSchemaError) as exc:
        load_plan(write_plan(tmp_path, data))
    assert "traffic.arrival.rate_per_s: expected a valid number, found 'fast'" in _error(exc)


def test_out_of_range_value_names_the_dotted_path(tmp_path: Path) -> None:
    """A negative timeout names ``arms[1].classifier.timeout_ms`` and the line it is on."""
    data = small_plan()
    data["arms"][1]["classifier"]["timeout_ms"] = -5
    path = write_plan(tmp_path, data)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "timeout_ms: -5" in text)
    with pytest.raises(PlanSchemaError) as exc:
        load_plan(path)
    assert _error(exc).endswith(
        f"arms[1].classifier.timeout_ms: expected greater than 0, found -5 (line {line})"
    )


def test_bad_kind_suggests_a_variant(tmp_path: Path) -> None:
    """A misspelt ``kind`` lists the variants and suggests the closest."""
    data = small_plan()
    data["arms"][1]["kind"] = "routr"
    with pytest.raises(
        PlanSchemaError,
        # the reference arms' kinds follow: 'fixed', 'random', 'oracle'
        match=r"arms\[1\]\.kind: expected one of 'control', 'router', .*'oracle'.*, found 'routr' \(did you mean 'router'\?\)",
    ):
        load_plan(write_plan(tmp_path, data))


def test_missing_section_and_more_errors_are_counted(tmp_path: Path) -> None:
    """Only the first error is reported; the others are counted."""
    data = small_plan()
    del data["sample_size"]
    data["traffic"]["arrival"]["rate_per_s"] = -1
    with pytest.raises(PlanSchemaError) as exc:
        load_plan(write_plan(tmp_path, data))
    assert "traffic.arrival.rate_per_s: expected greater than or equal to 0.000001, found -1" in _error(exc)
    assert _error(exc).endswith("(and 1 more)")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    """A YAML list is not a plan."""
    with pytest.raises(PlanSchemaError, match="expected a mapping of plan sections, found a list of 2"):
        load_plan(_write(tmp_path, "- a\n- b\n"))


def test_missing_file(tmp_path: Path) -> None:
    """A plan path that does not exist is a one-line input error."""
    with pytest.raises(InputError, match="expected a plan file, found no such file"):
        load_plan(tmp_path / "nope.yaml")


def test_line_of_falls_back_to_the_nearest_ancestor(tmp_path: Path) -> None:
    """Fields absent from the file (defaults) are located at their nearest written ancestor."""
    loaded = read_plan(write_plan(tmp_path))
    text = loaded.data.decode().splitlines()
    line = loaded.line_of(("traffic", "max_lateness_p99_ms"))
    assert line is not None and text[line - 1].startswith("traffic:")


def test_format_path_quotes_unusual_keys() -> None:
    """Keys with dots are bracketed so the path stays unambiguous."""
    assert format_path(("models", "qwen2.5", "price")) == "models['qwen2.5'].price"
    assert format_path(("arms", 1, "classifier")) == "arms[1].classifier"


def test_yaml_fixture_roundtrip_is_plain_data(tmp_path: Path) -> None:
    """The fixture writer emits plain YAML that safe_load reads back unchanged."""
    path = write_plan(tmp_path)
    assert yaml.safe_load(path.read_text()) == small_plan()


def test_a_key_ending_in_a_newline_is_quoted_in_one_line(tmp_path: Path) -> None:
    """An unknown key ``"A\\n"`` is shown quoted in the field path, so the error stays one line."""
    from prereg.loader import format_path

    assert format_path(("A\n",)) == "['A\\n']"
    assert format_path(("arms", 1, "timeout_ms")) == "arms[1].timeout_ms"
