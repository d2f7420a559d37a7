"""torchao-int4: int4 weight-only quantization with groups on CUDA, run by the tinygemm kernel.
Real: torchao swaps each weight for a packed tensor subclass whose matmul runs the int4 kernel.
torchao is imported inside the handler, after the checks, which need none of it.
"""

from __future__ import annotations

import torch

from core.quantization.targets import DEFAULT_SKIP, target_linears
from core.quantization.torchao_support import (
    TINYGEMM_CAPABILITY,
    check_capability,
    cuda_device_of,
    only_these,
)
from core.recipes.base import InvalidRecipeError
from core.recipes.quantization import INT4_GROUP_SIZES, TorchaoInt4Config
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register

# torchao's tinygemm layout pads the input dimension to a multiple of this before packing.
TINYGEMM_PAD = 1024


def _to_bfloat16(layer: torch.nn.Linear) -> None:
    # The tinygemm layout packs bfloat16 weights only.
    # New Parameters rather than an in-place cast: a weight tied to the embeddings (lm_head,
    # when not skipped) must not turn the embeddings to bfloat16 too.
    layer.weight = torch.nn.Parameter(layer.weight.detach().to(torch.bfloat16), requires_grad=False)
    if layer.bias is not None:
        layer.bias = torch.nn.Parameter(layer.bias.detach().to(torch.bfloat16), requires_grad=False)


def check_int4_group_size(
    model: torch.nn.Module, group_size: int, skip: tuple[str, ...] = DEFAULT_SKIP
) -> dict[str, torch.nn.Linear]:
    """The target layers, after checking that `group_size` divides every one's input dimension.

    torchao itself leaves such a layer in float and only logs it; here it is an error that
    names the layers, their widths and the group sizes that would fit.
    """
    layers = target_linears(model, skip)
    misfits: dict[int, list[str]] = {}
    for name, layer in layers.items():
        if layer.in_features % group_size:
            misfits.setdefault(layer.in_features, []).append(name)
    if not misfits:
        return layers
    widths = "; ".join(
        f"{', '.join(names[:3])}{f' and {len(names) - 3} more' if len(names) > 3 else ''} "
        f"(input dimension {width})"
        for width, names in sorted(misfits.items())
    )
    fitting = [size for size in INT4_GROUP_SIZES
               if all(layer.in_features % size == 0 for layer in layers.values())]
    hint = (f"group sizes that fit every layer: {', '.join(map(str, fitting))}" if fitting
            else "no int4 group size fits every layer: add the others to skip")
    raise InvalidRecipeError(
        f"torchao-int4: group_size {group_size} does not divide the input dimension of "
        f"{sum(map(len, misfits.values()))} layer(s): {widths}; {hint}"
    )


@register(TorchaoInt4Config)
def apply_torchao_int4(
    model: torch.nn.Module, config: TorchaoInt4Config, context: ApplyContext
) -> ApplyReport:
    """Pack every target layer's weight as int4 for the tinygemm kernel."""
    layers = check_int4_group_size(model, config.group_size, config.skip)
    check_capability(cuda_device_of(layers, config.recipe, context.device), TINYGEMM_CAPABILITY,
                     "torchao-int4 (the tinygemm int4 kernel)")
    from torchao.quantization import Int4WeightOnlyConfig, quantize_  # after the checks

    # The tinygemm layout packs bfloat16 weights only. Activations are cast to bfloat16 and
    # outputs back to their own dtype inside the layer, so only the target layers change.
    cast = [name for name, layer in layers.items() if layer.weight.dtype != torch.bfloat16]
    for name in cast:
        _to_bfloat16(layers[name])
    # "tile_packed_to_4d" runs PyTorch's own int4 kernel (no extra package, Ampere or newer);
    # torchao's default "plain" format needs the separate mslk kernels and a Hopper GPU.
    # set_inductor_config=False: nothing is compiled here, so leave global settings alone.
    quantize_(model, Int4WeightOnlyConfig(group_size=config.group_size,
                                          int4_packing_format="tile_packed_to_4d",
                                          set_inductor_config=False), filter_fn=only_these(layers))
    context.report(config.recipe, 1.0)
    padded = sum(1 for layer in layers.values() if layer.in_features % TINYGEMM_PAD)
    details = {
        "group_size": config.group_size, "kernel": "tinygemm (aten._weight_int4pack_mm)",
        "cast_to_bfloat16": len(cast),
        "note": (f"{len(cast)} target layer(s) cast to bfloat16 first (the int4 layout packs "
                 f"bfloat16 weights); torchao pads input dimensions to a multiple of "
                 f"{TINYGEMM_PAD}, which {padded} of {len(layers)} layer(s) needed, so those "
                 f"store more than 4 bits per weight"),
    }
    return ApplyReport(config.recipe, TorchaoInt4Config.execution, len(layers), details)
