"""LLM.int8()-style mixed decomposition (Dettmers et al., 2022): the few input features whose
activations exceed a threshold are multiplied in float, all others in int8.

On CUDA with bitsandbytes installed, its Linear8bitLt layers do this with their own kernels.
Everywhere else `MixedInt8Linear` does it with `torch._int_mm`: int8 weights (one scale per
output channel), per-token int8 activations for the ordinary features, and the outlier
features' columns dequantized from the same int8 weights, as bitsandbytes does. Both store
int8 weights and multiply in int8, so both results are "real".
"""

from __future__ import annotations

import importlib.util

import torch

from core.quantization.int8_linear import Int8Linear, int8_matmul, quantize_activations
from core.quantization.targets import frozen_bias, replace_module, require_cuda, target_linears
from core.recipes.quantization import LLMInt8Config
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


class MixedInt8Linear(Int8Linear):
    """`Int8Linear` whose loud input features bypass int8."""

    def __init__(self, in_features: int, out_features: int, *, threshold: float, **kwargs) -> None:
        super().__init__(in_features, out_features, activations="per_token", **kwargs)
        self.threshold = threshold
        # How many input features the last call sent through float (for diagnostics).
        self.last_outlier_features = 0

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear, threshold: float = 6.0) -> MixedInt8Linear:
        layer = cls(
            linear.in_features, linear.out_features, threshold=threshold,
            bias=linear.bias is not None, device=linear.weight.device, dtype=linear.weight.dtype,
        )
        layer.load_from_linear(linear)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).float()
        if self.threshold > 0:
            outliers = (rows.abs().amax(dim=0) > self.threshold).nonzero().squeeze(1)
            self.last_outlier_features = int(outliers.numel())
        else:  # bitsandbytes' meaning of 0: no decomposition
            self.last_outlier_features = 0
        if self.last_outlier_features:
            loud = rows.index_select(1, outliers)
            rows = rows.index_fill(1, outliers, 0.0)  # a copy: the caller's input is untouched
        q, scale = quantize_activations(rows, "per_token")
        out = int8_matmul(q, self.weight_int8.t()) * self.weight_scale
        out.mul_(scale)
        if self.last_outlier_features:
            columns = (
                self.weight_int8.index_select(1, outliers).float() * self.weight_scale[:, None]
            )
            out.addmm_(loud, columns.t())
        if self.bias is not None:
            out.add_(self.bias)
        return out.to(self.output_dtype).view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, threshold={self.threshold}"


def _uses_bitsandbytes(config: LLMInt8Config, device: torch.device) -> bool:
    return (
        config.kernel == "auto"
        and device.type == "cuda"
        and importlib.util.find_spec("bitsandbytes") is not None
    )


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
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            has_fp16_weights=False,
            threshold=threshold,
            device="meta",
        )
        # Int8Params quantizes when moved from the CPU to a GPU (bitsandbytes' documented
        # path), not from one GPU to another: the float weight passes through host memory.
        int8.weight = bnb.nn.Int8Params(
            linear.weight.data.cpu(), requires_grad=False, has_fp16_weights=False
        ).to(linear.weight.device)
        int8.bias = frozen_bias(linear)
        replace_module(model, name, int8.train(linear.training))
    return len(layers)


@register(LLMInt8Config)
def apply_llm_int8(
    model: torch.nn.Module, config: LLMInt8Config, context: ApplyContext
) -> ApplyReport:
    """Replace every target Linear by a mixed int8/float layer."""
    if _uses_bitsandbytes(config, context.device):
        context.report("llm-int8", 0.0)
        count = to_bnb_int8(model, threshold=config.threshold, skip=config.skip)
        context.report("llm-int8", 1.0)
        kernel = "bitsandbytes"
    else:
        layers = target_linears(model, config.skip)
        for i, (name, linear) in enumerate(layers.items()):
            replace_module(model, name, MixedInt8Linear.from_linear(linear, config.threshold))
            context.report("llm-int8", (i + 1) / len(layers))
        count, kernel = len(layers), "torch._int_mm"
    return ApplyReport(
        config.recipe,
        LLMInt8Config.execution,
        count,
        {"threshold": config.threshold, "kernel": kernel},
    )
