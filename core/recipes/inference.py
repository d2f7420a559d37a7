"""The inference-time configs: options that change how a model runs, not its weights. Their
handlers live in core/inference.

Torch-free (pydantic only), so the app can build and validate these configs and generate
their launch forms without loading the engine.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from core.techniques.config import Requirements, TechniqueConfig

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
