"""Round-to-nearest weight quantization: each weight to the nearest level of a uniform grid
per output channel or per group. Simulated: weights are rounded but stored in float."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator

from core.quantization.grid import check_group_size, quantize_dequantize
from core.quantization.targets import DEFAULT_SKIP, target_linears
from core.techniques.base import ApplyContext, ApplyReport, Requirements, TechniqueConfig
from core.techniques.registry import register


class WeightQuantConfig(TechniqueConfig):
    """Settings shared by weight-only quantizers."""

    bits: int = Field(4, ge=2, le=8, description="bits per weight")
    group_size: int | None = Field(
        64, ge=1, description="weights sharing one scale along the input dimension; "
        "None means one scale per output channel. Must divide the input dimension."
    )
    symmetric: bool = Field(False, description="symmetric grid (no zero point)")
    skip: tuple[str, ...] = Field(
        DEFAULT_SKIP, description="layers left in float: any whose name contains an entry"
    )

    @model_validator(mode="after")
    def _sensible_group(self):
        if self.group_size is not None and self.group_size < 8:
            raise ValueError("group_size below 8 stores more scale than weight")
        return self


class CalibratedWeightQuantConfig(WeightQuantConfig):
    """Weight quantizers that look at calibration activations (GPTQ, AWQ)."""

    calibration_samples: int = Field(
        32, ge=1, le=4096, description="calibration sequences used (at most those supplied)"
    )

    requirements = Requirements(calibration=True)


class RTNConfig(WeightQuantConfig):
    """Round-to-nearest, per channel or per group."""

    recipe: Literal["rtn"] = "rtn"


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
