"""Which layers a technique touches (the decoder's Linear layers, minus a skip list), and
swapping one of them for another module."""

from __future__ import annotations

import torch

from core.recipes.base import InvalidRecipeError
from core.recipes.quantization import DEFAULT_SKIP  # the configs' default, kept in one place


def target_linears(
    model: torch.nn.Module, skip: tuple[str, ...] = DEFAULT_SKIP
) -> dict[str, torch.nn.Linear]:
    """Linear layers by qualified name, leaving out any whose name contains a skip entry."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not any(part in name for part in skip)
    }


def layer_bytes(model: torch.nn.Module, names) -> int:
    """Stored bytes of the modules now at these qualified names (a packed layer counts as
    packed; a removed one counts nothing), for layer_bytes_ratio."""
    from core.engine.memory import stored_bytes

    wanted = set(names)
    return sum(stored_bytes(module) for name, module in model.named_modules() if name in wanted)


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


def replace_module(model: torch.nn.Module, name: str, module: torch.nn.Module) -> None:
    """Put `module` where the submodule called `name` (a qualified name) sits now."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def frozen_bias(linear: torch.nn.Linear) -> torch.nn.Parameter | None:
    """The layer's bias as a parameter that takes no gradient (None when it has none), for
    the packed layers that replace it."""
    if linear.bias is None:
        return None
    return torch.nn.Parameter(linear.bias.data, requires_grad=False)
