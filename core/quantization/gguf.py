"""llama.cpp's GGUF quantization types, simulated: each target weight is quantized by the
`gguf` package's own quantizers (the reference Python ports of llama.cpp's), dequantized
back, and kept in float. Quality is exactly that of the format's rounding; the size axis
counts each layer at its blocks' bytes (GGML_QUANT_SIZES). Speed is not llama.cpp's: a
simulated run computes in float (core/export's GGUF export measures llama.cpp itself).
"""

from __future__ import annotations

import numpy as np
import torch

from core.quantization.packed_size import remember_format_bytes
from core.quantization.targets import target_linears
from core.recipes.quantization import GGUF_BLOCK, GGUFConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


def gguf_round_trip(weight: torch.Tensor, quant_type: str) -> tuple[torch.Tensor, int]:
    """`weight` [rows, columns] quantized to `quant_type` block by block along its rows and
    dequantized, in its own dtype and device, with the bytes the quantized tensor takes."""
    from gguf import GGMLQuantizationType, quants

    qtype = GGMLQuantizationType[quant_type]
    rows = weight.detach().to(device="cpu", dtype=torch.float32).numpy()
    # The quantizers take float32 rows whose length is a multiple of the block.
    if rows.shape[-1] % GGUF_BLOCK:
        raise ValueError(f"GGUF blocks hold {GGUF_BLOCK} weights; a row of {rows.shape[-1]} "
                         "does not split into them")
    packed = quants.quantize(np.ascontiguousarray(rows), qtype)
    restored = quants.dequantize(packed, qtype)
    back = torch.from_numpy(np.ascontiguousarray(restored)).to(weight.device, weight.dtype)
    return back, int(packed.nbytes)


@register(GGUFConfig)
def apply_gguf(model: torch.nn.Module, config: GGUFConfig, context: ApplyContext) -> ApplyReport:
    """Round every target layer's weight through the chosen GGUF type, layer by layer."""
    layers = target_linears(model, config.skip)
    for name, layer in layers.items():
        if layer.in_features % GGUF_BLOCK:
            raise ValueError(f"{name}: input dimension {layer.in_features} is not a multiple "
                             f"of GGUF's {GGUF_BLOCK}-weight blocks")
    format_bytes = 0
    with torch.no_grad():
        for index, layer in enumerate(layers.values()):
            rounded, nbytes = gguf_round_trip(layer.weight, config.quant_type)
            layer.weight.copy_(rounded)
            remember_format_bytes(layer, nbytes)
            format_bytes += nbytes
            context.report("gguf", (index + 1) / max(len(layers), 1))
    weights = sum(layer.weight.numel() for layer in layers.values())
    details = {"quant_type": config.quant_type,
               "bits_per_weight": round(8 * format_bytes / max(weights, 1), 3)}
    return ApplyReport(config.recipe, config.execution, len(layers), details)
