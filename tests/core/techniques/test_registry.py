"""Recipes are built from slugs and settings, validated, round-tripped and applied in one place."""

from __future__ import annotations

import pytest
import torch

import core.inference  # noqa: F401  (registers the inference-time techniques)
import core.quantization  # noqa: F401  (registers the quantizers)
from core.engine.models import load_model
from core.recipes import build_config, config_from_json, config_types
from core.recipes.base import InvalidRecipeError, Requirements
from core.techniques.context import ApplyContext
from core.techniques.registry import apply
from taxonomy.recipes import RECIPE_SLUGS

CPU = ApplyContext(device=torch.device("cpu"))


def test_every_registered_recipe_is_a_taxonomy_recipe():
    assert set(config_types()) <= RECIPE_SLUGS


@pytest.mark.parametrize("recipe", sorted(config_types()))
def test_every_config_round_trips_through_json(recipe):
    config = build_config(recipe)
    assert config_from_json(config.to_json()) == config
    assert config.version >= 1


def test_unknown_recipes_and_settings_are_named():
    with pytest.raises(InvalidRecipeError, match="unknown recipe 'rtm'"):
        build_config("rtm")
    with pytest.raises(InvalidRecipeError, match="bits: Input should be less than or equal to 8"):
        build_config("rtn", {"bits": 9})
    with pytest.raises(InvalidRecipeError, match="colour: Extra inputs are not permitted"):
        build_config("rtn", {"colour": "red"})


def test_configs_are_frozen():
    config = build_config("rtn")
    with pytest.raises(Exception):
        config.bits = 3


def test_requirements_explain_what_is_missing():
    needs = Requirements(cuda=True, packages=("surely_not_installed_pkg",))
    reasons = needs.unmet(torch.device("cpu"))
    assert "needs a CUDA GPU" in reasons
    assert "needs the optional package 'surely_not_installed_pkg'" in reasons


def test_apply_reports_what_it_changed():
    tiny = load_model("tiny")
    report = apply(tiny.model, build_config("rtn", {"bits": 4, "group_size": 32}), CPU)
    # 2 layers x (q, k, v, o, gate, up, down); lm_head is skipped by default.
    assert (report.recipe, report.execution, report.modules) == ("rtn", "simulated", 14)
