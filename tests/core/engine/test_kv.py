"""The KV cache hook: every cached engine path starts from the model's cache factory, quality
scored through a float cache equals full-window scoring, and cache bytes are real bytes."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from core.engine import roofline
from core.engine.data import Corpus, evaluation_windows
from core.engine.fingerprint import model_fingerprint
from core.engine.kv import cache_bytes, cache_option, new_cache, set_cache_factory
from core.engine.measure import measure_model
from core.engine.measure_config import MeasureConfig
from core.engine.quality import evaluate_quality, window_logits
from core.engine.speed import decode_timing, greedy_decode, prefill_timing, ttft_timing

TEXT = Corpus(id="test", text="Keys and values, cached once and read at every step. " * 200)


def _counting_float_caches(loaded) -> list[DynamicCache]:
    # A factory that hands out plain float caches and keeps each one, to see where they went.
    made: list[DynamicCache] = []

    def factory():
        made.append(DynamicCache(config=loaded.model.config))
        return made[-1]

    set_cache_factory(loaded.model, factory, label="float, counted")
    return made


def test_without_a_factory_the_model_keeps_its_default_cache(tiny):
    assert cache_option(tiny.model) is None and new_cache(tiny.model) is None
    fingerprint = model_fingerprint(tiny)
    made = _counting_float_caches(tiny)
    assert model_fingerprint(tiny) != fingerprint
    set_cache_factory(tiny.model, None)
    assert new_cache(tiny.model) is None and model_fingerprint(tiny) == fingerprint
    with pytest.raises(ValueError, match="needs a label"):
        set_cache_factory(tiny.model, lambda: None)
    assert made == []


def test_every_cached_speed_path_starts_from_the_factory(tiny):
    made = _counting_float_caches(tiny)
    prompts = torch.randint(0, 200, (2, 8))
    decode_timing(tiny.model, prompts, new_tokens=3, device=tiny.device, repeats=1)
    assert len(made) == 2 and all(c.get_seq_length() == 8 + 3 for c in made)  # warm-up + 1
    prefill_timing(tiny.model, prompts[:1], device=tiny.device, repeats=1)
    assert len(made) == 4 and made[-1].get_seq_length() == 8
    ttft_timing(tiny.model, tiny.tokenizer, prompts[:1], device=tiny.device, repeats=1)
    assert len(made) == 6 and made[-1].get_seq_length() >= 8


def test_scoring_through_a_float_cache_equals_full_window_scoring(tiny):
    ids = torch.randint(0, 256, (1, 100), generator=torch.Generator().manual_seed(0)).to(
        tiny.device
    )
    with torch.no_grad():
        full = window_logits(tiny.model, ids)
        made = _counting_float_caches(tiny)
        chunked = window_logits(tiny.model, ids, chunk_tokens=32)  # 32 + 32 + 32 + 4
    assert len(made) == 1 and made[0].get_seq_length() == 100
    torch.testing.assert_close(chunked, full, atol=1e-5, rtol=1e-5)


def test_quality_through_a_float_cache_matches_the_baseline(tiny):
    windows = evaluation_windows(tiny.tokenizer, TEXT, seq_len=80, max_windows=2, kl_top_k=16)
    plain, baseline = evaluate_quality(tiny.model, windows, device=tiny.device)
    _counting_float_caches(tiny)
    cached, _ = evaluate_quality(tiny.model, windows, device=tiny.device, baseline=baseline)
    assert cached.ppl == pytest.approx(plain.ppl, rel=1e-5)
    assert cached.kl == pytest.approx(0.0, abs=1e-6)
    assert cached.top1_agreement >= 0.99  # a random model's near-ties may flip on float error


def test_a_float_cache_holds_exactly_its_computed_bytes(tiny):
    prompts = torch.randint(0, 200, (1, 12))
    cache = greedy_decode(tiny.model, prompts, new_tokens=5, device=tiny.device)
    computed = roofline.kv_cache_bytes(tiny.model.config, batch=1, context=17, element_size=4)
    assert cache_bytes(cache) == computed


def test_measurement_reports_kv_cache_bytes(tiny):
    config = MeasureConfig(seq_len=32, eval_windows=1, decode_prompt_tokens=10,
                           decode_new_tokens=6, measure_speed=False)
    result = measure_model(tiny, config, use_cache=False)
    assert result.metrics["kv_cache_bytes"] == roofline.kv_cache_bytes(
        tiny.model.config, batch=1, context=16, element_size=4
    )
