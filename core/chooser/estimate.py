"""A candidate's memory and speed on the user's hardware and workload: the memory arithmetic
of core.chooser.memory, and a roofline estimate of prefill and decode.

Roofline: a step takes at least its bytes over the memory bandwidth and at least its FLOPs
over the peak throughput of its data type; the larger bound is the estimate. It is an upper
bound on speed (real kernels reach part of it), shown as an estimate wherever it appears.
Rules may scale it (`speed_factor`) for kernels known to fall well short, and say why.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from core.chooser.memory import (
    FLOAT_BITS,
    MemoryEstimate,
    WeightFormat,
    activation_bytes,
    decode_read_bytes,
    kv_cache_bytes,
    weight_bytes,
)
from core.chooser.models import ChooserModel
from core.chooser.query import Hardware, Workload
from core.chooser.rules import Candidate

# Share of the hardware's memory kept for the runtime (CUDA context, allocator, buffers).
RESERVE = 0.1


@dataclass(frozen=True)
class Step:
    """One roofline step: what it moves and computes, and how long that takes at least."""

    bytes: float
    flops: float
    seconds: float
    bound: str  # "memory" or "compute"


@dataclass(frozen=True)
class Estimate:
    """A candidate on the hardware and workload."""

    memory: MemoryEstimate
    draft_bytes: int
    usable_bytes: int
    offloaded_bytes: int
    fits: bool
    batch: int  # the batch the speed figures are for (the requested one, or the most that fits)
    max_batch: int
    prefill: Step | None
    decode: Step | None
    decode_tok_s: float  # per sequence
    request_s: float  # prefill plus every output token, for one batch
    throughput_tok_s: float  # output tokens per second over the batch
    energy_j_per_tok: float | None

    @property
    def total_bytes(self) -> int:
        return self.memory.total + self.draft_bytes


def weight_format(candidate: Candidate) -> WeightFormat:
    weights = candidate.weights
    return WeightFormat(bits=weights.bits, group_size=weights.group_size,
                        symmetric=weights.symmetric, sparse_2_4=weights.sparse_2_4)


def candidate_model(model: ChooserModel, candidate: Candidate) -> ChooserModel:
    """The model the candidate leaves: fewer layers after a layer drop, else the model."""
    if candidate.layers_kept >= 1.0:
        return model
    layers = max(1, round(model.shape.layers * candidate.layers_kept))
    shape = dataclasses.replace(model.shape, layers=layers)
    return dataclasses.replace(model, shape=shape, name=f"{model.name} with {layers} layers")


def _linear_flop_share(candidate: Candidate) -> float:
    # 2:4 sparse tensor cores skip the pruned half of each product.
    return 0.5 if candidate.weights.sparse_2_4 else 1.0


def _attention_flops(model: ChooserModel, tokens: float, context: float) -> float:
    shape = model.shape
    return 4.0 * shape.layers * shape.heads * shape.head_dim * tokens * context


def _step(moved: float, flops: float, hardware: Hardware, candidate: Candidate,
          offloaded: float = 0.0) -> Step:
    link = (hardware.device.host_link_gb_s or hardware.device.bandwidth_gb_s) * 1e9
    memory_s = (moved - offloaded) / hardware.bandwidth_bytes_s + offloaded / link
    compute_peak = hardware.flops_s(candidate.compute)
    compute_s = flops / compute_peak if compute_peak else math.inf
    bound = "memory" if memory_s >= compute_s else "compute"
    return Step(bytes=moved, flops=flops, seconds=max(memory_s, compute_s) / candidate.speed_factor,
                bound=bound)


def _memory(model: ChooserModel, candidate: Candidate, fmt: WeightFormat, workload: Workload,
            batch: int) -> MemoryEstimate:
    return MemoryEstimate(
        weights=weight_bytes(model, fmt),
        kv_cache=kv_cache_bytes(model, batch=batch, context=workload.context,
                                kv_bits=candidate.kv_bits),
        activations=activation_bytes(model, batch=batch, prompt=workload.prompt))


def _draft_bytes(model: ChooserModel, candidate: Candidate) -> int:
    # A draft model of the same family, about `draft_fraction` of the model's size at 16 bits.
    if not candidate.draft_fraction:
        return 0
    return int(weight_bytes(model, WeightFormat(bits=FLOAT_BITS)) * candidate.draft_fraction)


def _max_batch(model, candidate, fmt, workload, usable, draft) -> int:
    """The most sequences of the workload's length that fit beside the weights."""
    def fits(batch: int) -> bool:
        return _memory(model, candidate, fmt, workload, batch).total + draft <= usable

    if not fits(1):
        return 0
    low, high = 1, 2
    while high <= 65_536 and fits(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def estimate(model: ChooserModel, candidate: Candidate, hardware: Hardware,
             workload: Workload, *, goal: str) -> Estimate:
    """The candidate's memory, fit and roofline speed. For the throughput and energy goals
    the batch grows to the most that fits, up to the requested one."""
    model = candidate_model(model, candidate)
    fmt = weight_format(candidate)
    usable = int(hardware.memory_bytes * (1.0 - RESERVE))
    draft = _draft_bytes(model, candidate)
    requested = _memory(model, candidate, fmt, workload, workload.batch)
    max_batch = _max_batch(model, candidate, fmt, workload, usable, draft)
    offloaded = 0
    if max_batch >= workload.batch or (goal in ("throughput", "energy") and max_batch):
        batch = workload.batch if max_batch >= workload.batch else max_batch
        fits = True
    elif candidate.offload and hardware.device.host_link_gb_s:
        batch, fits = workload.batch, True
        offloaded = requested.total + draft - usable
    else:
        batch, fits = workload.batch, False
    memory = _memory(model, candidate, fmt, workload, batch)
    if not fits:
        return Estimate(memory, draft, usable, 0, False, batch, max_batch, None, None,
                        0.0, math.inf, 0.0, None)
    share = _linear_flop_share(candidate)
    active = model.active_parameters()
    # Prefill: the whole prompt of every sequence; weights read once, the KV cache written.
    prompt_tokens = batch * workload.prompt
    prefill = _step(
        moved=memory.weights + kv_cache_bytes(model, batch=batch, context=workload.prompt,
                                              kv_bits=candidate.kv_bits),
        flops=2.0 * active * prompt_tokens * share
        + _attention_flops(model, prompt_tokens, workload.prompt / 2),
        hardware=hardware, candidate=candidate, offloaded=offloaded)
    # Decode: one token per sequence, at the mean context of the generation.
    context = workload.prompt + workload.output / 2
    decode = _step(
        moved=decode_read_bytes(model, fmt, batch=batch)
        + kv_cache_bytes(model, batch=batch, context=int(context), kv_bits=candidate.kv_bits),
        flops=2.0 * active * batch * share + _attention_flops(model, batch, context),
        hardware=hardware, candidate=candidate, offloaded=offloaded)
    speedup = candidate.decode_speedup if batch <= (candidate.max_batch or batch) else 1.0
    step_s = decode.seconds / speedup
    request_s = prefill.seconds + workload.output * step_s
    power = hardware.device.power_w
    energy = power * hardware.count * request_s / (batch * workload.output) if power else None
    return Estimate(memory, draft, usable, offloaded, True, batch, max_batch, prefill, decode,
                    decode_tok_s=1.0 / step_s, request_s=request_s,
                    throughput_tok_s=batch * workload.output / request_s,
                    energy_j_per_tok=energy)
