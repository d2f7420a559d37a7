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
from core.quantization.targets import target_linears
from core.recipes.quantization import LLMInt8Config
from core.techniques.base import ApplyContext, ApplyReport
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
            columns = self.weight_int8.index_select(1, outliers).float() * self.weight_scale[:, None]
            out.addmm_(loud, columns.t())
        if self.bias is not None:
            out.add_(self.bias)
        return out.to(self.output_dtype).view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, threshold={self.threshold}"


def _uses_bitsandbytes(config: LLMInt8Config, device: torch.device) -> bool:
    return (config.kernel == "auto" and device.type == "cuda"
            and importlib.util.find_spec("bitsandbytes") is not None)


@register(LLMInt8Config)
def apply_llm_int8(model: torch.nn.Module, config: LLMInt8Config, context: ApplyContext) -> ApplyReport:
    """Replace every target Linear by a mixed int8/float layer."""
    if _uses_bitsandbytes(config, context.device):
        from core.quantization.bnb import to_bnb_int8

        context.report("llm-int8", 0.0)
        count = to_bnb_int8(model, threshold=config.threshold, skip=config.skip)
        context.report("llm-int8", 1.0)
        kernel = "bitsandbytes"
    else:
        layers = target_linears(model, config.skip)
        for i, (name, linear) in enumerate(layers.items()):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, MixedInt8Linear.from_linear(linear, config.threshold))
            context.report("llm-int8", (i + 1) / len(layers))
        count, kernel = len(layers), "torch._int_mm"
    return ApplyReport(config.recipe, LLMInt8Config.execution, count,
                       {"threshold": config.threshold, "kernel": kernel})
