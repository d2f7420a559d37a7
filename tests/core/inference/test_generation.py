"""The decode loop's options: a static or no KV cache, a compiled forward, prompt lookup.
Each keeps greedy output token for token, is timed beside default generation, and leaves
the model's plain forward in place for everything else."""

from __future__ import annotations

import pytest
import torch

import core.inference  # noqa: F401  (registers the inference-time techniques)
from core.engine.decoding import decoding_option
from core.engine.measure import decode_metrics_b1, measure_model
from core.engine.measure_config import MeasureConfig
from core.engine.models import load_model
from core.recipes import build_config
from core.recipes.base import InvalidRecipeError
from core.techniques.context import ApplyContext
from core.techniques.registry import apply

DECODE = MeasureConfig(eval_windows=1, seq_len=64, prefill_tokens=32, decode_prompt_tokens=16,
                       decode_new_tokens=8)


def _with(recipe: str, settings: dict, seed: int = 1):
    loaded = load_model(f"tiny:{seed}")
    apply(loaded.model, build_config(recipe, settings), ApplyContext(device=loaded.device))
    return loaded


@pytest.mark.parametrize("cache", ["static", "dynamic", "off"])
def test_every_cache_choice_decodes_the_same_tokens(cache):
    loaded = _with("static-cache-compile", {"cache": cache, "compile": False})
    metrics, spread = decode_metrics_b1(loaded, DECODE)
    assert metrics["output_matches"] == 1.0
    assert metrics["decode_tok_s_b1"] > 0 and metrics["decode_speedup_b1"] > 0
    assert "decode_tok_s_b1" in spread


def test_a_compiled_static_cache_matches_and_leaves_the_plain_forward_behind():
    loaded = _with("static-cache-compile", {"cache": "static", "compile": True})
    metrics, _ = decode_metrics_b1(loaded, DECODE)
    assert metrics["output_matches"] == 1.0
    # The compiled forward is swapped in only while the option generates.
    assert "forward" not in loaded.model.__dict__


def test_compiling_a_growing_cache_is_refused_with_the_setting_named():
    with pytest.raises(InvalidRecipeError, match="compile needs the static cache"):
        build_config("static-cache-compile", {"cache": "off", "compile": True})


def test_prompt_lookup_counts_proposals_and_decodes_one_sequence_at_a_time():
    loaded = _with("prompt-lookup-decoding", {"lookup_tokens": 4})
    measurement = measure_model(loaded, DECODE, use_cache=False)
    metrics = measurement.metrics
    assert metrics["output_matches"] == 1.0
    assert 0.0 <= metrics["acceptance_rate"] <= 1.0
    assert metrics["decode_tok_s_b8"] is None  # assisted generation is batch 1 only
    assert any("at most 1 sequence" in note for note in measurement.notes)
    assert any(note.startswith("decoding: prompt-lookup") for note in measurement.notes)
    # The option is the run's, not the protocol's: it stays comparable with the baseline.
    assert "decoding" not in measurement.protocol["speed"]


def test_a_model_without_an_option_is_timed_on_the_lean_path_with_generate_beside_it():
    loaded = load_model("tiny:1")
    metrics, _ = decode_metrics_b1(loaded, DECODE)
    assert decoding_option(loaded.model) is None
    # No side-by-side option figures: the lean rate, plain generate() and the compile time.
    assert set(metrics) == {"decode_tok_s_b1", "generate_tok_s_b1", "decode_first_call_s"}


def test_a_later_option_adds_to_an_earlier_one():
    loaded = _with("static-cache-compile", {"cache": "static", "compile": False})
    apply(
        loaded.model, build_config("prompt-lookup-decoding", {}), ApplyContext(device=loaded.device)
    )
    option = decoding_option(loaded.model)
    assert option.generate_kwargs["cache_implementation"] == "static"
    assert option.generate_kwargs["prompt_lookup_num_tokens"] == 10
    assert option.max_batch == 1


def test_the_attention_kernel_changes_speed_not_the_outputs():
    reference = load_model("tiny:4")
    eager = _with("attention-implementation", {"implementation": "eager"}, seed=4)
    assert eager.model.config._attn_implementation == "eager"
    ids = torch.randint(0, 200, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(reference.model(ids).logits, eager.model(ids).logits, atol=1e-4)


def test_flash_attention_is_refused_on_a_cpu_with_the_reason():
    loaded = load_model("tiny:4")
    with pytest.raises(Exception, match="needs a CUDA GPU"):
        apply(
            loaded.model,
            build_config("attention-implementation", {"implementation": "flash_attention_2"}),
            ApplyContext(device=loaded.device),
        )
