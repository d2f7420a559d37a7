"""The inference-time configs: options that change how a model runs, not its weights. Their
handlers live in core/inference.

Torch-free (pydantic only), so the app can build and validate these configs and generate
their launch forms without loading the engine.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from core.engine.model_refs import MAX_MODEL_REF_CHARS, ModelNotFoundError, parse_model_ref
from core.engine.model_shapes import ModelShape
from core.recipes.base import Requirements, TechniqueConfig, calibration_samples_field
from core.recipes.shape_rules import draft_layers_kept

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
    algorithm = "new_quantized_cache"
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


ATTENTION_PACKAGES: dict[str, tuple[str, ...]] = {
    "sdpa": (), "eager": (), "flash_attention_2": ("flash_attn",)}


class _AttentionRequirements:
    """flash-attention-2 needs a CUDA GPU and the flash_attn package; the others run anywhere."""

    def __get__(self, instance, owner) -> Requirements:
        chosen = instance.implementation if instance is not None else "sdpa"
        return Requirements(cuda=chosen == "flash_attention_2", packages=ATTENTION_PACKAGES[chosen])


class AttentionImplementationConfig(TechniqueConfig):
    """Run attention through another kernel: same mathematics, other speed and memory."""

    recipe: Literal["attention-implementation"] = "attention-implementation"
    implementation: Literal["sdpa", "eager", "flash_attention_2"] = Field(
        "sdpa", description="sdpa: torch's fused scaled_dot_product_attention (picks a flash "
        "or memory-efficient kernel where it can); eager: plain matmul + softmax in PyTorch, "
        "which materialises the whole score matrix; flash_attention_2: the flash-attn "
        "package's kernels (CUDA, fp16/bf16)"
    )

    requirements = _AttentionRequirements()
    execution = "real"
    speed_only = True


class CacheCompileConfig(TechniqueConfig):
    """How the decode loop runs: which KV cache (static, dynamic, none) and whether the
    forward pass is compiled with torch.compile."""

    recipe: Literal["static-cache-compile"] = "static-cache-compile"
    algorithm = "compiled_forward"
    cache: Literal["static", "dynamic", "off"] = Field(
        "static", description="static: keys and values in buffers preallocated for the whole "
        "generation (fixed shapes, what compilation needs); dynamic: transformers' default "
        "cache that grows by concatenation; off: no KV cache, every step recomputes the whole "
        "sequence (the cost a cache saves)"
    )
    compile: bool = Field(
        True, description="compile the forward pass with torch.compile (inductor) before "
        "decoding; the compile time is counted in compression_s"
    )
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = Field(
        "default", description="torch.compile mode: reduce-overhead adds CUDA graphs on a GPU; "
        "max-autotune also searches kernel configurations (slow to compile)"
    )

    execution = "real"
    speed_only = True

    @model_validator(mode="after")
    def _compile_needs_fixed_shapes(self):
        if self.compile and self.cache != "static":
            # A cache that grows changes every step's shapes: each would recompile.
            raise ValueError("compile needs the static cache (a growing cache recompiles every "
                             "step); set cache to static or turn compile off")
        return self


class _DraftRequirements:
    """A draft cut from the target picks its layers on calibration text; a separate draft
    model needs none."""

    def __get__(self, instance, owner) -> Requirements:
        own_copy = instance is None or not instance.draft_model
        return Requirements(calibration=own_copy)


class SpeculativeDecodingConfig(TechniqueConfig):
    """Speculative decoding: a draft model proposes tokens, the target checks them in one
    pass (transformers' assisted generation). Greedy output stays the target's own."""

    recipe: Literal["speculative-decoding"] = "speculative-decoding"
    draft_model: str = Field(
        "", max_length=MAX_MODEL_REF_CHARS, description="empty: a copy of the target keeping "
        "draft_layers_kept of its decoder layers (the least important go); else a Hugging Face "
        "id or local folder of a smaller model with the target's tokenizer"
    )
    draft_layers_kept: float = Field(
        0.75, gt=0.0, lt=1.0, description="share of the target's decoder layers the draft "
        "keeps (a draft cut from the target only). Fewer layers draft faster but agree less: "
        "on the bundled model half the layers had no proposal accepted, 70 % about half"
    )
    draft_tokens: int = Field(
        5, ge=1, le=64, description="tokens the draft proposes per step (the starting value "
        "when the schedule is heuristic)"
    )
    schedule: Literal["heuristic", "constant"] = Field(
        "heuristic", description="heuristic: transformers grows the proposal length by 2 after "
        "a fully accepted step and shrinks it by 1 otherwise; constant: always draft_tokens"
    )
    calibration_samples: int = calibration_samples_field(
        8, " to rank the layers the draft drops (a draft cut from the target only)")

    requirements = _DraftRequirements()
    execution = "real"
    speed_only = True

    @field_validator("draft_model")
    @classmethod
    def _draft_is_a_model(cls, value: str) -> str:
        # Named like any model a job may load: refused now, not when the worker reaches it.
        value = value.strip()
        if value:
            try:
                parse_model_ref(value)
            except ModelNotFoundError as error:
                raise ValueError(str(error)) from None
        return value

    def shape_problems(self, shape: ModelShape) -> list[str]:
        """A draft cut from the target that would keep every layer."""
        if self.draft_model:
            return []
        _, problem = draft_layers_kept(shape.layers, self.draft_layers_kept)
        return [problem] if problem else []


class PromptLookupConfig(TechniqueConfig):
    """Prompt-lookup decoding: draft tokens copied from where the last n-gram appeared
    earlier in the text; no draft model."""

    recipe: Literal["prompt-lookup-decoding"] = "prompt-lookup-decoding"
    lookup_tokens: int = Field(
        10, ge=1, le=64, description="tokens proposed after a match (prompt_lookup_num_tokens)"
    )
    max_ngram: int = Field(
        2, ge=1, le=16, description="longest n-gram searched for, tried from this length "
        "down to 1 (max_matching_ngram_size)"
    )

    execution = "real"
    speed_only = True
