"""Round-to-nearest weight quantization: each weight to the nearest level of a uniform grid
per output channel or per group. Simulated (weights rounded but stored in float), or real
when packed into a CPU kernel's format (core/quantization/packing.py)."""

from __future__ import annotations

import torch

from core.quantization.grid import check_group_size, grid_parameters, quantize_dequantize
from core.quantization.packing import LayerGrid, check_packable, pack_layers, remember_grid
from core.quantization.targets import target_linears
from core.recipes.quantization import RTNConfig, WeightQuantConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


def check_targets(model: torch.nn.Module, config: WeightQuantConfig) -> dict[str, torch.nn.Linear]:
    """The layers to quantize, after checking the group size against every one of them."""
    layers = target_linears(model, config.skip)
    for name, layer in layers.items():
        check_group_size(layer.in_features, config.group_size, name=name)
    return layers


def round_to_nearest(linears: dict[str, torch.nn.Linear], config: WeightQuantConfig) -> None:
    """Fake-quantize each layer's weight in place on `config`'s grid, and remember the grid."""
    settings = {"bits": config.bits, "group_size": config.group_size,
                "symmetric": config.symmetric}
    with torch.no_grad():
        for linear in linears.values():
            scale, zero = grid_parameters(linear.weight, **settings)
            linear.weight.copy_(quantize_dequantize(linear.weight, **settings, scale=scale,
                                                    zero=zero))
            remember_grid(linear, LayerGrid(scale, zero, **settings))


def finish_weight_step(model: torch.nn.Module, layers: dict[str, torch.nn.Linear],
                       config: WeightQuantConfig, context: ApplyContext,
                       details: dict | None = None) -> ApplyReport:
    """The report of a weight-only step whose layers are rounded: packed into the chosen
    kernel's format first when `pack` asks (real), else left in float (simulated)."""
    details = dict(details or {})
    if config.pack == "none":
        return ApplyReport(config.recipe, config.execution, len(layers), details)
    details.update(pack_layers(model, layers, config, context, config.recipe))
    return ApplyReport(config.recipe, "real", len(layers), details)


@register(RTNConfig)
def apply_rtn(model: torch.nn.Module, config: RTNConfig, context: ApplyContext) -> ApplyReport:
    """Round every target layer's weight to its grid: in place (simulated), or packed into
    a CPU kernel's format (real) when `pack` says so."""
    layers = check_targets(model, config)
    check_packable(layers, config)
    round_to_nearest(layers, config)
    context.report("rtn", 1.0)
    return finish_weight_step(model, layers, config, context)
