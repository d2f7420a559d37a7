"""MLP channels and grouped-query attention groups removed: the matrices shrink, the config
says so, the least important part goes, and the model generates, saves and loads back."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM

import core.pruning  # noqa: F401  (registers the pruners)
from core.engine.memory import stored_bytes
from core.engine.models import load_model
from core.recipes import build_config
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply

IDS = torch.randint(0, 257, (2, 32), generator=torch.Generator().manual_seed(0))
CONTEXT = ApplyContext(torch.device("cpu"), calibration=CalibrationData(IDS))


def _round_trip(model, tmp_path) -> None:
    with torch.no_grad():
        expected = model(IDS, use_cache=False).logits
    assert model.generate(IDS[:1, :8], max_new_tokens=4, do_sample=False).shape[1] == 12
    model.save_pretrained(tmp_path)
    again = AutoModelForCausalLM.from_pretrained(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(again(IDS, use_cache=False).logits, expected,
                                   rtol=1e-4, atol=1e-4)


def test_mlp_channels_shrink_and_the_silent_ones_go_first(tmp_path):
    model = load_model("tiny").model
    mlp = model.model.layers[0].mlp
    with torch.no_grad():
        mlp.down_proj.weight[:, :32] = 0  # channels 0..31 reach nothing
    before = stored_bytes(model)
    report = apply(model, build_config("mlp-channel-pruning", {"fraction": 0.25,
                                                               "calibration_samples": 2}), CONTEXT)
    assert report.details == {"intermediate_before": 128, "intermediate_after": 96}
    assert model.config.intermediate_size == 96
    assert mlp.gate_proj.weight.shape == (96, 64) and mlp.down_proj.weight.shape == (64, 96)
    assert (mlp.down_proj.weight != 0).all(dim=0).all()  # the dead channels were the ones cut
    assert before - stored_bytes(model) == 2 * 3 * 32 * 64 * 4  # 2 layers, 3 matrices, float32
    _round_trip(model, tmp_path)


def test_heads_go_a_whole_key_value_group_at_a_time(tmp_path):
    model = load_model("tiny").model
    attention = model.model.layers[1].self_attn
    with torch.no_grad():
        attention.o_proj.weight[:, 32:] = 0  # query heads 2 and 3 (group 1) reach nothing
    report = apply(model, build_config("head-pruning", {"fraction": 0.5,
                                                        "calibration_samples": 2}), CONTEXT)
    assert (report.details["heads_after"], report.details["kv_heads_after"]) == (2, 1)
    assert model.config.num_attention_heads == 2 and model.config.num_key_value_heads == 1
    assert model.config.head_dim == 16
    assert attention.q_proj.weight.shape == (32, 64) and attention.k_proj.weight.shape == (16, 64)
    assert attention.o_proj.weight.shape == (64, 32)
    assert (attention.o_proj.weight != 0).any()  # the live group was kept
    _round_trip(model, tmp_path)
