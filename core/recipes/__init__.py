"""Every technique config the engine can run, by recipe slug: building one from settings,
rebuilding one from its JSON, and the catalog itself.

Torch-free (pydantic only): the app imports this to build recipes, validate settings and
generate launch forms, and never loads the engine. The handlers that apply these configs
live in core/quantization, core/inference, ... and register against the catalog below
(core.techniques.registry), which refuses a config type that is not listed here.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from core.recipes.base import InvalidRecipeError, TechniqueConfig, validation_problems
from core.recipes.distillation import LogitDistillationConfig
from core.recipes.inference import (
    AttentionImplementationConfig,
    CacheCompileConfig,
    PromptLookupConfig,
    QuantizedKVCacheConfig,
    SpeculativeDecodingConfig,
)
from core.recipes.lowrank import SVDLowRankConfig
from core.recipes.pruning import (
    HeadPruningConfig,
    LayerDropConfig,
    MagnitudePruningConfig,
    MLPChannelPruningConfig,
    NMSparsityConfig,
    OWLConfig,
    SparseGPTConfig,
    WandaConfig,
)
from core.recipes.quantization import (
    AutoRoundConfig,
    AWQConfig,
    BnbNF4Config,
    FP8Config,
    GGUFConfig,
    GPTQConfig,
    HQQConfig,
    LLMInt8Config,
    QuantoConfig,
    RTNConfig,
    SmoothQuantConfig,
    TorchaoInt4Config,
    W8A8Config,
)

# discovered by a decorator or an entry point.
CONFIG_TYPES: tuple[type[TechniqueConfig], ...] = (
    # quantization
    RTNConfig,
    GPTQConfig,
    AWQConfig,
    AutoRoundConfig,
    W8A8Config,
    SmoothQuantConfig,
    LLMInt8Config,
    QuantoConfig,
    HQQConfig,
    GGUFConfig,
    BnbNF4Config,
    TorchaoInt4Config,
    FP8Config,
    # pruning
    MagnitudePruningConfig,
    WandaConfig,
    SparseGPTConfig,
    OWLConfig,
    NMSparsityConfig,
    LayerDropConfig,
    MLPChannelPruningConfig,
    HeadPruningConfig,
    # distillation
    LogitDistillationConfig,
    # low-rank factorization
    SVDLowRankConfig,
    # inference time
    QuantizedKVCacheConfig,
    AttentionImplementationConfig,
    CacheCompileConfig,
    SpeculativeDecodingConfig,
    PromptLookupConfig,
)


def _by_recipe(types: tuple[type[TechniqueConfig], ...]) -> dict[str, type[TechniqueConfig]]:
    # Built once at import: two config types claiming one slug is a programming error.
    by_recipe: dict[str, type[TechniqueConfig]] = {}
    for config_type in types:
        recipe = config_type.recipe_name()
        if recipe in by_recipe:
            raise RuntimeError(f"recipe {recipe!r} is listed twice in core.recipes")
        by_recipe[recipe] = config_type
    return by_recipe


_BY_RECIPE = _by_recipe(CONFIG_TYPES)


def config_types() -> dict[str, type[TechniqueConfig]]:
    """Every config type by recipe slug."""
    return dict(_BY_RECIPE)


def build_config(recipe: str, settings: dict | None = None) -> TechniqueConfig:
    """A validated config from a recipe slug and settings; errors name the setting."""
    config_type = _BY_RECIPE.get(recipe)
    if config_type is None:
        known = ", ".join(sorted(_BY_RECIPE)) or "none"
        raise InvalidRecipeError(f"unknown recipe {recipe!r}; known: {known}")
    try:
        return config_type(**{"recipe": recipe, **(settings or {})})
    except ValidationError as error:
        problems = validation_problems(error, whole="settings")
        raise InvalidRecipeError(f"invalid settings for {recipe!r}: {problems}") from None


# Settings renamed since jobs were first stored: (recipe, old name) -> new name. Applied to
# stored specs only, so a job queued before a rename still loads; new input takes new names.
RENAMED_SETTINGS: dict[tuple[str, str], str] = {
    ("smoothquant", "samples"): "calibration_samples",
}


def current_settings(recipe: str, settings: dict) -> dict:
    """A stored step's settings under today's names (see RENAMED_SETTINGS)."""
    return {RENAMED_SETTINGS.get((recipe, key), key): value for key, value in settings.items()}


def config_from_json(text: str) -> TechniqueConfig:
    """Rebuild a config from its JSON (the inverse of `TechniqueConfig.to_json`)."""
    data = json.loads(text)
    return build_config(data.pop("recipe"), data)
