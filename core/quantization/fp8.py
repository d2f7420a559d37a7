"""fp8: float8 weights (weight-only) or float8 weights and activations (dynamic) on GPUs with
float8 tensor cores, through torchao. Real: each weight becomes a float8 tensor subclass
whose matmul runs in float8. torchao is imported inside the handler, after the checks.
"""

from __future__ import annotations

import torch

from core.quantization.targets import target_linears
from core.quantization.torchao_support import (
    FP8_CAPABILITY,
    check_capability,
    cuda_device_of,
    only_these,
)
from core.recipes.base import InvalidRecipeError
from core.recipes.quantization import FP8Config
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


@register(FP8Config)
def apply_fp8(model: torch.nn.Module, config: FP8Config, context: ApplyContext) -> ApplyReport:
    """Store every target layer's weight in float8; with `dynamic`, compute in float8 too."""
    layers = target_linears(model, config.skip)
    # Weight-only fp8 would still run on older GPUs (it unpacks to 16 bits for each matmul),
    # but this recipe stands for fp8 hardware: a row measured without it would mislead.
    check_capability(cuda_device_of(layers, config.recipe, context.device), FP8_CAPABILITY, "fp8")
    wide = [name for name, layer in layers.items()
            if layer.weight.dtype not in (torch.float16, torch.bfloat16)]
    if config.mode == "dynamic" and wide:
        # Row-scaled fp8 matmuls (torch._scaled_mm) write 16-bit outputs only.
        raise InvalidRecipeError(
            f"fp8 dynamic needs a bfloat16 or float16 model; {wide[0]} holds "
            f"{layers[wide[0]].weight.dtype}: load the model with dtype bfloat16"
        )
    from torchao.quantization import (  # after the checks, which need no torchao
        Float8DynamicActivationFloat8WeightConfig,
        Float8WeightOnlyConfig,
        PerRow,
        quantize_,
    )

    if config.mode == "dynamic":
        ao_config = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow(),
                                                              set_inductor_config=False)
    else:
        ao_config = Float8WeightOnlyConfig(set_inductor_config=False)
    quantize_(model, ao_config, filter_fn=only_these(layers))
    context.report(config.recipe, 1.0)
    details = {"mode": config.mode, "format": "float8_e4m3fn, one scale per output row"}
    return ApplyReport(config.recipe, FP8Config.execution, len(layers), details)
