"""The launch page's estimate: earlier runs first, a size-based guess otherwise, and honest
about knowing nothing."""

from __future__ import annotations

import json

from core.jobs.estimate import BUNDLED_PARAMETERS, estimate, parameter_count


def test_history_wins_over_the_guess():
    guess = estimate("default", ["gptq"], "cpu", "float32", [100.0, 140.0, 120.0])
    assert guess.seconds == 120.0 and "median of 3 earlier run(s)" in guess.basis
    assert guess.memory_bytes == int(BUNDLED_PARAMETERS * 4 * 2.5)


def test_more_work_means_a_longer_guess():
    plain = estimate("default", [], "cpu", "float32", [])
    gptq = estimate("default", ["gptq"], "cpu", "float32", [])
    assert gptq.seconds > plain.seconds > 0 and "no earlier run" in gptq.basis
    assert estimate("default", [], "cpu", "bfloat16", []).memory_bytes < plain.memory_bytes


def test_a_local_config_gives_the_parameter_count(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({
        "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 100, "intermediate_size": 128,
        "num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": False}))
    # attention 64*16*(8+4) + mlp 3*64*128, per layer; embeddings and head 2*100*64
    assert parameter_count(str(tmp_path)) == 2 * (64 * 16 * 12 + 3 * 64 * 128) + 2 * 100 * 64


def test_an_unknown_hub_model_has_no_time_guess():
    guess = estimate("someone/some-model", ["rtn"], "cpu", "float32", [])
    assert guess.seconds is None and guess.memory_bytes is None
    assert "unknown model size" in guess.basis
