"""Truncated SVD: exact at full rank, a real parameter drop of the computed size at half rank,
energy-chosen ranks, and a model that still generates."""

from __future__ import annotations

import pytest
import torch

import core.lowrank  # noqa: F401  (registers svd-lowrank)
from core.engine.factored import LowRankLinear
from core.engine.memory import stored_bytes
from core.engine.models import load_model
from core.lowrank.svd_lowrank import factorize, rank_for_energy
from core.recipes import build_config
from core.recipes.base import InvalidRecipeError
from core.techniques.context import ApplyContext
from core.techniques.registry import apply


def test_full_rank_reproduces_the_layer():
    linear = torch.nn.Linear(24, 16)
    factored = factorize(linear, 16)
    x = torch.randn(5, 24)
    torch.testing.assert_close(factored(x), linear(x), rtol=1e-4, atol=1e-5)


def test_energy_picks_the_smallest_sufficient_rank():
    singular = torch.tensor([3.0, 2.0, 1.0, 0.5])  # squares 9, 4, 1, 0.25 of 14.25
    assert rank_for_energy(singular, 0.6) == 1  # 9 / 14.25 = 0.63
    assert rank_for_energy(singular, 0.9) == 2  # 13 / 14.25 = 0.91
    assert rank_for_energy(singular, 1.0) == 4


def test_half_rank_on_the_mlp_cuts_exactly_the_computed_bytes_and_still_generates():
    loaded = load_model("tiny")
    model = loaded.model
    before = stored_bytes(model)
    report = apply(model, build_config("svd-lowrank", {"rank_ratio": 0.5}),
                   ApplyContext(torch.device("cpu")))
    # Tiny MLP: gate/up 64 -> 128 and down 128 -> 64, full rank 64, so rank 32.
    assert report.modules == 6 and set(report.details["ranks"].values()) == {32}
    per_layer = 64 * 128 - 32 * (64 + 128)
    assert before - stored_bytes(model) == 6 * per_layer * 4  # float32 weights
    assert isinstance(model.model.layers[0].mlp.down_proj, LowRankLinear)
    ids = loaded.tokenizer("def main():", return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 5


def test_the_rule_must_be_one_of_rank_or_energy():
    with pytest.raises(InvalidRecipeError, match="either rank_ratio or energy"):
        build_config("svd-lowrank", {"rank_ratio": 0.5, "energy": 0.9})
    with pytest.raises(InvalidRecipeError, match="either rank_ratio or energy"):
        build_config("svd-lowrank", {"rank_ratio": None})
    config = build_config("svd-lowrank", {"rank_ratio": None, "energy": 0.99})
    model = load_model("tiny").model
    report = apply(model, config, ApplyContext(torch.device("cpu")))
    # A random matrix spreads its energy: 99 % needs nearly full rank, so no layer shrinks.
    assert report.modules == 0 and len(report.details["kept_whole"]) == 6


def _saved_factorized(folder):
    """A tiny model with half-rank MLPs, saved to `folder`; returns the model in memory."""
    loaded = load_model("tiny:5")
    apply(loaded.model, build_config("svd-lowrank", {"rank_ratio": 0.5}),
          ApplyContext(torch.device("cpu")))
    loaded.model.save_pretrained(folder)
    loaded.tokenizer.save_pretrained(folder)
    return loaded


def test_a_saved_factorized_model_loads_back_factorized_and_generates_the_same(tmp_path):
    loaded = _saved_factorized(tmp_path)
    again = load_model(str(tmp_path))
    assert isinstance(again.model.model.layers[1].mlp.up_proj, LowRankLinear)
    assert again.model.model.layers[1].mlp.up_proj.rank == 32
    assert stored_bytes(again.model) == stored_bytes(loaded.model)
    ids = loaded.tokenizer("def main():", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(loaded.model(ids).logits, again.model(ids).logits)
        first = loaded.model.generate(ids, max_new_tokens=6, do_sample=False)
        assert torch.equal(again.model.generate(ids, max_new_tokens=6, do_sample=False), first)


def test_a_checkpoint_missing_a_factor_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    _saved_factorized(tmp_path)
    weights = next(tmp_path.glob("*.safetensors"))
    tensors = load_file(str(weights))
    del tensors["model.layers.0.mlp.gate_proj.second.weight"]
    save_file(tensors, str(weights), metadata={"format": "pt"})
    with pytest.raises(Exception, match="gate_proj"):
        load_model(str(tmp_path))
