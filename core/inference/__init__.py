"""Inference-time techniques: options that change how a model runs, not its weights.
Importing this package registers every one of them."""

from core.inference import kv_cache  # noqa: F401  (registers on import)
