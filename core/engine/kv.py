"""The KV cache a model decodes with: an inference-time option the engine honours, and the
bytes a cache really holds.

A technique that changes how keys and values are cached (a quantized KV cache, say) changes
no weight: it attaches a cache factory to the model with `set_cache_factory`. Every engine
path that runs the model with a cache (prefill, TTFT, decode, energy, quality through the
cache) asks `new_cache(model)` for a fresh cache and passes it to the first forward call;
without a factory it gets None and the model builds its default cache, as before. The
factory lives here, in the engine, so that the engine never imports the technique packages
(dependencies point one way: techniques -> engine).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.engine.memory import storage_bytes

# A plain attribute, not a submodule or buffer: it adds no weight, no state_dict entry.
_ATTRIBUTE = "optatlas_kv_cache"


@dataclass(frozen=True)
class CacheOption:
    """How a model caches keys and values: a factory of fresh caches, and a label that names
    the option (part of the model's fingerprint: the cached outputs of the same weights with
    another cache must never be served for this one)."""

    factory: Callable[[], object]
    label: str


def set_cache_factory(model: torch.nn.Module, factory: Callable[[], object] | None, *,
                      label: str = "") -> None:
    """Make every later cached run of `model` in the engine start from `factory()`;
    None restores the model's default cache."""
    if factory is None:
        model.__dict__.pop(_ATTRIBUTE, None)
        return
    if not label:
        raise ValueError("a cache factory needs a label (it keys the model's cached outputs)")
    setattr(model, _ATTRIBUTE, CacheOption(factory, label))


def cache_option(model: torch.nn.Module) -> CacheOption | None:
    """The model's cache option, or None when it uses its default cache."""
    return getattr(model, _ATTRIBUTE, None)


def new_cache(model: torch.nn.Module):
    """A fresh cache from the model's factory, or None (the model then builds its default)."""
    option = cache_option(model)
    return option.factory() if option is not None else None


def cache_argument(model: torch.nn.Module) -> str:
    """The forward keyword that takes a cache: transformers renamed `past_key_values` to
    `cache` in its 5.x series; accept both."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def cache_of(output):
    """The cache a forward call returned (under either name)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def cache_keywords(model: torch.nn.Module, cache) -> dict:
    """Forward keywords that pass `cache`, or none when it is None (the default cache)."""
    return {} if cache is None else {cache_argument(model): cache}


def _tensors(value, found: list[torch.Tensor]) -> None:
    # Layers hold plain tensors, packed tensor subclasses (quanto), or tuples and dicts of
    # them (fp8: (data, scale); hqq: (data, meta)). Other attributes hold no cache data.
    if isinstance(value, torch.Tensor):
        found.append(value)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _tensors(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _tensors(item, found)


def cache_bytes(cache) -> int:
    """Bytes the cache's tensors really hold: packed data counted packed, with its scales
    and shifts, plus any float residual; shared storage counted once."""
    found: list[torch.Tensor] = []
    layers = getattr(cache, "layers", None)
    for holder in layers if layers is not None else [cache]:
        _tensors(list(vars(holder).values()) if hasattr(holder, "__dict__") else holder, found)
    return storage_bytes(found)
