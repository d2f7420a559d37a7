"""core.recipes builds every config without torch (the app never loads it), and its catalog
matches the handlers the technique packages register."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

import core.distillation  # noqa: F401  (registers knowledge distillation)
import core.inference  # noqa: F401  (registers the inference-time techniques)
import core.lowrank  # noqa: F401  (registers low-rank factorization)
import core.pruning  # noqa: F401  (registers the pruners)
import core.quantization  # noqa: F401  (registers the quantizers)
from core.recipes import CONFIG_TYPES, build_config, config_types
from core.recipes.base import Requirements, TechniqueConfig
from core.techniques.registry import handled_types, register

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_configs_build_without_importing_torch():
    # A fresh interpreter: this one has torch loaded by the imports above.
    code = ("import core.recipes, sys; core.recipes.build_config('gptq', {'bits': 4}); "
            "assert 'torch' not in sys.modules, 'core.recipes imported torch'")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_every_config_has_a_handler_and_every_handler_a_config():
    assert set(config_types().values()) == set(CONFIG_TYPES) == handled_types()


def test_every_recipe_a_taxonomy_node_may_name_is_implemented():
    from taxonomy.recipes import RECIPE_SLUGS

    assert RECIPE_SLUGS == set(config_types())


def test_a_handler_needs_its_config_in_the_catalog():
    class StrayConfig(TechniqueConfig):
        recipe: Literal["stray"] = "stray"

    with pytest.raises(RuntimeError, match="StrayConfig is not in core.recipes.CONFIG_TYPES"):
        register(StrayConfig)


def test_configs_carry_their_recipe_slug():
    for recipe, config_type in config_types().items():
        assert config_type.recipe_name() == recipe
        assert build_config(recipe).recipe == recipe


def test_requirements_take_a_device_name():
    needs = Requirements(cuda=True)
    assert needs.unmet("cpu") == ["needs a CUDA GPU"]
    assert needs.unmet("cuda:0") == [] and needs.unmet("cuda") == []
