"""Which layers a quantizer touches: the decoder's Linear layers, minus a skip list."""

from __future__ import annotations

import torch

from core.recipes.quantization import DEFAULT_SKIP  # the configs' default, kept in one place
from core.techniques.config import InvalidRecipeError


def target_linears(model: torch.nn.Module, skip: tuple[str, ...] = DEFAULT_SKIP) -> dict[str, torch.nn.Linear]:
    """Linear layers by qualified name, leaving out any whose name contains a skip entry."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not any(part in name for part in skip)
    }


def require_cuda(layers: dict[str, torch.nn.Module], recipe: str) -> None:
    """Refuse (InvalidRecipeError) unless every layer's weight is on a CUDA device; called
    before any layer changes, so a refused call leaves the model as it was."""
    elsewhere = [name for name, layer in layers.items() if layer.weight.device.type != "cuda"]
    if elsewhere:
        raise InvalidRecipeError(
            f"{recipe} quantizes on the GPU, but {len(elsewhere)} target layer(s) are on "
            f"{layers[elsewhere[0]].weight.device} (first: {elsewhere[0]}); load the model "
            f"onto a CUDA device first"
        )
