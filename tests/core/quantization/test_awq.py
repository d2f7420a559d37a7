"""AWQ: folding the scales leaves the float model unchanged; with an outlier input channel
it moves outputs less than round-to-nearest; its config round-trips and checks group sizes."""

from __future__ import annotations

import pytest
import torch

from core.engine.models import load_model
from core.quantization.awq import LLAMA_GROUPS, fold_scales, source_channels
from core.quantization.capture import decoder_layers
from core.recipes import config_from_json
from core.recipes.base import InvalidRecipeError
from core.recipes.quantization import AWQConfig, RTNConfig
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply

IDS = torch.randint(0, 256, (4, 64), generator=torch.Generator().manual_seed(0))


def test_folded_scales_leave_the_float_model_unchanged():
    model = load_model("tiny").model  # grouped-query attention: 4 query heads, 2 value heads
    with torch.no_grad():
        before = model(IDS).logits
    generator = torch.Generator().manual_seed(0)
    for layer in decoder_layers(model):
        for group in LLAMA_GROUPS:
            channels = source_channels(layer, group)
            per_source = torch.rand(int(channels.max()) + 1, generator=generator) * 4 + 0.25
            fold_scales(layer, group, per_source[channels])
    with torch.no_grad():
        after = model(IDS).logits
    assert not torch.equal(model.model.layers[0].input_layernorm.weight, torch.ones(64))
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_scales_for_value_heads_shared_by_query_heads_must_agree():
    layer = decoder_layers(load_model("tiny").model)[0]
    with pytest.raises(ValueError, match="need equal scales"):
        fold_scales(layer, LLAMA_GROUPS[1], torch.rand(64) + 0.5)


def _with_outlier_channels(model: torch.nn.Module) -> torch.nn.Module:
    """Real LLMs have a few input channels with huge activations; give the tiny one some,
    compensating in the weights so only the activation statistics change."""
    with torch.no_grad():
        for layer in decoder_layers(model):
            for norm, linears in ((layer.input_layernorm, ("q_proj", "k_proj", "v_proj")),
                                  (layer.post_attention_layernorm, ("gate_proj", "up_proj"))):
                norm.weight[:4] *= 30
                for name in linears:
                    parent = layer.self_attn if name[0] in "qkv" else layer.mlp
                    getattr(parent, name).weight[:, :4] /= 30
    return model


def _model_error(config) -> float:
    model = _with_outlier_channels(load_model("tiny").model)
    with torch.no_grad():
        before = model(IDS).logits
    apply(model, config, ApplyContext(torch.device("cpu"), CalibrationData(IDS)))
    with torch.no_grad():
        return float((model(IDS).logits - before).pow(2).mean())


def test_awq_moves_outputs_less_than_round_to_nearest_with_outlier_channels():
    awq = _model_error(AWQConfig(bits=3, group_size=32))
    rtn = _model_error(RTNConfig(bits=3, group_size=32))
    assert awq < 0.8 * rtn


def test_awq_config_round_trips_and_needs_calibration():
    config = AWQConfig(bits=3, group_size=32, grid_points=10, calibration_samples=8)
    assert config_from_json(config.to_json()) == config
    with pytest.raises(InvalidRecipeError, match="needs calibration data"):
        apply(load_model("tiny").model, config, ApplyContext(torch.device("cpu")))


def test_group_size_is_checked_before_any_calibration_work():
    context = ApplyContext(torch.device("cpu"), CalibrationData(IDS))
    with pytest.raises(ValueError, match="group_size 48 does not divide the input dimension 64"):
        apply(load_model("tiny").model, AWQConfig(group_size=48), context)
    with pytest.raises(ValueError, match="group_size below 8"):
        AWQConfig(group_size=4)
