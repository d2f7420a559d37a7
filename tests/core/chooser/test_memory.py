"""The chooser's memory arithmetic against cases computed by hand, and against the bytes the
engine measures on the bundled model."""

from __future__ import annotations

import pytest

from core.chooser.memory import (
    WeightFormat,
    estimate_memory,
    kv_cache_bytes,
    weight_bytes,
)
from core.chooser.models import PRESETS, model_from_config
from core.engine.model_shapes import BUNDLED_CONFIG

LLAMA_8B = PRESETS["8B"]
GIB = 1024**3


def test_an_8b_gqa_model_at_4_bits_groups_of_128_with_an_8k_context():
    # By hand: 32 layers of q, o (4096 x 4096), k, v (1024 x 4096), gate, up (14336 x 4096),
    # down (4096 x 14336) = 6,979,321,856 weights at half a byte; per group of 128 a float16
    # scale (2 bytes) and a 4-bit zero; embeddings and head (2 x 128256 x 4096) and 65 norms
    # of 4096 at 2 bytes.
    decoder = 32 * (2 * 4096 * 4096 + 2 * 1024 * 4096 + 3 * 14336 * 4096)
    groups = decoder // 128
    by_hand = decoder // 2 + groups * 2 + groups // 2 + (2 * 128256 * 4096 + 65 * 4096) * 2
    assert by_hand == 5_727_854_592
    assert weight_bytes(LLAMA_8B, WeightFormat(bits=4, group_size=128)) == by_hand
    # Keys and values of 8 KV heads of 128 (not 32 query heads) in 32 layers, 8192 tokens,
    # 2 bytes each: exactly 1 GiB.
    assert kv_cache_bytes(LLAMA_8B, batch=1, context=8192) == 2 * 32 * 8 * 128 * 8192 * 2 == GIB
    estimate = estimate_memory(LLAMA_8B, WeightFormat(bits=4, group_size=128), batch=1,
                               prompt=7168, output=1024)
    assert estimate.kv_cache == GIB and estimate.weights == by_hand
    assert estimate.fits(24 * 10**9) and not estimate.fits(6 * 10**9)


def test_float16_weights_are_two_bytes_a_parameter():
    assert weight_bytes(LLAMA_8B, WeightFormat()) == 2 * LLAMA_8B.parameters()


def test_a_quantized_kv_cache_counts_its_scales_and_zeros():
    # 4-bit keys and values: a quarter of 16 bits, plus a float16 scale and zero per 64.
    values = 2 * 32 * 8 * 128 * 8192
    assert kv_cache_bytes(LLAMA_8B, batch=1, context=8192, kv_bits=4) == \
        values // 2 + values // 64 * 4


def test_a_70b_model_needs_about_40_gb_at_4_bits_so_not_one_24_gb_gpu():
    # 68.45 B decoder weights at 0.52 bytes (4 bits, a scale and zero per 128) is 35.6 GB;
    # the 16-bit embeddings and head add 4.2 GB.
    weights = weight_bytes(PRESETS["70B"], WeightFormat(bits=4, group_size=128))
    assert 39.5e9 < weights < 40.0e9
    assert weight_bytes(PRESETS["70B"], WeightFormat(bits=2, group_size=128)) < 24e9


def test_every_expert_is_stored_though_a_token_uses_two():
    mixtral = PRESETS["47B-MoE"]
    assert weight_bytes(mixtral, WeightFormat()) == 2 * mixtral.parameters()


@pytest.mark.integration
def test_the_bundled_models_figures_are_within_5_percent_of_the_engines_measured_bytes(
        bundled_home, monkeypatch):
    import torch

    from core.engine.kv import cache_bytes
    from core.engine.memory import stored_bytes
    from core.engine.models import load_model

    monkeypatch.setenv("OPTATLAS_HOME", str(bundled_home))  # its conversion, shared
    loaded = load_model("default", device="cpu")
    model = model_from_config("bundled", BUNDLED_CONFIG)
    measured_weights = stored_bytes(loaded.model)  # float32, as loaded here
    computed_weights = weight_bytes(model, WeightFormat(bits=32), float_bits=32)
    assert abs(computed_weights - measured_weights) / measured_weights < 0.05
    tokens = torch.randint(0, 1000, (2, 96))
    with torch.no_grad():
        output = loaded.model(tokens, use_cache=True)
    measured_kv = cache_bytes(output.past_key_values)  # float32 keys and values
    computed_kv = kv_cache_bytes(model, batch=2, context=96, kv_bits=32)
    assert abs(computed_kv - measured_kv) / measured_kv < 0.05
