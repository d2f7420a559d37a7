"""Round-to-nearest weight quantization: each weight to the nearest level of a uniform grid
per output channel or per group. Simulated: weights are rounded but stored in float."""

from __future__ import annotations

import torch

from core.quantization.grid import check_group_size, grid_parameters, quantize_dequantize
from core.quantization.int4_cpu import Int4PackedLinear
from core.quantization.targets import replace_module, target_linears
from core.recipes.quantization import (
    RTNConfig,
    WeightQuantConfig,
)
from core.recipes.shape_rules import int4_cpu_problem
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


def check_targets(model: torch.nn.Module, config: WeightQuantConfig) -> dict[str, torch.nn.Linear]:
    """The layers to quantize, after checking the group size against every one of them."""
    layers = target_linears(model, config.skip)
    for name, layer in layers.items():
        check_group_size(layer.in_features, config.group_size, name=name)
    return layers


def round_to_nearest(linears: dict[str, torch.nn.Linear], config: WeightQuantConfig) -> None:
    """Fake-quantize each layer's weight in place on `config`'s grid."""
    with torch.no_grad():
        for linear in linears.values():
            linear.weight.copy_(
                quantize_dequantize(
                    linear.weight, bits=config.bits, group_size=config.group_size,
                    symmetric=config.symmetric,
                )
            )


def _pack_cpu_int4(model: torch.nn.Module, layers: dict[str, torch.nn.Linear],
                   config: RTNConfig, context: ApplyContext) -> dict:
    """Round each layer to its grid and replace it by the packed int4 layer of that grid."""
    on_gpu = [name for name, layer in layers.items() if layer.weight.device.type != "cpu"]
    problems = [int4_cpu_problem(layer.out_features, layer.in_features, bits=config.bits,
                                 group_size=config.group_size, name=name)
                for name, layer in layers.items()]
    # Refused before any layer changes, so a refused step leaves the model as it was.
    if on_gpu:
        raise ValueError(f"pack cpu_int4 runs torch's CPU int4 kernel, but {on_gpu[0]} is on "
                         f"{layers[on_gpu[0]].weight.device}: run on the CPU, or choose "
                         "torchao-int4 on a GPU")
    if any(problems):
        raise ValueError(f"pack cpu_int4: {next(p for p in problems if p)}")
    grid = {"bits": config.bits, "group_size": config.group_size, "symmetric": config.symmetric}
    with torch.no_grad():
        for done, (name, linear) in enumerate(layers.items(), start=1):
            scale, zero = grid_parameters(linear.weight, **grid)
            linear.weight.copy_(quantize_dequantize(linear.weight, **grid, scale=scale,
                                                    zero=zero))
            replace_module(model, name, Int4PackedLinear.from_grid(linear, scale=scale,
                                                                   zero=zero, **grid))
            context.report("rtn", done / len(layers))
    return {"packed": "cpu_int4", "kernel": "aten._weight_int4pack_mm_for_cpu"}


@register(RTNConfig)
def apply_rtn(model: torch.nn.Module, config: RTNConfig, context: ApplyContext) -> ApplyReport:
    """Round every target layer's weight to its grid: in place (simulated), or packed into
    the CPU int4 kernel's format (real) when `pack` says so."""
    layers = check_targets(model, config)
    if config.pack == "cpu_int4":
        details = _pack_cpu_int4(model, layers, config, context)
        return ApplyReport(config.recipe, "real", len(layers), details)
    round_to_nearest(layers, config)
    context.report("rtn", 1.0)
    return ApplyReport(config.recipe, RTNConfig.execution, len(layers))
