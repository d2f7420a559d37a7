"""Memory bandwidth (a short copy benchmark, cached per device) and the roofline decode bound.

Decoding one token must read every weight once plus the KV cache so far; at batch b the
weights are read once for all b sequences. bandwidth / bytes-per-step bounds the steps per
second from above, whatever the kernels do.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import torch

from core.engine.devices import describe, synchronize
from core.engine.memory import stored_bytes
from core.engine.paths import cache_dir

COPY_BYTES = 256 * 2**20
COPY_REPEATS = 7


def measure_bandwidth(device: torch.device, *, use_cache: bool = True) -> float:
    """Achieved copy bandwidth in GB/s (bytes read + written per second), best of repeats."""
    cache_file = cache_dir() / "bandwidth.json"
    key = f"{describe(device)}|{device.type}"
    cached = _read_cache(cache_file) if use_cache else {}
    if key in cached:
        return cached[key]
    source = torch.ones(COPY_BYTES // 4, dtype=torch.float32, device=device)
    target = torch.empty_like(source)
    target.copy_(source)  # warm-up: page in both buffers
    synchronize(device)
    best = float("inf")
    for _ in range(COPY_REPEATS):
        start = time.perf_counter()
        target.copy_(source)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    bandwidth = 2 * COPY_BYTES / best / 1e9
    if use_cache:
        _write_cache(cache_file, {**_read_cache(cache_file), key: bandwidth})
    return bandwidth


def _read_cache(path: Path) -> dict[str, float]:
    # An unreadable cache is an empty one: the benchmark reruns and rewrites it.
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, data: dict[str, float]) -> None:
    # A unique temporary file renamed into place: concurrent workers never see half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as file:
        json.dump(data, file, indent=2)
    os.replace(staging, path)


def kv_cache_bytes(config, *, batch: int, context: int, element_size: int) -> int:
    """Bytes of keys and values for `context` tokens of `batch` sequences."""
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return 2 * config.num_hidden_layers * heads * head_dim * context * batch * element_size


def _shares_storage(tensor, embedding: torch.Tensor) -> bool:
    """Whether the output layer's weight is the embedding table itself. A quantized output
    layer may have no `weight`, or a packed one without a plain storage: then it is not."""
    if not isinstance(tensor, torch.Tensor):
        return False
    try:
        return tensor.data_ptr() == embedding.data_ptr()
    except (RuntimeError, NotImplementedError):
        return False


def decode_step_bytes(
    model, *, batch: int, context: int, kv_element_size: int, kv_bytes: int | None = None
) -> int:
    """Bytes one decode step reads: the weights (an embedding table only looks up rows,
    unless it is tied to the output layer, which reads it whole) plus the KV cache.

    `kv_bytes`, when given, is the cache's measured size at `context` tokens (a quantized
    cache counted packed, as the weights are); otherwise the float size is computed from
    the config. The packed size is the least a step must read, so the bound stays an upper
    bound even for a cache that dequantizes into float copies to attend."""
    weights = stored_bytes(model)
    embedding = model.get_input_embeddings().weight
    tied = _shares_storage(getattr(model.get_output_embeddings(), "weight", None), embedding)
    if not tied:
        weights -= embedding.numel() * embedding.element_size()
    if kv_bytes is None:
        kv_bytes = kv_cache_bytes(
            model.config, batch=batch, context=context, element_size=kv_element_size
        )
    return weights + kv_bytes


def roofline_decode_tok_s(bandwidth_gb_s: float, step_bytes: int, *, batch: int = 1) -> float:
    """The bound on decode tokens per second: steps per second times sequences per step."""
    return bandwidth_gb_s * 1e9 / step_bytes * batch
