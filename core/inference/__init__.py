"""Inference-time techniques: options that change how a model runs, not its weights, one file
per recipe (core/inference/<slug>.py). Importing this package registers every one of them."""

from core.inference import (  # noqa: F401  (registers on import)
    attention_implementation,
    prompt_lookup_decoding,
    quantized_kv_cache,
    speculative_decoding,
    static_cache_compile,
)
