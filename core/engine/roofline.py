"""Memory bandwidth (a short copy benchmark, cached per device) and the roofline decode bound.

Decoding one token must read every weight once plus the KV cache so far; at batch b the
weights are read once for all b sequences. bandwidth / bytes-per-step bounds the steps per
second from above, whatever the kernels do.
"""

from __future__ import annotations

import json
import time

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
    cached = json.loads(cache_file.read_text()) if use_cache and cache_file.is_file() else {}
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
        cached[key] = bandwidth
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps(cached, indent=2))
    return bandwidth


def kv_cache_bytes(config, *, batch: int, context: int, element_size: int) -> int:
    """Bytes of keys and values for `context` tokens of `batch` sequences."""
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return 2 * config.num_hidden_layers * heads * head_dim * context * batch * element_size


def decode_step_bytes(model, *, batch: int, context: int) -> int:
    """Bytes one decode step reads: the weights (an embedding table only looks up rows,
    unless it is tied to the output layer, which reads it whole) plus the KV cache."""
    weights = stored_bytes(model)
    embedding = model.get_input_embeddings().weight
    output = model.get_output_embeddings()
    tied = output is not None and output.weight.data_ptr() == embedding.data_ptr()
    if not tied:
        weights -= embedding.numel() * embedding.element_size()
    element_size = next(model.parameters()).element_size()
    return weights + kv_cache_bytes(model.config, batch=batch, context=context, element_size=element_size)


def roofline_decode_tok_s(bandwidth_gb_s: float, step_bytes: int, *, batch: int = 1) -> float:
    """The bound on decode tokens per second: steps per second times sequences per step."""
    return bandwidth_gb_s * 1e9 / step_bytes * batch
