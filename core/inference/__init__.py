"""Inference-time techniques: options that change how a model runs, not its weights.
Importing this package registers every one of them."""

from core.inference import attention, generation, kv_cache, speculative  # noqa: F401  (register on import)
