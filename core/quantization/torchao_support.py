"""What the torchao formats (torchao-int4, fp8) share: the GPU generation each needs, the GPU
the layers sit on, and the filter that hands torchao exactly the target layers.

torchao is an optional CUDA extra (`pip install -e '.[cuda]'`), so it is imported inside the
handlers: these helpers, the handler modules and their configs all load without it.
"""

from __future__ import annotations

import torch

from core.quantization.targets import require_cuda
from core.recipes.base import InvalidRecipeError

TINYGEMM_CAPABILITY = (8, 0)  # Ampere: the tinygemm int4 kernel uses its tensor cores
FP8_CAPABILITY = (8, 9)  # Ada and Hopper: the first GPUs with float8 tensor cores


def check_capability(device: torch.device, needed: tuple[int, int], what: str) -> None:
    """Raise InvalidRecipeError (a ValueError) naming the GPU when it is older than `needed`."""
    capability = tuple(torch.cuda.get_device_capability(device))
    if capability < needed:
        raise InvalidRecipeError(
            f"{what} needs an NVIDIA GPU of compute capability {needed[0]}.{needed[1]} or "
            f"newer; {torch.cuda.get_device_name(device)} has {capability[0]}.{capability[1]}"
        )


def cuda_device_of(
    layers: dict[str, torch.nn.Linear], recipe: str, fallback: torch.device
) -> torch.device:
    """The GPU the layers are on (cuda:N), whose capability is the one that matters; refuses
    layers that are not on a CUDA device."""
    require_cuda(layers, recipe)
    return next(iter(layers.values())).weight.device if layers else fallback


def only_these(layers: dict[str, torch.nn.Linear]):
    """A `quantize_` filter that takes these layers and no others."""
    # quantize_ calls the filter with each module and its qualified name (as named_modules).
    return lambda module, name: name in layers and module is layers[name]
