"""Round-to-nearest weight quantization: each weight to the nearest level of a uniform grid
per output channel or per group. Simulated: weights are rounded but stored in float."""

from __future__ import annotations

import torch

from core.quantization.grid import check_group_size, quantize_dequantize
from core.quantization.targets import target_linears
from core.recipes.quantization import (
    RTNConfig,
    WeightQuantConfig,
)
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


@register(RTNConfig)
def apply_rtn(model: torch.nn.Module, config: RTNConfig, context: ApplyContext) -> ApplyReport:
    """Fake-quantize every target layer's weight in place."""
    layers = check_targets(model, config)
    round_to_nearest(layers, config)
    context.report("rtn", 1.0)
    return ApplyReport(config.recipe, RTNConfig.execution, len(layers))
