"""The roofline estimate against cases computed by hand: the bytes a decode step reads, when
a step turns compute-bound, what FP8 and 2:4 sparsity change, mixtures of experts, the
largest batch that fits, offloading, layer drops and speculative decoding."""

from __future__ import annotations

import dataclasses

import pytest

from core.chooser.estimate import estimate
from core.chooser.hardware import Device
from core.chooser.memory import WeightFormat, estimate_memory, kv_cache_bytes, weight_bytes
from core.chooser.models import PRESETS, ChooserModel
from core.chooser.query import Hardware, Workload
from core.chooser.rules import default_rules
from core.engine.model_shapes import ModelShape

RULES = default_rules()
LLAMA_8B = PRESETS["8B"]
MIXTRAL = PRESETS["47B-MoE"]
GIB = 2**30
# Hand-made: round figures, so every expected time below is a division by hand.
DEVICE = Device(key="hand", name="hand-made GPU", kind="gpu", architecture="test",
                memory_gib=80, bandwidth_gb_s=1000, tflops={"bf16": 100, "fp8": 200, "int8": 200},
                capabilities=frozenset({"bf16", "fp8", "int8_tensor_cores"}), power_w=500,
                host_link_gb_s=50)
BIG = Hardware(DEVICE)


def _candidate(key: str):
    return RULES.candidate(key)


def _bf16_weights_of_llama_8b() -> int:
    # Per layer: q and o (4096 x 4096), k and v (1024 x 4096: 8 KV heads of 128), gate and
    # up (14336 x 4096), down (4096 x 14336), two norms of 4096; then the input embeddings
    # and the untied head (128256 x 4096 each) and the final norm; 2 bytes each.
    per_layer = 2 * 4096 * 4096 + 2 * 1024 * 4096 + 3 * 14336 * 4096 + 2 * 4096
    return 2 * (32 * per_layer + 2 * 128256 * 4096 + 4096)


def test_an_8b_model_at_batch_1_is_memory_bound_reading_weights_and_kv_cache():
    workload = Workload(batch=1, prompt=1024, output=256)
    found = estimate(LLAMA_8B, _candidate("bf16"), BIG, workload, goal="latency")
    # A decode step reads every weight but the input embeddings (a lookup of one row), and
    # the KV cache at the generation's mean context, 1024 + 256 / 2 = 1152 tokens: keys and
    # values of 8 KV heads of 128 in 32 layers, 2 bytes each.
    weights = _bf16_weights_of_llama_8b()
    assert weights == 16_060_522_496
    kv_at_mean_context = 2 * 32 * 8 * 128 * 1152 * 2
    by_hand = weights - 128256 * 4096 * 2 + kv_at_mean_context
    assert found.fits and found.batch == 1
    assert found.memory.weights == weights
    assert found.decode.bytes == by_hand
    assert found.decode.bound == "memory"
    # 1000 GB/s: a step takes its bytes over 1e12 bytes a second.
    assert found.decode.seconds == pytest.approx(by_hand / 1e12)
    assert found.decode_tok_s == pytest.approx(1e12 / by_hand)
    # The request: prefill plus 256 such steps; energy: 500 W over the request's tokens.
    assert found.request_s == pytest.approx(found.prefill.seconds + 256 * by_hand / 1e12)
    assert found.energy_j_per_tok == pytest.approx(500 * found.request_s / 256)


def test_a_large_batch_turns_decode_compute_bound():
    # Each sequence adds 2 FLOPs a parameter (16 GFLOP, 0.16 ms at 100 TFLOPS) but only its
    # own KV cache in bytes; past about a hundred short sequences compute dominates.
    workload = Workload(batch=256, prompt=128, output=64)
    found = estimate(LLAMA_8B, _candidate("bf16"), BIG, workload, goal="throughput")
    assert found.batch == 256
    assert found.decode.bound == "compute"
    assert found.decode.seconds == pytest.approx(found.decode.flops / 100e12)
    assert found.decode.flops > 256 * 2 * LLAMA_8B.parameters() * 0.99
    single = estimate(LLAMA_8B, _candidate("bf16"), BIG, Workload(1, 128, 64), goal="latency")
    assert single.decode.bound == "memory"
    # More sequences still raise throughput, but compute keeps it well below 256 times.
    assert 10 * single.throughput_tok_s < found.throughput_tok_s < 128 * single.throughput_tok_s


@pytest.mark.parametrize("key", ["fp8-w8a8", "int8-w8a8"])
def test_8_bit_products_halve_compute_bound_prefill_on_twice_the_tflops(key):
    # Prefill of a 1024-token prompt: 2 x 8e9 x 1024 FLOPs, 0.16 s at 100 TFLOPS, against
    # 16 GB of weights read in 0.016 s: compute-bound; the device does 200 TFLOPS in 8 bits.
    workload = Workload(batch=1, prompt=1024, output=256)
    bf16 = estimate(LLAMA_8B, _candidate("bf16"), BIG, workload, goal="latency")
    eight_bit = estimate(LLAMA_8B, _candidate(key), BIG, workload, goal="latency")
    assert bf16.prefill.bound == eight_bit.prefill.bound == "compute"
    assert eight_bit.prefill.flops == bf16.prefill.flops
    assert eight_bit.prefill.seconds == pytest.approx(bf16.prefill.seconds / 2)
    assert bf16.prefill.seconds == pytest.approx(bf16.prefill.flops / 100e12)


def test_a_device_without_an_8_bit_path_multiplies_at_its_float_speed():
    no_fp8 = Hardware(dataclasses.replace(DEVICE, tflops={"bf16": 100}))
    workload = Workload(batch=1, prompt=1024, output=256)
    bf16 = estimate(LLAMA_8B, _candidate("bf16"), no_fp8, workload, goal="latency")
    fp8 = estimate(LLAMA_8B, _candidate("fp8-w8a8"), no_fp8, workload, goal="latency")
    assert fp8.prefill.seconds == pytest.approx(bf16.prefill.seconds)


ONE_LAYER = ChooserModel("one layer", ModelShape(
    architecture="llama", hidden=512, intermediate=1024, layers=1, heads=4, kv_heads=4,
    head_dim=128, vocab=100, tied_embeddings=True, max_positions=4096))
# Its Linears: q, k, v, o of 512 x 512, gate and up of 1024 x 512, down of 512 x 1024.
LINEAR_WEIGHTS = 4 * 512 * 512 + 3 * 1024 * 512
# Everything else stays 16-bit: the tied embeddings (100 x 512) and three norms of 512.
OTHER_BYTES = (100 * 512 + 3 * 512) * 2


def test_2_4_sparse_weights_store_half_the_values_and_2_bits_of_position_each():
    dense = weight_bytes(ONE_LAYER, WeightFormat(bits=16))
    assert dense == 2 * LINEAR_WEIGHTS + OTHER_BYTES
    kept = LINEAR_WEIGHTS // 2
    sparse_16 = weight_bytes(ONE_LAYER, WeightFormat(bits=16, sparse_2_4=True))
    assert sparse_16 == kept * 2 + kept * 2 // 8 + OTHER_BYTES
    # At 4 bits in groups of 128 input columns: the 64 values kept of each group share a
    # float16 scale (2 bytes) and a 4-bit zero.
    groups = kept // 64
    sparse_4 = weight_bytes(ONE_LAYER, WeightFormat(bits=4, group_size=128, sparse_2_4=True))
    assert sparse_4 == kept // 2 + groups * 2 + groups // 2 + kept * 2 // 8 + OTHER_BYTES


def test_2_4_sparse_products_skip_the_pruned_half():
    workload = Workload(batch=1, prompt=1024, output=256)
    dense = estimate(LLAMA_8B, _candidate("gptq-w4a16"), BIG, workload, goal="latency")
    sparse = estimate(LLAMA_8B, _candidate("sparse24-w4a16"), BIG, workload, goal="latency")
    attention = 4 * 32 * 32 * 128 * 1024 * 512  # the prompt's attention, not pruned
    assert sparse.prefill.flops - attention == pytest.approx((dense.prefill.flops - attention) / 2)
    assert sparse.memory.weights < dense.memory.weights


def _decode_weight_bytes(model, candidate_key: str, batch: int) -> float:
    workload = Workload(batch=batch, prompt=1024, output=256)
    found = estimate(model, _candidate(candidate_key), Hardware(DEVICE, 2), workload,
                     goal="throughput")
    assert found.batch == batch
    return found.decode.bytes - kv_cache_bytes(model, batch=batch, context=1152)


def test_a_mixture_of_experts_reads_the_active_experts_at_batch_1_and_nearly_all_at_64():
    input_embeddings = 32_000 * 4096 * 2
    stored = weight_bytes(MIXTRAL, WeightFormat(bits=16))
    # One token goes through 2 of 8 experts: the step reads what an active parameter is.
    active = 2 * MIXTRAL.active_parameters() - input_embeddings
    assert _decode_weight_bytes(MIXTRAL, "bf16", 1) == pytest.approx(active, rel=1e-6)
    assert active < 0.35 * stored
    # 64 tokens choosing 2 of 8 each leave an expert unread with odds (6/8)^64, about 1e-8.
    assert _decode_weight_bytes(MIXTRAL, "bf16", 64) == pytest.approx(
        stored - input_embeddings, rel=1e-6)


def test_max_batch_is_the_largest_batch_that_fits():
    workload = Workload(batch=1, prompt=1024, output=256)
    found = estimate(LLAMA_8B, _candidate("bf16"), BIG, workload, goal="latency")
    usable = int(80 * GIB * 0.9)  # 10 % kept for the runtime
    assert found.usable_bytes == usable

    def total(batch: int) -> int:
        return estimate_memory(LLAMA_8B, WeightFormat(bits=16), batch=batch, prompt=1024,
                               output=256).total

    assert found.max_batch > 1
    assert total(found.max_batch) <= usable < total(found.max_batch + 1)
    # Asked for more than fits, throughput runs at the most that fits; latency does not fit.
    more = Workload(batch=found.max_batch + 1, prompt=1024, output=256)
    assert estimate(LLAMA_8B, _candidate("bf16"), BIG, more, goal="throughput").batch == \
        found.max_batch
    crowded = estimate(LLAMA_8B, _candidate("bf16"), BIG, more, goal="latency")
    assert not crowded.fits and crowded.decode is None


def test_offloading_keeps_the_excess_in_host_memory_and_decodes_slower():
    workload = Workload(batch=1, prompt=1024, output=256)
    small = Hardware(dataclasses.replace(DEVICE, memory_gib=24))
    seventy = PRESETS["70B"]
    offloaded = estimate(seventy, _candidate("gguf-q4-k-m-offload"), small, workload,
                         goal="latency")
    usable = int(24 * GIB * 0.9)
    assert offloaded.fits
    assert offloaded.offloaded_bytes == offloaded.total_bytes - usable > 0
    # The excess crosses the 50 GB/s host link, the rest the 1000 GB/s memory.
    step = offloaded.decode
    assert step.seconds == pytest.approx((step.bytes - offloaded.offloaded_bytes) / 1e12
                                         + offloaded.offloaded_bytes / 50e9)
    on_device = estimate(seventy, _candidate("gguf-q4-k-m"), BIG, workload, goal="latency")
    assert on_device.fits and not on_device.offloaded_bytes
    assert on_device.memory.weights == offloaded.memory.weights
    assert offloaded.decode_tok_s < on_device.decode_tok_s / 5
    # The same weights without offloading, or without a host link, do not fit.
    assert not estimate(seventy, _candidate("gguf-q4-k-m"), small, workload,
                        goal="latency").fits
    no_link = Hardware(dataclasses.replace(DEVICE, memory_gib=24, host_link_gb_s=None))
    assert not estimate(seventy, _candidate("gguf-q4-k-m-offload"), no_link, workload,
                        goal="latency").fits


def test_dropping_a_quarter_of_the_layers_drops_about_a_quarter_of_the_decoder():
    workload = Workload(batch=1, prompt=1024, output=256)
    full = estimate(LLAMA_8B, _candidate("int8-weight-only"), BIG, workload, goal="latency")
    dropped = estimate(LLAMA_8B, _candidate("layer-drop-distill-int8"), BIG, workload,
                       goal="latency")
    embeddings_and_head = 2 * 128256 * 4096 * 2  # 16-bit, not dropped
    decoder = full.memory.weights - embeddings_and_head
    assert full.memory.weights - dropped.memory.weights == pytest.approx(0.25 * decoder,
                                                                         rel=1e-3)
    # 24 of 32 layers keep their KV cache too.
    assert dropped.memory.kv_cache == full.memory.kv_cache * 24 // 32


@pytest.mark.parametrize(("batch", "speedup"), [(1, 2.0), (4, 2.0), (5, 1.0), (64, 1.0)])
def test_speculative_decoding_speeds_up_only_small_batches(batch, speedup):
    workload = Workload(batch=batch, prompt=1024, output=256)
    plain = estimate(LLAMA_8B, _candidate("bf16"), BIG, workload, goal="latency")
    speculative = estimate(LLAMA_8B, _candidate("speculative-bf16"), BIG, workload,
                           goal="latency")
    assert speculative.decode.bytes == plain.decode.bytes
    assert speculative.decode_tok_s == pytest.approx(speedup * plain.decode_tok_s)
    # The draft model, 8 % of the model at 16 bits, takes memory beside it.
    assert speculative.draft_bytes == int(0.08 * plain.memory.weights)
    assert speculative.total_bytes == plain.memory.total + speculative.draft_bytes
