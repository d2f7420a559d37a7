"""The quantized KV cache: a validated config, no weight changed, a packed cache that really
decodes, holds far fewer bytes than a float one, and costs a little quality."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
from optimum.quanto import WeightQBitsTensor
from transformers import QuantizedCache

import core.inference  # noqa: F401  (registers the inference-time techniques)
from core.engine.data import evaluation_windows, load_corpus
from core.engine.fingerprint import model_fingerprint, weights_digest
from core.engine.kv import cache_bytes, cache_option
from core.engine.measure import measure_model
from core.engine.measure_config import MeasureConfig
from core.engine.models import load_model
from core.engine.quality import evaluate_quality
from core.engine.speed import decode_timing, greedy_decode
from core.recipes import build_config, config_from_json
from core.recipes.base import InvalidRecipeError
from core.recipes.inference import QuantizedKVCacheConfig
from core.techniques.context import ApplyContext
from core.techniques.registry import apply

CPU = ApplyContext(device=torch.device("cpu"))
# The tiny model's head dimension is 16, so groups of 16 values: one token's head each.
TINY = {"group_size": 16, "residual_length": 16}


def _quantize_cache(loaded, **settings) -> None:
    apply(loaded.model, build_config("quantized-kv-cache", {**TINY, **settings}), CPU)


@pytest.mark.parametrize("settings", [{}, {"bits": 2, "residual_length": 32},
                                      {"backend": "fp8", "bits": 8}])
def test_config_round_trips_through_json(settings):
    config = build_config("quantized-kv-cache", settings)
    assert config_from_json(config.to_json()) == config
    assert QuantizedKVCacheConfig.execution == "real"
    with pytest.raises(Exception):
        config.bits = 2  # frozen


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"bits": 8}, "bits: the quanto backend stores 2 or 4 bits, not 8"),
        ({"bits": 3}, "bits: Input should be 2, 4 or 8"),
        (
            {"backend": "fp8", "bits": 8, "group_size": 32},
            "group_size: .*fp8 backend scales per tensor",
        ),
        ({"group_size": 4}, "group_size: Input should be greater than or equal to 8"),
        ({"residual_length": 0}, "residual_length: Input should be greater than or equal to 1"),
        ({"backend": "gptq"}, "backend: Input should be 'quanto', 'hqq' or 'fp8'"),
        ({"axis": 1}, "axis: Extra inputs are not permitted"),
    ],
)
def test_invalid_settings_are_named(settings, message):
    with pytest.raises(InvalidRecipeError, match=message):
        build_config("quantized-kv-cache", settings)


def test_a_group_that_straddles_heads_is_refused_at_apply():
    tiny = load_model("tiny")
    message = r"group_size \(64\) must divide the model's head dimension \(16\)"
    with pytest.raises(InvalidRecipeError, match=message):
        apply(tiny.model, build_config("quantized-kv-cache"), CPU)
    assert cache_option(tiny.model) is None


@pytest.mark.skipif(importlib.util.find_spec("hqq") is not None, reason="hqq is installed")
def test_the_hqq_backend_says_it_needs_its_package():
    tiny = load_model("tiny")
    with pytest.raises(InvalidRecipeError, match="needs the optional package 'hqq'"):
        apply(
            tiny.model,
            build_config("quantized-kv-cache", {**TINY, "backend": "hqq", "bits": 8}),
            CPU,
        )


def test_applying_changes_no_weight_but_the_fingerprint():
    tiny = load_model("tiny")
    before = {name: tensor.clone() for name, tensor in tiny.model.state_dict().items()}
    digest, fingerprint = weights_digest(tiny.model), model_fingerprint(tiny)
    report = apply(tiny.model, build_config("quantized-kv-cache", TINY), CPU)
    assert (report.recipe, report.execution, report.modules) == ("quantized-kv-cache", "real", 2)
    after = tiny.model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert weights_digest(tiny.model) == digest
    # Same weights, other outputs: cached baseline outputs must not be shared.
    assert model_fingerprint(tiny) != fingerprint


def test_decoding_runs_through_a_packed_quantized_cache():
    tiny = load_model("tiny")
    _quantize_cache(tiny, bits=4)
    prompts = torch.randint(0, 256, (1, 40), generator=torch.Generator().manual_seed(0))
    cache = greedy_decode(tiny.model, prompts, new_tokens=20, device=tiny.device)
    assert isinstance(cache, QuantizedCache) and cache.get_seq_length() == 60
    assert isinstance(cache.layers[0]._quantized_keys, WeightQBitsTensor)
    timing = decode_timing(
        tiny.model, prompts.repeat(2, 1), new_tokens=4, device=tiny.device, repeats=1
    )
    assert len(timing.samples) == 1 and timing.median > 0


@pytest.mark.parametrize("bits", [4, 2])
def test_a_quantized_cache_holds_what_its_bit_width_allows(bits):
    prompt_tokens, new_tokens, residual = 32, 24, 8
    prompts = torch.randint(0, 256, (1, prompt_tokens), generator=torch.Generator().manual_seed(1))
    tiny = load_model("tiny")
    float_bytes = cache_bytes(
        greedy_decode(tiny.model, prompts, new_tokens=new_tokens, device=tiny.device)
    )
    _quantize_cache(tiny, bits=bits, residual_length=residual)
    packed = greedy_decode(tiny.model, prompts, new_tokens=new_tokens, device=tiny.device)
    # Per float32 value: bits/8 bytes of data plus a float32 scale and shift per group of 16;
    # at most residual - 1 of the newest tokens wait in float.
    total = prompt_tokens + new_tokens
    per_value = (bits / 8 + 2 * 4 / TINY["group_size"]) / 4
    in_float = residual - 1
    bound = ((total - in_float) * per_value + in_float) / total
    ratio = cache_bytes(packed) / float_bytes
    assert per_value <= ratio <= bound * 1.01
    assert ratio < 0.35


def test_quantized_caches_cost_a_little_quality_in_bit_order():
    # Checked on tiny:0 to tiny:14: the order and bounds held for every seed, by a factor of
    # 2.7 or more between neighbours.
    tiny = load_model("tiny")
    windows = evaluation_windows(
        tiny.tokenizer, load_corpus("pydoc"), seq_len=128, max_windows=2, kl_top_k=64
    )
    _, baseline = evaluate_quality(tiny.model, windows, device=tiny.device)
    kl = {}
    for name, settings in {
        "fp8": {"backend": "fp8", "bits": 8},
        "int4": {"bits": 4},
        "int2": {"bits": 2},
    }.items():
        fp8 = settings.get("backend") == "fp8"  # takes no group-wise settings
        apply(
            tiny.model,
            build_config("quantized-kv-cache", settings if fp8 else {**TINY, **settings}),
            CPU,
        )
        result, _ = evaluate_quality(tiny.model, windows, device=tiny.device, baseline=baseline)
        assert math.isfinite(result.ppl)
        kl[name] = result.kl
    # A random tiny model predicts nearly uniformly, so every KL is small; the order holds.
    assert 0 < kl["fp8"] < kl["int4"] < kl["int2"] < 1e-3
    assert kl["int4"] < 2e-5


def test_measurement_reports_the_smaller_cache_and_never_reuses_the_float_baseline():
    config = MeasureConfig(seq_len=64, eval_windows=1, decode_prompt_tokens=32,
                           decode_new_tokens=8, measure_speed=False)
    plain = measure_model(load_model("tiny"), config, use_cache=False)
    tiny = load_model("tiny")
    _quantize_cache(tiny, bits=4)
    quantized = measure_model(tiny, config, use_cache=False)
    assert quantized.metrics["kv_cache_bytes"] < 0.5 * plain.metrics["kv_cache_bytes"]
    assert any(note.startswith("KV cache: ") for note in quantized.notes)
    assert quantized.protocol["kv_cache"] == {"prompt_tokens": 32, "new_tokens": 8, "batch": 1}
