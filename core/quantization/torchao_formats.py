"""torchao formats on CUDA: int4 weight-only (the tinygemm kernel) and FP8 (weight-only or
weights and activations). Real: torchao swaps each weight for a packed tensor subclass whose
matmul runs a low-bit kernel.

torchao is an optional CUDA extra (`pip install -e '.[cuda]'`), so it is imported inside the
handlers: this module, its configs and its checks load without it.
"""

from __future__ import annotations

import torch

from core.quantization.targets import DEFAULT_SKIP, require_cuda, target_linears
from core.recipes.quantization import INT4_GROUP_SIZES, FP8Config, TorchaoInt4Config
from core.techniques.base import ApplyContext, ApplyReport
from core.techniques.registry import InvalidRecipeError, register

# torchao's tinygemm layout pads the input dimension to a multiple of this before packing.
TINYGEMM_PAD = 1024
TINYGEMM_CAPABILITY = (8, 0)  # Ampere: the tinygemm int4 kernel uses its tensor cores
FP8_CAPABILITY = (8, 9)  # Ada and Hopper: the first GPUs with float8 tensor cores


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


def check_capability(device: torch.device, needed: tuple[int, int], what: str) -> None:
    """Raise InvalidRecipeError (a ValueError) naming the GPU when it is older than `needed`."""
    capability = tuple(torch.cuda.get_device_capability(device))
    if capability < needed:
        raise InvalidRecipeError(
            f"{what} needs an NVIDIA GPU of compute capability {needed[0]}.{needed[1]} or "
            f"newer; {torch.cuda.get_device_name(device)} has {capability[0]}.{capability[1]}"
        )


def _device(
    layers: dict[str, torch.nn.Linear], recipe: str, fallback: torch.device
) -> torch.device:
    # The GPU the layers are on (cuda:N), which is the one whose capability matters.
    require_cuda(layers, recipe)
    return next(iter(layers.values())).weight.device if layers else fallback


def _to_bfloat16(layer: torch.nn.Linear) -> None:
    # New Parameters rather than an in-place cast: a weight tied to the embeddings (lm_head,
    # when not skipped) must not turn the embeddings to bfloat16 too.
    layer.weight = torch.nn.Parameter(layer.weight.detach().to(torch.bfloat16), requires_grad=False)
    if layer.bias is not None:
        layer.bias = torch.nn.Parameter(layer.bias.detach().to(torch.bfloat16), requires_grad=False)


def _only(layers: dict[str, torch.nn.Linear]):
    # quantize_ calls the filter with each module and its qualified name (as named_modules).
    return lambda module, name: name in layers and module is layers[name]


@register(TorchaoInt4Config)
def apply_torchao_int4(
    model: torch.nn.Module, config: TorchaoInt4Config, context: ApplyContext
) -> ApplyReport:
    """Pack every target layer's weight as int4 for the tinygemm kernel."""
    layers = check_int4_group_size(model, config.group_size, config.skip)
    check_capability(_device(layers, config.recipe, context.device), TINYGEMM_CAPABILITY,
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
                                          set_inductor_config=False), filter_fn=_only(layers))
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


@register(FP8Config)
def apply_fp8(model: torch.nn.Module, config: FP8Config, context: ApplyContext) -> ApplyReport:
    """Store every target layer's weight in float8; with `dynamic`, compute in float8 too."""
    layers = target_linears(model, config.skip)
    # Weight-only fp8 would still run on older GPUs (it unpacks to 16 bits for each matmul),
    # but this recipe stands for fp8 hardware: a row measured without it would mislead.
    check_capability(_device(layers, config.recipe, context.device), FP8_CAPABILITY, "fp8")
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
    quantize_(model, ao_config, filter_fn=_only(layers))
    context.report(config.recipe, 1.0)
    details = {"mode": config.mode, "format": "float8_e4m3fn, one scale per output row"}
    return ApplyReport(config.recipe, FP8Config.execution, len(layers), details)
