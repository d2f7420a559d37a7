"""Stored bytes, disk bytes, KV cache bytes and the roofline bound."""

from __future__ import annotations

import pytest
import torch

from core.engine.memory import PeakMemory, disk_bytes, stored_bytes
from core.engine.models import load_model
from core.engine.roofline import decode_step_bytes, kv_cache_bytes, roofline_decode_tok_s


def test_stored_bytes_count_each_tensor_once():
    linear = torch.nn.Linear(10, 20)
    assert stored_bytes(linear) == (10 * 20 + 20) * 4
    tied = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 50, bias=False))
    tied[1].weight = tied[0].weight
    assert stored_bytes(tied) == 50 * 8 * 4
    assert stored_bytes(linear.to(torch.float16)) == (10 * 20 + 20) * 2


def test_state_kept_beside_a_packed_weight_is_counted():
    # Shaped like bitsandbytes: 4-bit weights with a nested quant_state, int8 row scales.
    from types import SimpleNamespace

    layer = torch.nn.Linear(8, 4, bias=False)
    before = stored_bytes(layer)
    layer.weight.quant_state = SimpleNamespace(
        absmax=torch.zeros(10), code=torch.zeros(16), blocksize=64, dtype=torch.float16,
        state2=SimpleNamespace(absmax=torch.zeros(3), code=torch.zeros(256)),
    )
    assert stored_bytes(layer) == before + (10 + 16 + 3 + 256) * 4
    layer.state = SimpleNamespace(SCB=torch.zeros(4), CB=layer.weight.data)  # CB is the weight
    assert stored_bytes(layer) == before + (10 + 16 + 3 + 256 + 4) * 4


def test_disk_bytes_of_a_saved_model(tmp_path):
    tiny = load_model("tiny")
    tiny.model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    assert disk_bytes(tmp_path) >= weights.stat().st_size > stored_bytes(tiny.model) * 0.9


def test_kv_cache_bytes_follow_the_config():
    config = load_model("tiny").model.config  # 2 layers, 2 KV heads, head_dim 16
    assert (
        kv_cache_bytes(config, batch=3, context=10, element_size=4) == 2 * 2 * 2 * 16 * 10 * 3 * 4
    )


def test_decode_step_reads_weights_minus_untied_embeddings_plus_cache():
    tiny = load_model("tiny")
    embedding = tiny.model.get_input_embeddings().weight
    expected = (
        stored_bytes(tiny.model)
        - embedding.numel() * 4
        + kv_cache_bytes(tiny.model.config, batch=1, context=7, element_size=4)
    )
    assert decode_step_bytes(tiny.model, batch=1, context=7, kv_element_size=4) == expected


def test_decode_step_reads_an_int8_output_layer_whole_and_the_table_by_rows():
    # W8A8 replaces lm_head by a module with int8 buffers and no `weight` attribute.
    from core.quantization.int8_linear import Int8Linear

    tiny = load_model("tiny")
    model = tiny.model
    model.lm_head = Int8Linear.from_linear(model.lm_head)
    embedding = model.get_input_embeddings().weight
    expected = (
        stored_bytes(model)
        - embedding.numel() * 4
        + kv_cache_bytes(model.config, batch=1, context=7, element_size=4)
    )
    assert decode_step_bytes(model, batch=1, context=7, kv_element_size=4) == expected


def test_roofline_bound_is_bandwidth_over_bytes():
    assert roofline_decode_tok_s(10.0, 10**9) == pytest.approx(10.0)
    assert roofline_decode_tok_s(10.0, 10**9, batch=8) == pytest.approx(80.0)


def test_peak_memory_sees_an_allocation():
    with PeakMemory(torch.device("cpu")) as before:
        pass
    with PeakMemory(torch.device("cpu"), interval_s=0.001) as during:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB
        block.add_(1)
        import time

        time.sleep(0.05)
    assert during.peak_bytes >= before.peak_bytes
    assert during.peak_bytes > 64 * 2**20


def test_packed_weights_count_as_packed():
    from optimum.quanto import freeze, qint4, quantize

    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.Linear(512, 256))
    dense = stored_bytes(model)
    quantize(model, weights=qint4)
    freeze(model)
    packed = stored_bytes(model)
    weights = 2 * 256 * 512
    # 4-bit weights take half a byte each; a float scale and shift per group of 128 weights
    # and the float biases come on top (and a few bytes of packing metadata at most).
    expected = weights // 2 + (weights // 128) * 2 * 4 + (512 + 256) * 4
    assert expected <= packed < expected + 64
    assert packed < dense / 6


def test_an_unreadable_bandwidth_cache_is_measured_again(isolated_home):
    from core.engine.paths import cache_dir
    from core.engine.roofline import measure_bandwidth

    cache = cache_dir() / "bandwidth.json"
    cache.parent.mkdir(parents=True)
    cache.write_text('{"x": 1')  # a truncated write
    bandwidth = measure_bandwidth(torch.device("cpu"))
    assert bandwidth > 0.1
    assert measure_bandwidth(torch.device("cpu")) == bandwidth  # now cached, and readable
