"""The registry from config type to handler, and `apply`, the one entry point."""

from __future__ import annotations

from collections.abc import Callable

import torch
from pydantic import ValidationError

from core.techniques.base import ApplyContext, ApplyReport, TechniqueConfig

Handler = Callable[[torch.nn.Module, TechniqueConfig, ApplyContext], ApplyReport]

_HANDLERS: dict[type[TechniqueConfig], Handler] = {}
_BY_RECIPE: dict[str, type[TechniqueConfig]] = {}


class InvalidRecipeError(ValueError):
    """A recipe step that cannot be built or run; the message says what to change."""


def register(config_type: type[TechniqueConfig]) -> Callable[[Handler], Handler]:
    """Decorator: `handler` applies configs of `config_type`."""

    def decorate(handler: Handler) -> Handler:
        recipe = config_type.model_fields["recipe"].default
        if recipe in _BY_RECIPE and _BY_RECIPE[recipe] is not config_type:
            raise RuntimeError(f"recipe {recipe!r} is registered twice")
        _HANDLERS[config_type] = handler
        _BY_RECIPE[recipe] = config_type
        return handler

    return decorate


def config_types() -> dict[str, type[TechniqueConfig]]:
    """Every registered config type by recipe slug."""
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
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        )
        raise InvalidRecipeError(f"invalid settings for {recipe!r}: {problems}") from None


def config_from_json(text: str) -> TechniqueConfig:
    """Rebuild a config from its JSON (the inverse of `TechniqueConfig.to_json`)."""
    import json

    data = json.loads(text)
    return build_config(data.pop("recipe"), data)


def apply(model: torch.nn.Module, config: TechniqueConfig, context: ApplyContext) -> ApplyReport:
    """Apply one technique step to `model` in place."""
    handler = _HANDLERS.get(type(config))
    if handler is None:
        raise InvalidRecipeError(f"no handler for {type(config).__name__}")
    unmet = config.requirements.unmet(context.device)
    if unmet:
        raise InvalidRecipeError(f"{config.recipe} cannot run here: {'; '.join(unmet)}")
    if config.requirements.calibration and context.calibration is None:
        raise InvalidRecipeError(f"{config.recipe} needs calibration data")
    return handler(model, config, context)
