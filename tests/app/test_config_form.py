"""Launch forms come from the config classes: every registered recipe gets widgets with its
defaults, bounds and choices."""

from __future__ import annotations

from app.components.config_form import form_fields
from core.recipes import config_types


def test_every_recipe_has_a_form():
    for recipe, config_type in config_types().items():
        fields = form_fields(config_type)
        assert all(field.name not in ("recipe", "version") for field in fields), recipe


def test_gptq_fields_carry_defaults_bounds_and_help():
    fields = {f.name: f for f in form_fields(config_types()["gptq"])}
    assert fields["bits"].kind == "int" and (fields["bits"].minimum, fields["bits"].maximum) == (2, 8)
    assert fields["group_size"].kind == "optional_int" and fields["group_size"].default == 64
    assert fields["act_order"].kind == "bool" and fields["skip"].kind == "names"
    assert fields["damping"].kind == "float" and "Hessian" in fields["damping"].help


def test_choices_come_from_literals():
    fields = {f.name: f for f in form_fields(config_types()["quanto"])}
    assert fields["weights"].choices == ("int8", "int4", "int2", "float8")
