"""The chooser's memory arithmetic: what a model takes on a device at a weight format, with
its KV cache at a workload's batch and context, and whether it fits.

- Weights: each decoder Linear (every expert's, in a mixture of experts) in its packed
  format (core.engine.format_bytes: bits, a float16 scale and a zero point per group); the
  embeddings, the output head and the norms stay at the float width (16 bits), as the
  weight-only formats that serve LLMs keep them.
- KV cache: keys and values of every layer's KV heads (grouped-query attention counts the
  KV heads, not the query heads) for `batch` sequences of `context` tokens, at 16 bits or a
  quantized width with a float16 scale and zero point per group of 64 values.
- Activations: an estimate of prefill's largest transient tensors (the MLP's widest
  intermediate for one chunk of prompt tokens across the batch, and each sequence's
  last-position logits), named as an estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.chooser.models import ChooserModel
from core.engine.format_bytes import SCALE_BYTES, packed_weight_bytes

FLOAT_BITS = 16
# Quantized KV caches keep a float16 scale and zero point per group of this many values
# (transformers' quantized cache uses groups of 64).
KV_GROUP = 64
# Serving engines prefill in chunks of at most this many tokens per step, across the whole
# batch (vLLM's and SGLang's chunked prefill budgets are of this order); HF's generate does
# every prompt at once, which the chooser does not assume.
PREFILL_CHUNK = 4096


@dataclass(frozen=True)
class WeightFormat:
    """How the decoder's Linear weights are stored: bits, and groups of input columns
    (None: one scale per output row); 16 bits means unquantized float16 / bfloat16."""

    bits: int = FLOAT_BITS
    group_size: int | None = None
    symmetric: bool = False
    # 2:4 semi-structured sparsity: half the values kept, with 2 bits of position metadata
    # per kept value (NVIDIA's sparse tensor-core layout).
    sparse_2_4: bool = False

    def describe(self) -> str:
        sparse = ", 2:4 sparse" if self.sparse_2_4 else ""
        if self.bits >= FLOAT_BITS:
            return f"{self.bits}-bit float{sparse}"
        groups = f"groups of {self.group_size}" if self.group_size else "per channel"
        return f"{self.bits}-bit, {groups}{sparse}"


def _linear_bytes(rows: int, columns: int, fmt: WeightFormat) -> int:
    if fmt.sparse_2_4:
        dense = WeightFormat(fmt.bits, fmt.group_size // 2 if fmt.group_size else None,
                             fmt.symmetric)
        return _linear_bytes(rows, columns // 2, dense) + rows * columns // 2 * 2 // 8
    if fmt.bits >= FLOAT_BITS:
        return rows * columns * fmt.bits // 8
    # A group size that does not divide a layer's input leaves that layer per channel, as
    # the quantizers here refuse such groups (the bundled model's 576 by 128, say).
    group = fmt.group_size if fmt.group_size and columns % fmt.group_size == 0 else None
    return packed_weight_bytes(rows, columns, fmt.bits, group, symmetric=fmt.symmetric)


def weight_bytes(model: ChooserModel, fmt: WeightFormat, *, float_bits: int = FLOAT_BITS) -> int:
    """Bytes of the model's weights with its decoder Linears in `fmt` and the rest (embeddings,
    head, norms, routers) at `float_bits`."""
    shape = model.shape
    attention = shape.heads * shape.head_dim
    kv = shape.kv_heads * shape.head_dim
    layer = (_linear_bytes(attention, shape.hidden, fmt) + 2 * _linear_bytes(kv, shape.hidden, fmt)
             + _linear_bytes(shape.hidden, attention, fmt))
    mlp = 2 * _linear_bytes(shape.intermediate, shape.hidden, fmt) + \
        _linear_bytes(shape.hidden, shape.intermediate, fmt)
    router = shape.hidden * model.experts if model.is_moe else 0
    float_bytes = float_bits // 8
    per_layer = layer + model.experts * mlp + router * float_bytes
    embeddings = shape.vocab * shape.hidden * (1 if shape.tied_embeddings else 2)
    norms = (2 * shape.layers + 1) * shape.hidden
    return shape.layers * per_layer + (embeddings + norms) * float_bytes


def expert_bytes(model: ChooserModel, fmt: WeightFormat) -> int:
    """Bytes of every expert's MLP in a mixture of experts (0 for a dense model, whose one
    MLP every token uses)."""
    if not model.is_moe:
        return 0
    shape = model.shape
    mlp = 2 * _linear_bytes(shape.intermediate, shape.hidden, fmt) + \
        _linear_bytes(shape.hidden, shape.intermediate, fmt)
    return shape.layers * model.experts * mlp


def experts_touched(model: ChooserModel, batch: int) -> float:
    """The expected share of a layer's experts that `batch` tokens route to, with each token
    choosing `active_experts` of them uniformly: 1 - (1 - k/E)^batch."""
    if not model.is_moe:
        return 1.0
    return 1.0 - (1.0 - model.active_experts / model.experts) ** batch


def decode_read_bytes(model: ChooserModel, fmt: WeightFormat, *, batch: int) -> int:
    """Weight bytes one decode step reads for `batch` sequences: every weight but the input
    embeddings (a lookup reads only the batch's rows; a tied table is read as the head), and
    of a mixture's experts only those the batch's tokens route to."""
    shape = model.shape
    untied_embeddings = 0 if shape.tied_embeddings else shape.vocab * shape.hidden * 2
    experts = expert_bytes(model, fmt)
    unread_experts = experts * (1.0 - experts_touched(model, batch))
    return int(weight_bytes(model, fmt) - untied_embeddings - unread_experts)


def kv_cache_bytes(model: ChooserModel, *, batch: int, context: int,
                   kv_bits: int = FLOAT_BITS) -> int:
    """Bytes of the KV cache for `batch` sequences of `context` tokens at `kv_bits`."""
    shape = model.shape
    values = 2 * shape.layers * shape.kv_heads * shape.head_dim * context * batch
    if kv_bits >= FLOAT_BITS:
        return values * kv_bits // 8
    groups = math.ceil(values / KV_GROUP)
    return math.ceil(values * kv_bits / 8) + groups * 2 * SCALE_BYTES


def activation_bytes(model: ChooserModel, *, batch: int, prompt: int) -> int:
    """An estimate of prefill's peak transient memory: the widest MLP intermediate (gate and
    up, and their product) for one chunk of prompt tokens, and float32 logits of the last
    position of each sequence."""
    shape = model.shape
    tokens = min(batch * prompt, PREFILL_CHUNK)
    mlp = 3 * tokens * shape.intermediate * (FLOAT_BITS // 8)
    logits = batch * shape.vocab * 4  # the last position of each sequence, in float32
    return mlp + logits


@dataclass(frozen=True)
class MemoryEstimate:
    """What a model takes at a format and workload, part by part."""

    weights: int
    kv_cache: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.activations

    def fits(self, device_bytes: int, *, reserve: float = 0.1) -> bool:
        """Whether it fits in `device_bytes`, keeping `reserve` of it for the runtime (CUDA
        context, allocator fragmentation, the serving engine's own buffers)."""
        return self.total <= device_bytes * (1.0 - reserve)


def estimate_memory(model: ChooserModel, fmt: WeightFormat, *, batch: int, prompt: int,
                    output: int, kv_bits: int = FLOAT_BITS) -> MemoryEstimate:
    """The memory of serving `model` in `fmt` to `batch` sequences of `prompt` + `output`
    tokens."""
    return MemoryEstimate(
        weights=weight_bytes(model, fmt),
        kv_cache=kv_cache_bytes(model, batch=batch, context=prompt + output, kv_bits=kv_bits),
        activations=activation_bytes(model, batch=batch, prompt=prompt))
