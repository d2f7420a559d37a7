"""Launch forms come from the config classes: every registered recipe gets widgets with its
defaults, bounds and choices."""

from __future__ import annotations

import pytest

from app.components.config_form import form_fields
from core.recipes import config_types


def test_every_recipe_has_a_form():
    for recipe, config_type in config_types().items():
        fields = form_fields(config_type)
        assert all(field.name not in ("recipe", "version") for field in fields), recipe


def test_gptq_fields_carry_defaults_bounds_and_help():
    fields = {f.name: f for f in form_fields(config_types()["gptq"])}
    assert fields["bits"].kind == "int" and (fields["bits"].minimum, fields["bits"].maximum) == (
        2,
        8,
    )
    assert fields["group_size"].kind == "optional_int" and fields["group_size"].default == 64
    assert fields["act_order"].kind == "bool" and fields["skip"].kind == "names"
    assert fields["damping"].kind == "float" and "Hessian" in fields["damping"].help


def test_choices_come_from_literals():
    fields = {f.name: f for f in form_fields(config_types()["quanto"])}
    assert fields["weights"].choices == ("int8", "int4", "int2", "float8")


def _field(recipe: str, name: str):
    return next(f for f in form_fields(config_types()[recipe]) if f.name == name)


def test_numbers_are_parsed_exactly_as_typed_and_checked_against_their_bounds():
    from app.components.config_form import FieldError, parse_value

    bits = _field("gptq", "bits")
    assert parse_value(bits, " 3 ") == 3 and parse_value(bits, "4.0") == 4
    for typed in ("99", "-1", "1", "9"):
        with pytest.raises(FieldError, match="from 2 to 8"):
            parse_value(bits, typed)
    for typed in ("3.5", "three", "", "nan", "1_0", "inf", "4" * 100):
        with pytest.raises(FieldError):
            parse_value(bits, typed)
    sparsity = _field("wanda", "sparsity")
    assert sparsity.allowed() == "a number at least 0 and below 1"
    with pytest.raises(FieldError, match="at least 0 and below 1"):
        parse_value(sparsity, "-0.5")
    with pytest.raises(FieldError, match="below 1"):
        parse_value(sparsity, "1")
    assert parse_value(sparsity, "0.123456789") == 0.123456789
    group = _field("gptq", "group_size")
    assert parse_value(group, "12345678901234567890") == 12345678901234567890


def test_optional_fields_name_both_choices_plainly():
    group = _field("rtn", "group_size")
    assert group.none_label.startswith("per channel") and "none" not in group.none_label
    energy = _field("svd-lowrank", "energy")
    assert energy.none_label == "not used (rank by rank ratio)"
