"""Attention implementation: the same attention computed by another kernel. transformers
routes every attention layer through the function named by the model config's
`_attn_implementation`; switching it changes speed and memory, not the mathematics (outputs
differ only by floating-point rounding, which the quality metrics show)."""

from __future__ import annotations

import torch

from core.recipes.base import InvalidRecipeError
from core.recipes.inference import AttentionImplementationConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


def attention_implementation(model: torch.nn.Module) -> str | None:
    """The kernel the model's attention runs through now (e.g. "sdpa")."""
    return getattr(model.config, "_attn_implementation", None)


@register(AttentionImplementationConfig)
def apply_attention_implementation(model: torch.nn.Module, config: AttentionImplementationConfig,
                                   context: ApplyContext) -> ApplyReport:
    """Switch every attention layer of `model` to `config.implementation`."""
    before = attention_implementation(model)
    if config.implementation == "flash_attention_2":
        dtype = next(model.parameters()).dtype
        if dtype not in (torch.float16, torch.bfloat16):
            # flash-attn has kernels for half precision only; say so before transformers does.
            raise InvalidRecipeError("flash_attention_2 runs in float16 or bfloat16; load the "
                                     f"model in one of those (it is {dtype})")
    try:
        model.set_attn_implementation(config.implementation)
    except (ValueError, ImportError) as error:
        raise InvalidRecipeError(f"this model cannot use {config.implementation} attention: "
                                 f"{error}") from None
    context.report("attention-implementation", 1.0)
    layers = model.config.get_text_config(decoder=True).num_hidden_layers
    return ApplyReport(config.recipe, config.execution, layers,
                       {"before": before, "after": attention_implementation(model),
                        "weights_changed": 0})
