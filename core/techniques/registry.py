"""The registry from config type to handler, and `apply`, the one entry point.

The config types themselves, and building them from settings or JSON, live in the torch-free
core.recipes (import them from there); this module adds what needs torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from core.recipes import CONFIG_TYPES
from core.recipes.base import InvalidRecipeError, MissingPackageError, TechniqueConfig
from core.techniques.context import ApplyContext, ApplyReport

Handler = Callable[[torch.nn.Module, TechniqueConfig, ApplyContext], ApplyReport]

_HANDLERS: dict[type[TechniqueConfig], Handler] = {}


def register(config_type: type[TechniqueConfig]) -> Callable[[Handler], Handler]:
    """Decorator: `handler` applies configs of `config_type`, which core.recipes must list."""
    if config_type not in CONFIG_TYPES:
        # A handler for a config the app cannot see would be runnable from scripts only.
        raise RuntimeError(
            f"{config_type.__name__} is not in core.recipes.CONFIG_TYPES; list it there"
        )

    def decorate(handler: Handler) -> Handler:
        _HANDLERS[config_type] = handler
        return handler

    return decorate


def handler_for(config_type: type[TechniqueConfig]) -> Handler | None:
    """The handler registered for `config_type`, or None (its package is not imported)."""
    return _HANDLERS.get(config_type)


def handled_types() -> frozenset[type[TechniqueConfig]]:
    """The config types that have a handler (those of the technique packages imported)."""
    return frozenset(_HANDLERS)


def apply(model: torch.nn.Module, config: TechniqueConfig, context: ApplyContext) -> ApplyReport:
    """Apply one technique step to `model` in place."""
    handler = _HANDLERS.get(type(config))
    if handler is None:
        # Configs build without their handlers (core.recipes is torch-free); handlers
        # register when their technique package is imported.
        raise InvalidRecipeError(
            f"no handler for {type(config).__name__}; import its technique package "
            "(core.quantization, core.pruning, core.lowrank, core.distillation, "
            "core.inference) first"
        )
    unmet = config.requirements.unmet(context.device)
    missing = config.requirements.missing_packages()
    if unmet and len(missing) == len(unmet):
        raise MissingPackageError(f"{config.recipe} cannot run here: {'; '.join(unmet)}", missing)
    if unmet:
        raise InvalidRecipeError(f"{config.recipe} cannot run here: {'; '.join(unmet)}")
    if config.requirements.calibration and context.calibration is None:
        raise InvalidRecipeError(f"{config.recipe} needs calibration data")
    return handler(model, config, context)
