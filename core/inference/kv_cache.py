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
from typing import Literal

import torch
from pydantic import Field, ValidationInfo, field_validator

from core.engine.kv import set_cache_factory
from core.techniques.base import ApplyContext, ApplyReport, Requirements, TechniqueConfig
from core.techniques.registry import InvalidRecipeError, register

# Bit widths each backend can store (transformers' QuantizedCache checks the same).
BACKEND_BITS: dict[str, tuple[int, ...]] = {"quanto": (2, 4), "hqq": (2, 4, 8), "fp8": (8,)}
# Optional packages a backend needs beyond the project's own dependencies (quanto is one).
BACKEND_PACKAGES: dict[str, tuple[str, ...]] = {"quanto": (), "hqq": ("hqq",), "fp8": ()}
DEFAULT_GROUP_SIZE = 64
DEFAULT_RESIDUAL_LENGTH = 128


class _BackendRequirements:
    """`requirements` that follow the chosen backend (hqq needs its optional package). Read
    on the class, before a backend is chosen, it gives the default backend's."""

    def __get__(self, instance, owner) -> Requirements:
        backend = instance.backend if instance is not None else "quanto"
        return Requirements(packages=BACKEND_PACKAGES[backend])


class QuantizedKVCacheConfig(TechniqueConfig):
    """Decode with transformers' quantized KV cache instead of a float one."""

    recipe: Literal["quantized-kv-cache"] = "quantized-kv-cache"
    backend: Literal["quanto", "hqq", "fp8"] = Field(
        "quanto", description="quanto (int2/int4, any device); hqq (int2/4/8, needs the hqq "
        "package); fp8 (float8 with one scale per layer's keys or values, no float window)"
    )
    bits: Literal[2, 4, 8] = Field(4, description="bits per cached key or value")
    group_size: int = Field(
        DEFAULT_GROUP_SIZE, ge=8, le=4096, description="values sharing one scale and zero "
        "point: consecutive values of one token's head. Must divide the model's head dimension."
    )
    residual_length: int = Field(
        DEFAULT_RESIDUAL_LENGTH, ge=1, le=65536, description="most recent tokens kept in "
        "float; when that many have gathered, the whole cache is quantized again"
    )

    requirements = _BackendRequirements()
    execution = "real"

    @field_validator("bits")
    @classmethod
    def _bits_fit_backend(cls, bits: int, info: ValidationInfo) -> int:
        backend = info.data.get("backend")
        if backend in BACKEND_BITS and bits not in BACKEND_BITS[backend]:
            allowed = " or ".join(map(str, BACKEND_BITS[backend]))
            raise ValueError(f"the {backend} backend stores {allowed} bits, not {bits}")
        return bits

    @field_validator("group_size", "residual_length")
    @classmethod
    def _groupwise_only(cls, value: int, info: ValidationInfo) -> int:
        # fp8 scales per tensor and appends as it goes: these settings mean nothing there.
        default = cls.model_fields[info.field_name].default
        if info.data.get("backend") == "fp8" and value != default:
            raise ValueError(f"the fp8 backend scales per tensor and keeps no float window; "
                             f"leave it at {default}")
        return value


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
    """Make the model decode with a fresh quantized KV cache from now on; weights stay as they are."""
    layers = _check_model(model, config)
    # The config's JSON names the option: it keys the model's cached outputs.
    set_cache_factory(model, partial(new_quantized_cache, model.config, config),
                      label=config.to_json())
    context.report("quantized-kv-cache", 1.0)
    return ApplyReport(config.recipe, QuantizedKVCacheConfig.execution, layers,
                       details={"cache_layers": layers, "weights_changed": 0})
