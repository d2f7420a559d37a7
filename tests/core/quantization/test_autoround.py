"""AutoRound through the auto-round package: the tuned weights lie on a per-group grid that
OptAtlas remembers (so they pack and export like RTN's), skipped layers stay float, and what
it needs is said before it runs."""

from __future__ import annotations

import pytest
import torch

import core.quantization  # noqa: F401  (registers the quantizers)
from core.engine.models import load_model
from core.quantization.grid import quantize_dequantize
from core.quantization.packing import grid_of
from core.recipes import build_config
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply

pytest.importorskip("auto_round")

IDS = torch.randint(0, 257, (4, 32), generator=torch.Generator().manual_seed(0))


def _context(tokenizer) -> ApplyContext:
    return ApplyContext(torch.device("cpu"), calibration=CalibrationData(IDS),
                        tokenizer=tokenizer)


def _config(**settings):
    return build_config("autoround", {"iterations": 3, "group_size": 32,
                                      "calibration_samples": 4, **settings})


def test_tuned_weights_lie_on_the_remembered_grid_and_skipped_layers_stay_float():
    tiny = load_model("tiny")
    before = {n: p.clone() for n, p in tiny.model.named_parameters()}
    report = apply(tiny.model, _config(skip=["lm_head", "down_proj"]), _context(tiny.tokenizer))
    assert report.execution == "simulated" and report.details["iterations"] == 3
    layer = tiny.model.model.layers[0]
    for name in ("lm_head.weight", "model.layers.0.mlp.down_proj.weight"):
        assert torch.equal(before[name], dict(tiny.model.named_parameters())[name])
    up = layer.mlp.up_proj
    assert not torch.equal(before["model.layers.0.mlp.up_proj.weight"], up.weight)
    grid = grid_of(up)
    assert grid is not None and (grid.bits, grid.group_size) == (4, 32)
    again = quantize_dequantize(up.weight, **grid.settings(), scale=grid.scale, zero=grid.zero)
    assert torch.allclose(again, up.weight, atol=1e-6)
    assert max(len(torch.unique(g)) for g in up.weight.detach().reshape(-1, 32)) <= 16


def test_packed_onto_the_cpu_int4_kernel_it_is_real_and_computes_the_same():
    simulated, packed = load_model("tiny"), load_model("tiny")
    apply(simulated.model, _config(), _context(simulated.tokenizer))
    report = apply(packed.model, _config(pack="cpu_int4"), _context(packed.tokenizer))
    assert report.execution == "real"
    ids = IDS[:1, :16]
    with torch.no_grad():
        assert torch.allclose(simulated.model(ids).logits, packed.model(ids).logits,
                              atol=2e-2, rtol=1e-2)


def test_without_calibration_text_or_tokenizer_it_says_so():
    tiny = load_model("tiny")
    with pytest.raises(ValueError, match="calibration"):
        apply(tiny.model, _config(), ApplyContext(torch.device("cpu")))
    with pytest.raises(ValueError, match="tokenizer"):
        apply(tiny.model, _config(), ApplyContext(torch.device("cpu"),
                                                  calibration=CalibrationData(IDS)))


def test_it_declares_calibration_and_its_package():
    needs = build_config("autoround", {}).requirements
    assert needs.calibration and needs.packages == ("auto_round",)
