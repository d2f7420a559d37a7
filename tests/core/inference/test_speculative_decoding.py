"""Speculative decoding as a job runs it: the draft changes speed, never the greedy output;
acceptance is counted from real proposals; a draft that cannot serve is refused up front."""

from __future__ import annotations

import pytest

import core.inference  # noqa: F401  (registers the inference-time techniques)
from core.engine.data import load_corpus
from core.engine.decoding import decoding_option
from core.engine.measure import decode_metrics_b1
from core.engine.measure_config import MeasureConfig
from core.engine.models import load_model
from core.engine.tiny import tiny_model
from core.recipes import build_config
from core.recipes.base import InvalidRecipeError
from core.techniques.calibration import calibration_data
from core.techniques.context import ApplyContext
from core.techniques.registry import apply

DECODE = MeasureConfig(eval_windows=1, seq_len=64, decode_prompt_tokens=16, decode_new_tokens=12)


def _context(loaded):
    calibration = calibration_data(loaded.tokenizer, load_corpus("pydoc"), samples=2, seq_len=64)
    return ApplyContext(device=loaded.device, calibration=calibration)


def test_a_draft_cut_from_the_target_keeps_the_greedy_output_and_reports_acceptance():
    loaded = load_model("tiny:1")
    report = apply(loaded.model, build_config("speculative-decoding", {"draft_layers_kept": 0.5}),
                   _context(loaded))
    assert "1 of its 2 decoder layers removed" in report.details["draft"]
    assert report.details["draft_stored_bytes"] > 0
    assert len(loaded.model.model.layers) == 2  # the target itself is untouched
    metrics, _ = decode_metrics_b1(loaded, DECODE)
    assert metrics["output_matches"] == 1.0
    assert 0.0 <= metrics["acceptance_rate"] <= 1.0
    assert metrics["decode_tok_s_b1"] > 0 and metrics["decode_speedup_b1"] > 0


def test_the_target_as_its_own_draft_has_nearly_everything_accepted(tmp_path):
    model, tokenizer = tiny_model("tiny:2")
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = load_model("tiny:2")
    apply(loaded.model, build_config("speculative-decoding", {"draft_model": str(tmp_path),
                                                               "schedule": "constant"}),
          ApplyContext(device=loaded.device))
    metrics, _ = decode_metrics_b1(loaded, DECODE)
    assert metrics["output_matches"] == 1.0
    assert metrics["acceptance_rate"] > 0.8


def test_a_draft_with_another_vocabulary_is_refused(tmp_path):
    model, tokenizer = tiny_model("tiny:3")
    model.resize_token_embeddings(model.config.vocab_size + 8)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = load_model("tiny:3")
    with pytest.raises(InvalidRecipeError, match="vocabulary"):
        apply(loaded.model, build_config("speculative-decoding", {"draft_model": str(tmp_path)}),
              ApplyContext(device=loaded.device))
    assert decoding_option(loaded.model) is None


def test_an_unknown_draft_model_is_refused_with_its_name(tmp_path):
    missing = str(tmp_path / "no-such-draft")
    # A folder that is not there is refused with the settings, before any job runs.
    with pytest.raises(InvalidRecipeError, match="draft_model: local model folder .* does "
                       "not exist"):
        build_config("speculative-decoding", {"draft_model": missing})
    # One with a config but no weights passes that and is refused when it is loaded.
    empty = tmp_path / "config-only"
    empty.mkdir()
    (empty / "config.json").write_text('{"model_type": "llama"}')
    loaded = load_model("tiny:3")
    with pytest.raises(InvalidRecipeError, match="draft model could not be loaded"):
        apply(loaded.model, build_config("speculative-decoding", {"draft_model": str(empty)}),
              ApplyContext(device=loaded.device))


def test_a_draft_cut_from_the_target_needs_calibration_a_separate_one_does_not():
    assert build_config("speculative-decoding", {}).requirements.calibration
    assert not build_config("speculative-decoding",
                            {"draft_model": "HuggingFaceTB/SmolLM2-135M"}).requirements.calibration
