"""OWL: layers with more outlier weights get lower sparsity, the average stays the target,
and each layer is pruned at its own share by Wanda or SparseGPT."""

from __future__ import annotations

import pytest
import torch

import core.pruning  # noqa: F401  (registers the pruners)
from core.engine.models import load_model
from core.pruning.owl import outlier_ratios, owl_layer_sparsities
from core.quantization.capture import decoder_layers, linears_in
from core.quantization.targets import target_linears
from core.recipes import build_config
from core.recipes.base import InvalidRecipeError
from core.recipes.pruning import OWLConfig
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply

IDS = torch.randint(0, 257, (4, 64), generator=torch.Generator().manual_seed(0))


def _context() -> ApplyContext:
    return ApplyContext(torch.device("cpu"), calibration=CalibrationData(IDS))


def test_more_outliers_less_sparsity_within_the_deviation_around_the_target():
    shares = owl_layer_sparsities([0.01, 0.05, 0.02, 0.03], sparsity=0.7, max_deviation=0.08)
    assert sum(shares) / 4 == pytest.approx(0.7)
    assert shares[1] == min(shares) and shares[0] == max(shares)
    assert max(shares) - min(shares) == pytest.approx(0.16)
    assert all(0.7 - 0.16 <= s <= 0.7 + 0.16 for s in shares)


def test_layers_that_cannot_be_told_apart_get_the_target():
    assert owl_layer_sparsities([0.02, 0.02], 0.5, 0.1) == [0.5, 0.5]
    assert owl_layer_sparsities([], 0.5, 0.1) == []


def _plant_outliers(layer: torch.nn.Module, share: float = 0.02) -> None:
    # A few scattered weights far above the rest in every linear of `layer`, as outlier
    # weights are in LLMs.
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for linear in (m for m in layer.modules() if isinstance(m, torch.nn.Linear)):
            chosen = torch.randperm(linear.weight.numel(), generator=generator)
            linear.weight.view(-1)[chosen[: int(share * linear.weight.numel())]] *= 100.0


def test_a_layer_with_planted_outliers_has_the_highest_ratio_and_leaves_the_model_alone():
    tiny = load_model("tiny")
    _plant_outliers(decoder_layers(tiny.model)[1])
    before = {n: p.clone() for n, p in tiny.model.named_parameters()}
    ratios = outlier_ratios(tiny.model, OWLConfig(), _context())
    assert len(ratios) == len(decoder_layers(tiny.model))
    assert ratios.index(max(ratios)) == 1
    assert all(torch.equal(before[n], p) for n, p in tiny.model.named_parameters())


@pytest.mark.parametrize("pruner", ["wanda", "sparsegpt"])
def test_each_layer_is_pruned_at_its_own_share_averaging_the_target(pruner):
    tiny = load_model("tiny")
    # In the last layer: loud weights in an earlier one would make loud inputs, hence
    # outlier scores, in every layer after it.
    _plant_outliers(decoder_layers(tiny.model)[-1])
    config = build_config("owl", {"sparsity": 0.6, "pruner": pruner, "max_deviation": 0.1,
                                  "calibration_samples": 4})
    report = apply(tiny.model, config, _context())
    shares = report.details["layer_sparsity"]
    assert report.details["pruner"] == pruner
    assert sum(shares) / len(shares) == pytest.approx(0.6, abs=1e-3)
    assert shares[-1] < 0.6  # the layer with outliers is pruned less
    linears = target_linears(tiny.model, config.skip)
    for index, layer in enumerate(decoder_layers(tiny.model)):
        own = linears_in(layer, linears).values()
        zeros = sum(int((m.weight == 0).sum()) for m in own) / sum(m.weight.numel() for m in own)
        assert zeros == pytest.approx(shares[index], abs=0.02)


@pytest.mark.parametrize("settings, says", [
    ({"pattern": "2:4", "sparsity": 0.5}, "unstructured"),
    ({"per_layer": ["down_proj=0.3"]}, "per_layer"),
    ({"sparsity": 0.95, "max_deviation": 0.1}, "below 1"),
])
def test_settings_owl_cannot_honour_are_refused(settings, says):
    with pytest.raises(InvalidRecipeError, match=says):
        build_config("owl", settings)
