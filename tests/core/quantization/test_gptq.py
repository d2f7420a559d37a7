"""GPTQ: rounds onto the same grid as RTN but moves a layer's outputs less, on a Linear and
on a whole (tiny) model; its config round-trips through JSON and checks group sizes."""

from __future__ import annotations

import pytest
import torch

from core.engine.models import load_model
from core.quantization.gptq import gptq_quantize
from core.quantization.grid import quantize_dequantize
from core.recipes import config_from_json
from core.recipes.base import InvalidRecipeError
from core.recipes.quantization import GPTQConfig, RTNConfig
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply


def correlated_inputs(tokens: int, features: int, seed: int = 0) -> torch.Tensor:
    """Activations with correlated channels of unequal size, as in real models."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(features, features, generator=generator)
    sizes = torch.rand(features, generator=generator) * 3 + 0.1
    return (torch.randn(tokens, features, generator=generator) @ mixing) * sizes


def output_error(x: torch.Tensor, weight: torch.Tensor, rounded: torch.Tensor) -> float:
    return float((x @ (rounded - weight).T).pow(2).mean())


@pytest.mark.parametrize("group_size", [None, 16])
@pytest.mark.parametrize("act_order", [False, True])
def test_gptq_moves_a_layer_less_than_round_to_nearest(group_size, act_order):
    x = correlated_inputs(1024, 64)
    weight = torch.randn(48, 64, generator=torch.Generator().manual_seed(1))
    hessian = 2 * x.T @ x / len(x)
    grid = {"bits": 3, "group_size": group_size, "symmetric": False}
    gptq = gptq_quantize(weight, hessian, act_order=act_order, **grid)
    rtn = quantize_dequantize(weight, **grid)
    assert output_error(x, weight, gptq) < 0.7 * output_error(x, weight, rtn)


def test_gptq_weights_lie_on_a_grid_per_group():
    x = correlated_inputs(512, 64)
    weight = torch.randn(8, 64, generator=torch.Generator().manual_seed(2))
    rounded = gptq_quantize(weight, 2 * x.T @ x / len(x), bits=3, group_size=16,
                            symmetric=False, block_size=24)
    groups = rounded.reshape(8, 4, 16).reshape(-1, 16)
    assert max(len(torch.unique(group)) for group in groups) <= 2**3
    assert not torch.equal(rounded, quantize_dequantize(weight, bits=3, group_size=16,
                                                        symmetric=False))


def test_dead_input_channels_are_zeroed_not_fatal():
    x = correlated_inputs(256, 32)
    x[:, 5] = 0
    hessian = 2 * (x.T @ x) / len(x)
    rounded = gptq_quantize(torch.randn(4, 32), hessian, bits=4, group_size=None, symmetric=True)
    assert torch.isfinite(rounded).all() and torch.all(rounded[:, 5] == 0)


def _model_error(config, ids: torch.Tensor) -> float:
    model = load_model("tiny").model
    with torch.no_grad():
        before = model(ids).logits
    apply(model, config, ApplyContext(torch.device("cpu"), CalibrationData(ids)))
    with torch.no_grad():
        return float((model(ids).logits - before).pow(2).mean())


def test_gptq_on_a_model_beats_round_to_nearest_on_its_calibration_data():
    ids = torch.randint(0, 256, (4, 64), generator=torch.Generator().manual_seed(0))
    gptq = _model_error(GPTQConfig(bits=3, group_size=32), ids)
    rtn = _model_error(RTNConfig(bits=3, group_size=32), ids)
    assert gptq < 0.7 * rtn


def test_gptq_config_round_trips_and_needs_calibration():
    config = GPTQConfig(bits=3, group_size=32, damping=0.05, block_size=64, act_order=True)
    assert config_from_json(config.to_json()) == config
    assert GPTQConfig.requirements.calibration
    with pytest.raises(InvalidRecipeError, match="needs calibration data"):
        apply(load_model("tiny").model, config, ApplyContext(torch.device("cpu")))


def test_group_size_is_checked_before_any_calibration_work():
    tiny = load_model("tiny")
    ids = torch.zeros(1, 8, dtype=torch.long)
    context = ApplyContext(torch.device("cpu"), CalibrationData(ids))
    with pytest.raises(ValueError, match="group_size 48 does not divide the input dimension 64"):
        apply(tiny.model, GPTQConfig(group_size=48), context)
    with pytest.raises(ValueError, match="group_size below 8"):
        GPTQConfig(group_size=4)


def test_targets_outside_the_decoder_layers_are_rounded_to_nearest_and_reported():
    model = load_model("tiny").model  # untied head
    ids = torch.randint(0, 256, (2, 32), generator=torch.Generator().manual_seed(0))
    head = model.lm_head.weight.clone()
    report = apply(model, GPTQConfig(bits=4, group_size=32, skip=()),
                   ApplyContext(torch.device("cpu"), CalibrationData(ids)))
    assert report.details["rounded_to_nearest"] == ["lm_head"]
    assert torch.equal(model.lm_head.weight, quantize_dequantize(head, bits=4, group_size=32,
                                                                 symmetric=False))
    assert report.modules == 15 and report.details["calibration_tokens"] == 64
