"""compressed-tensors checkpoints (the format vLLM loads quantized models from), written
through the `compressed-tensors` package itself: weight-only int4 / int8 grids per group or
per channel ("pack-quantized", W4A16 / W8A16), and int8 weights with int8 activations
quantized on the fly ("int-quantized", W8A8 and SmoothQuant, whose smoothing is folded into
the weights already). The job's own levels, scales and zero points
are written as they are, so the checkpoint decompresses to the weights the job measured.

compressed-tensors keeps one group order, the natural one: a grid whose groups follow a
column order of their own (GPTQ's act_order without static groups) is refused with that
reason (its GPTQ "weight" activation ordering is static groups: run GPTQ with
static_groups). Its 2:4 sparse format left the package in 0.15, so sparse models are not
written here.
"""

from __future__ import annotations

from pathlib import Path

import torch

from core.export.layer_grids import GridLayer, plain_model

FORMAT = "pack-quantized"
# Weights and activations both int8 (W8A8): compressed-tensors' int8 format.
INT_FORMAT = "int-quantized"
# Weights are stored in the serving dtype: vLLM's int4 kernels take float16 or bfloat16
# activations, and float16 keeps the scales' precision (10 bits of mantissa).
STORE_DTYPE = torch.float16


class CompressedTensorsExportError(ValueError):
    """The model cannot be written as compressed-tensors; the message says why."""


def _scheme_key(layer: GridLayer) -> tuple:
    return (layer.bits, layer.group_size, layer.symmetric, layer.activations)


def _check(layers: dict[str, GridLayer]) -> None:
    if not layers:
        raise CompressedTensorsExportError("no layer of this model is quantized on a grid: "
                                           "export it as safetensors instead")
    for name, layer in layers.items():
        if layer.order is not None:
            raise CompressedTensorsExportError(
                f"{name}: its groups follow GPTQ's act_order column order, which "
                "compressed-tensors does not store; run GPTQ with static_groups (or without "
                "act_order) to export it")
    if len({_scheme_key(layer) for layer in layers.values()}) > 1:
        raise CompressedTensorsExportError("the quantized layers use different grids; one "
                                           "scheme per export is written")


def write_compressed_tensors(model: torch.nn.Module, tokenizer, layers: dict[str, GridLayer],
                             folder: Path) -> dict:
    """Write `model` with its grid layers as a compressed-tensors checkpoint in `folder`;
    return what was written (scheme and layers)."""
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import (
        QuantizationArgs,
        QuantizationConfig,
        QuantizationScheme,
        apply_quantization_config,
    )

    _check(layers)
    bits, group_size, symmetric, activations = _scheme_key(next(iter(layers.values())))
    plain = plain_model(model, layers).to(STORE_DTYPE)
    weights = QuantizationArgs(num_bits=bits, type="int", symmetric=symmetric,
                               strategy="group" if group_size else "channel",
                               group_size=group_size)
    # W8A8: int8 inputs quantized on the fly, per token or per tensor, as the run did.
    inputs = None if activations is None else QuantizationArgs(
        num_bits=8, type="int", symmetric=True, dynamic=True,
        strategy="token" if activations == "per_token" else "tensor")
    fmt = FORMAT if inputs is None else INT_FORMAT
    names = list(layers)
    left_in_float = sorted(name for name, module in plain.named_modules()
                           if isinstance(module, torch.nn.Linear) and name not in layers)
    scheme = QuantizationScheme(targets=["Linear"], weights=weights, input_activations=inputs)
    config = QuantizationConfig(config_groups={"group_0": scheme}, format=fmt,
                                ignore=left_in_float, quantization_status="frozen")
    apply_quantization_config(plain, config)
    offset = 2 ** (bits - 1)  # compressed-tensors' levels are signed: ours minus the offset
    with torch.no_grad():
        for name, layer in layers.items():
            module = plain.get_submodule(name)
            module.weight_scale.copy_(layer.scale.to(module.weight_scale.dtype))
            if hasattr(module, "weight_zero_point"):
                module.weight_zero_point.copy_((layer.zero - offset)
                                               .to(module.weight_zero_point.dtype))
    compressor = ModelCompressor.from_pretrained_model(plain, quantization_format=fmt)
    compressor.compress_model(plain)
    plain.save_pretrained(folder)
    compressor.update_config(str(folder))
    if hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(folder)
    scheme_name = f"W{bits}A16" if inputs is None else f"W{bits}A8 ({activations})"
    return {"scheme": scheme_name, "group_size": group_size, "symmetric": symmetric,
            "layers": len(names), "format": fmt}
