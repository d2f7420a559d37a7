"""bnb-nf4: QLoRA's 4-bit NormalFloat through bitsandbytes on CUDA. Real: the weights are
packed on the GPU and every matmul runs through bitsandbytes' kernels.

bitsandbytes is an optional CUDA extra (`pip install -e '.[cuda]'`), so it is imported inside
the functions that use it: this module, and its configs, load without it.
"""

from __future__ import annotations

import torch

from core.quantization.targets import frozen_bias, replace_module, require_cuda, target_linears
from core.recipes.quantization import BnbNF4Config
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register

COMPUTE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def _nf4_linear(bnb, linear: torch.nn.Linear, config: BnbNF4Config) -> torch.nn.Module:
    # Built on the meta device so no float copy of the weight is allocated twice.
    packed = bnb.nn.Linear4bit(
        linear.in_features, linear.out_features, bias=linear.bias is not None,
        compute_dtype=COMPUTE_DTYPES[config.compute_dtype],
        compress_statistics=config.double_quant, quant_type="nf4", device="meta",
    )
    # Linear4bit takes no block size; Params4bit does. bitsandbytes quantizes a Params4bit
    # when it is moved to a device, so `.to` the layer's own GPU packs it in place there.
    packed.weight = bnb.nn.Params4bit(
        linear.weight.data, requires_grad=False, blocksize=config.blocksize,
        compress_statistics=config.double_quant, quant_type="nf4", module=packed,
    ).to(linear.weight.device)
    packed.bias = frozen_bias(linear)
    # New modules start in training mode; bitsandbytes picks its kernels by mode.
    return packed.train(linear.training)


@register(BnbNF4Config)
def apply_bnb_nf4(
    model: torch.nn.Module, config: BnbNF4Config, context: ApplyContext
) -> ApplyReport:
    """Replace every target Linear by a bitsandbytes NF4 layer packed on its GPU."""
    layers = target_linears(model, config.skip)
    require_cuda(layers, config.recipe)
    import bitsandbytes as bnb  # after the checks, which need no bitsandbytes

    for done, (name, linear) in enumerate(layers.items(), start=1):
        replace_module(model, name, _nf4_linear(bnb, linear, config))
        context.report(config.recipe, done / len(layers))
    details = {
        "quant_type": "nf4", "blocksize": config.blocksize, "double_quant": config.double_quant,
        "compute_dtype": config.compute_dtype, "bitsandbytes": bnb.__version__,
    }
    return ApplyReport(config.recipe, BnbNF4Config.execution, len(layers), details)

