"""Whole decoder layers removed by importance: the layer that changes its input least goes,
and the smaller model generates, saves and loads back to the same outputs."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

import core.pruning  # noqa: F401  (registers the pruners)
from core.engine.models import load_model
from core.pruning.layer_drop import layer_importance
from core.recipes import build_config
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply

IDS = torch.randint(0, 257, (2, 32), generator=torch.Generator().manual_seed(0))


def _context() -> ApplyContext:
    return ApplyContext(torch.device("cpu"), calibration=CalibrationData(IDS))


def _silence(layer) -> None:
    # With its output projections zeroed, a residual block passes its input through unchanged.
    with torch.no_grad():
        layer.self_attn.o_proj.weight.zero_()
        layer.mlp.down_proj.weight.zero_()


def test_a_layer_that_changes_nothing_scores_lowest_and_is_removed(tmp_path):
    loaded = load_model("tiny")
    model = loaded.model
    _silence(model.model.layers[1])
    scores = layer_importance(model, IDS)
    assert scores[1] < 1e-3 < scores[0]
    with torch.no_grad():
        expected = model(IDS, use_cache=False).logits
    report = apply(model, build_config("layer-drop", {"fraction": 0.5, "keep_first_and_last":
                                                      False, "calibration_samples": 2}),
                   _context())
    assert report.details["removed_layers"] == [1] and report.details["layers_left"] == 1
    assert model.config.num_hidden_layers == 1 and model.model.layers[0].self_attn.layer_idx == 0
    with torch.no_grad():
        torch.testing.assert_close(model(IDS, use_cache=False).logits, expected,
                                   rtol=1e-4, atol=1e-4)  # the silent layer did nothing
    out = model.generate(IDS[:1, :8], max_new_tokens=4, do_sample=False)
    assert out.shape[1] == 12
    model.save_pretrained(tmp_path)
    again = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert again.config.num_hidden_layers == 1
    with torch.no_grad():
        torch.testing.assert_close(again(IDS, use_cache=False).logits, expected,
                                   rtol=1e-4, atol=1e-4)


def test_a_fraction_that_removes_nothing_or_everything_is_refused():
    model = load_model("tiny").model
    with pytest.raises(ValueError, match="rounds to none; choose a larger fraction"):
        apply(model, build_config("layer-drop", {"fraction": 0.25}), _context())
    assert model.config.num_hidden_layers == 2
