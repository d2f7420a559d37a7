"""Packing as the last part of a weight-only quantizer's step: the grid each layer was
rounded to (scales, zeros, and the column order its groups follow) is remembered on the
layer, and `pack` replaces the rounded float layer by a real low-bit one on that same grid,
so the packed model computes what the simulated one did and really is smaller and faster.

Every check runs before any layer changes: a refused pack leaves the model as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.quantization.int4_cpu import Int4PackedLinear
from core.quantization.int4_cuda import Int4CudaLinear
from core.quantization.int8_cpu import Int8WeightOnlyLinear
from core.quantization.targets import replace_module
from core.recipes.quantization import WeightQuantConfig
from core.recipes.shape_rules import pack_problem
from core.techniques.context import ApplyContext

# The attribute a rounded Linear carries its grid in (not a buffer: it is not saved with
# the weights, and a deepcopy of the model keeps it).
GRID_ATTRIBUTE = "optatlas_grid"


@dataclass(frozen=True)
class LayerGrid:
    """The grid a Linear's weight was rounded to."""

    scale: torch.Tensor  # [rows, groups, 1]
    zero: torch.Tensor  # [rows, groups, 1]; zeros for a symmetric grid
    bits: int
    group_size: int | None
    symmetric: bool
    # Groups follow this column order (GPTQ with act_order): group g holds the columns
    # input_order[g * group_size:(g + 1) * group_size]. None: the natural order.
    input_order: torch.Tensor | None = None

    def settings(self) -> dict:
        return {"bits": self.bits, "group_size": self.group_size, "symmetric": self.symmetric}


PACKERS = {"cpu_int4": Int4PackedLinear, "cpu_int8": Int8WeightOnlyLinear,
           "cuda_int4": Int4CudaLinear}
KERNELS = {
    "cpu_int4": Int4PackedLinear.KERNEL,
    "cpu_int8": "aten._weight_int8pack_mm",
    "cuda_int4": Int4CudaLinear.KERNEL,
}
# The CUDA int4 kernel (tinygemm) uses tensor cores of this generation or newer.
CUDA_INT4_CAPABILITY = (8, 0)


def remember_grid(linear: torch.nn.Linear, grid: LayerGrid) -> None:
    """Keep the grid `linear` was just rounded to, for packing and export."""
    setattr(linear, GRID_ATTRIBUTE, grid)


def grid_of(module: torch.nn.Module) -> LayerGrid | None:
    """The grid a rounded Linear remembers, or None."""
    return getattr(module, GRID_ATTRIBUTE, None)


def check_packable(layers: dict[str, torch.nn.Linear], config: WeightQuantConfig) -> None:
    """Refuse, before anything changes, a pack the layers' device or shapes cannot take."""
    if config.pack == "none":
        return
    wanted = "cuda" if config.pack.startswith("cuda") else "cpu"
    elsewhere = [name for name, layer in layers.items() if layer.weight.device.type != wanted]
    if elsewhere:
        where = layers[elsewhere[0]].weight.device
        advice = ("choose cpu_int4 or cpu_int8 on the CPU" if wanted == "cuda" else
                  "run on the CPU, or choose cuda_int4 on an NVIDIA GPU")
        raise ValueError(f"pack {config.pack} runs torch's {wanted.upper()} kernel, but "
                         f"{elsewhere[0]} is on {where}: {advice}")
    if wanted == "cuda" and layers:
        from core.quantization.torchao_support import check_capability

        check_capability(next(iter(layers.values())).weight.device, CUDA_INT4_CAPABILITY,
                         "pack cuda_int4 (torch's tinygemm int4 kernel)")
    for name, layer in layers.items():
        problem = pack_problem(config.pack, layer.out_features, layer.in_features,
                               bits=config.bits, group_size=config.group_size,
                               symmetric=config.symmetric, name=name)
        if problem:
            raise ValueError(f"pack {config.pack}: {problem}")


def pack_layers(model: torch.nn.Module, layers: dict[str, torch.nn.Linear],
                config: WeightQuantConfig, context: ApplyContext, stage: str) -> dict:
    """Replace each rounded layer by its packed form on the grid it remembers; the details
    for the step's report."""
    packer = PACKERS[config.pack]
    with torch.no_grad():
        for done, (name, linear) in enumerate(layers.items(), start=1):
            grid = grid_of(linear)
            if grid is None:
                raise ValueError(f"{name} was not rounded by this step, so it has no grid "
                                 "to pack")
            extra = {"input_order": grid.input_order} if issubclass(
                packer, Int4PackedLinear) else {}
            packed = packer.from_grid(linear, scale=grid.scale, zero=grid.zero,
                                      **grid.settings(), **extra)
            replace_module(model, name, packed)
            context.report(f"{stage} packing", done / len(layers))
    return {"packed": config.pack, "kernel": KERNELS[config.pack]}
