"""Quantized KV cache: keys and values stored in low-bit form while decoding, through
transformers' `QuantizedCache`.

No weight changes. Applying the config attaches a cache factory to the model (see
core.engine.kv), so every later cached run in the engine (prefill, decode, TTFT, quality
scored through the cache) starts from a fresh quantized cache. The cache keeps the most
recent `residual_length` tokens in float; when that window fills, everything is quantized
per group of `group_size` consecutive values of one token's head (the transformers
default), and attention dequantizes the whole cache at every step. Execution is real: the
cache really holds packed data, so its bytes and its (de)quantization cost are measured.

transformers also offers axis -1 (per-channel groups running across tokens). It is left
out: quanto needs tokens x KV heads to be a multiple of the group size at every
quantization, which a cache growing one token at a time cannot promise.
"""

from __future__ import annotations

from functools import partial

import torch

from core.engine.kv import set_cache_factory
from core.recipes.base import InvalidRecipeError
from core.recipes.inference import QuantizedKVCacheConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


def new_quantized_cache(model_config, config: QuantizedKVCacheConfig):
    """A fresh, empty quantized cache for a model with `model_config`."""
    from transformers import QuantizedCache

    if config.backend == "fp8":  # per-tensor: takes none of the group-wise settings
        return QuantizedCache(backend="fp8", config=model_config)
    return QuantizedCache(
        backend=config.backend, config=model_config, nbits=config.bits, axis_key=0,
        axis_value=0, q_group_size=config.group_size, residual_length=config.residual_length,
    )


def _head_dim(model_config) -> int:
    return getattr(model_config, "head_dim", None) or (
        model_config.hidden_size // model_config.num_attention_heads)


def _check_model(model: torch.nn.Module, config: QuantizedKVCacheConfig) -> int:
    # Fail at apply time, with a message naming the setting, not in the middle of a measurement.
    text_config = model.config.get_text_config(decoder=True)
    head_dim = _head_dim(text_config)
    if config.backend != "fp8" and head_dim % config.group_size:
        raise InvalidRecipeError(
            f"group_size ({config.group_size}) must divide the model's head dimension "
            f"({head_dim}): each group holds values of one token's head"
        )
    try:
        new_quantized_cache(model.config, config)
    except (ValueError, ImportError) as error:  # e.g. sliding-window layers
        raise InvalidRecipeError(f"this model cannot use a quantized KV cache: {error}") from None
    return text_config.num_hidden_layers


@register(QuantizedKVCacheConfig)
def apply_quantized_kv_cache(
    model: torch.nn.Module, config: QuantizedKVCacheConfig, context: ApplyContext
) -> ApplyReport:
    """Make the model decode with a fresh quantized KV cache from now on; weights stay."""
    layers = _check_model(model, config)
    # The config's JSON names the option: it keys the model's cached outputs.
    set_cache_factory(
        model, partial(new_quantized_cache, model.config, config), label=config.to_json()
    )
    context.report("quantized-kv-cache", 1.0)
    return ApplyReport(
        config.recipe,
        QuantizedKVCacheConfig.execution,
        layers,
        details={"cache_layers": layers, "weights_changed": 0},
    )
