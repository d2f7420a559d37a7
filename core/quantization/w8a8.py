"""W8A8: int8 weights and int8 activations, computed by a real int8 kernel (`Int8Linear`).
Plain W8A8 suffers from activation outliers (a few channels far larger than the rest); its
smoothed variant is SmoothQuant (core/quantization/smoothquant.py)."""

from __future__ import annotations

import torch

from core.quantization.int8_convert import convert_to_int8
from core.recipes.quantization import W8A8Config
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


@register(W8A8Config)
def apply_w8a8(model: torch.nn.Module, config: W8A8Config, context: ApplyContext) -> ApplyReport:
    """Quantize every target Linear to int8 weights and dynamic int8 activations."""
    count, fused = convert_to_int8(
        model, activations=config.activations, skip=config.skip, context=context,
        fuse=config.fuse,
    )
    return ApplyReport(config.recipe, W8A8Config.execution, count,
                       {"activations": config.activations, "fused_groups": fused})
