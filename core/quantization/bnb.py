"""bitsandbytes layers on CUDA: NF4 (QLoRA's 4-bit NormalFloat) and LLM.int8(). Real: the
weights are packed on the GPU and every matmul runs through bitsandbytes' kernels.

bitsandbytes is an optional CUDA extra (`pip install -e '.[cuda]'`), so it is imported inside
the functions that use it: this module, and its configs, load without it.
"""

from __future__ import annotations

import torch

from core.quantization.targets import require_cuda, target_linears
from core.recipes.quantization import BnbNF4Config
from core.techniques.base import ApplyContext, ApplyReport
from core.techniques.registry import register

COMPUTE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def _replace(model: torch.nn.Module, name: str, module: torch.nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def _frozen_bias(linear: torch.nn.Linear) -> torch.nn.Parameter | None:
    if linear.bias is None:
        return None
    return torch.nn.Parameter(linear.bias.data, requires_grad=False)


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
    packed.bias = _frozen_bias(linear)
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
        _replace(model, name, _nf4_linear(bnb, linear, config))
        context.report(config.recipe, done / len(layers))
    details = {
        "quant_type": "nf4", "blocksize": config.blocksize, "double_quant": config.double_quant,
        "compute_dtype": config.compute_dtype, "bitsandbytes": bnb.__version__,
    }
    return ApplyReport(config.recipe, BnbNF4Config.execution, len(layers), details)


def to_bnb_int8(model: torch.nn.Module, *, threshold: float, skip: tuple[str, ...]) -> int:
    """Replace the target Linears by bitsandbytes LLM.int8() layers; returns how many.

    Contract: the model must already be on a CUDA device (every target layer is checked
    first, and InvalidRecipeError names the first one that is not, before anything changes);
    bitsandbytes must be installed. Targets are the Linear layers whose names contain no
    entry of `skip` (as `target_linears`). Each becomes `bnb.nn.Linear8bitLt` with
    `has_fp16_weights=False`: int8 weights with one scale per output row, kept on the layer's
    GPU. `threshold` is LLM.int8()'s outlier threshold on activations (6.0 in the paper):
    input columns holding a larger magnitude are multiplied in 16-bit, the rest in int8;
    0.0 turns the decomposition off. Modules keep their training/eval mode.
    """
    if threshold < 0:
        raise ValueError(f"threshold must be at least 0, got {threshold}")
    layers = target_linears(model, skip)
    require_cuda(layers, "llm-int8")
    import bitsandbytes as bnb  # after the checks, which need no bitsandbytes

    for name, linear in layers.items():
        int8 = bnb.nn.Linear8bitLt(
            linear.in_features, linear.out_features, bias=linear.bias is not None,
            has_fp16_weights=False, threshold=threshold, device="meta",
        )
        # Int8Params quantizes when moved from the CPU to a GPU (bitsandbytes' documented
        # path), not from one GPU to another: the float weight passes through host memory.
        int8.weight = bnb.nn.Int8Params(
            linear.weight.data.cpu(), requires_grad=False, has_fp16_weights=False
        ).to(linear.weight.device)
        int8.bias = _frozen_bias(linear)
        _replace(model, name, int8.train(linear.training))
    return len(layers)
