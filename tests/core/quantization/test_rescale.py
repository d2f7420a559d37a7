"""Recorded channel rescalings: replayed on a float model they keep its function and put it
in the quantized model's coordinates (same norms, same smoothed weights)."""

from __future__ import annotations

import copy

import pytest
import torch

import core.quantization  # noqa: F401  (registers the quantizers)
from core.engine.models import load_model
from core.quantization.rescale import ChannelRescale, fold, replay
from core.recipes import build_config
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply

IDS = torch.randint(0, 257, (2, 24), generator=torch.Generator().manual_seed(3))


def _logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(IDS, use_cache=False).logits


@pytest.mark.parametrize(("recipe", "settings"), [
    ("smoothquant", {"calibration_samples": 2, "alpha": 0.8}),
    ("awq", {"bits": 3, "group_size": 16, "calibration_samples": 2, "grid_points": 5}),
])
def test_replayed_rescales_keep_the_function_and_match_the_quantized_norms(recipe, settings):
    reference = load_model("tiny").model
    quantized = copy.deepcopy(reference)
    context = ApplyContext(torch.device("cpu"), calibration=CalibrationData(IDS))
    report = apply(quantized, build_config(recipe, settings), context)
    rescaled = copy.deepcopy(reference)
    replay(rescaled, report.rescales)
    torch.testing.assert_close(_logits(rescaled), _logits(reference), rtol=1e-4, atol=1e-4)
    norms = [name for name, _ in reference.named_parameters() if "norm" in name]
    assert norms
    changed = 0
    for name in norms:
        mine, theirs = rescaled.get_parameter(name), quantized.get_parameter(name)
        assert torch.equal(mine, theirs), name
        changed += not torch.equal(mine, reference.get_parameter(name))
    assert changed > 0  # the rescaling really moved something


def test_fold_refuses_unequal_scales_for_one_source_channel():
    source, reader = torch.nn.Linear(4, 2), torch.nn.Linear(4, 3)
    with pytest.raises(ValueError, match="need equal scales"):
        fold(source, [reader], torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([0, 0, 1, 1]))


def test_a_rescale_names_modules_of_the_model_it_replays_on():
    model = load_model("tiny").model
    bad = ChannelRescale("model.layers.9.input_layernorm", ("model.layers.9.self_attn.q_proj",),
                         torch.ones(64))
    with pytest.raises(AttributeError):
        replay(model, [bad])
