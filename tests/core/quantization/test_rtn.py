"""Round-to-nearest: the error stays within half a grid step, and group sizes are checked."""

from __future__ import annotations

import pytest
import torch

import core.quantization  # noqa: F401  (registers the quantizers)
from core.engine.models import load_model
from core.quantization.grid import grid_parameters, quantize_dequantize
from core.quantization.rtn import apply_rtn
from core.recipes import build_config
from core.recipes.quantization import RTNConfig
from core.techniques.context import ApplyContext
from core.techniques.registry import apply

CPU = ApplyContext(device=torch.device("cpu"))


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("group_size", [None, 16])
@pytest.mark.parametrize("symmetric", [True, False])
def test_round_trip_error_is_within_half_a_step(bits, group_size, symmetric):
    weight = torch.randn(8, 64, generator=torch.Generator().manual_seed(bits))
    restored = quantize_dequantize(weight, bits=bits, group_size=group_size, symmetric=symmetric)
    scale, _ = grid_parameters(weight, bits=bits, group_size=group_size, symmetric=symmetric)
    size = group_size or 64
    bound = scale.expand(8, 64 // size, size).reshape(8, 64) / 2
    # Symmetric grids clip the most negative level; the largest magnitude still maps exactly.
    assert torch.all((weight - restored).abs() <= bound + 1e-6)
    groups = restored.reshape(8, 64 // size, size).reshape(-1, size)
    assert max(len(torch.unique(group)) for group in groups) <= 2**bits


def test_more_bits_means_less_error():
    weight = torch.randn(16, 128, generator=torch.Generator().manual_seed(0))
    errors = [
        (weight - quantize_dequantize(weight, bits=b, group_size=32, symmetric=False)).norm()
        for b in (2, 3, 4, 8)
    ]
    assert errors == sorted(errors, reverse=True)


def test_group_size_must_divide_the_input_dimension():
    tiny = load_model("tiny")  # hidden size 64, MLP width 128
    with pytest.raises(ValueError, match="group_size 48 does not divide the input dimension 64"):
        apply_rtn(tiny.model, RTNConfig(group_size=48), CPU)
    with pytest.raises(ValueError, match="sizes that divide it: 16, 32, 64"):
        apply_rtn(tiny.model, RTNConfig(group_size=48), CPU)


def test_rtn_changes_weights_but_leaves_the_head_alone():
    tiny = load_model("tiny")
    before = {n: p.clone() for n, p in tiny.model.named_parameters()}
    apply_rtn(tiny.model, RTNConfig(bits=3, group_size=32), CPU)
    after = dict(tiny.model.named_parameters())
    assert not torch.equal(
        before["model.layers.0.mlp.up_proj.weight"], after["model.layers.0.mlp.up_proj.weight"]
    )
    assert torch.equal(before["lm_head.weight"], after["lm_head.weight"])


def test_packing_refuses_a_grid_the_kernel_cannot_take_before_changing_anything():
    tiny = load_model("tiny")
    before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    with pytest.raises(ValueError, match="pack cpu_int4: the CPU int4 kernel takes group sizes"):
        apply(tiny.model, build_config("rtn", {"group_size": 16, "pack": "cpu_int4"}),
              ApplyContext(device=torch.device("cpu")))
    assert all(torch.equal(before[k], v) for k, v in tiny.model.state_dict().items())


def test_a_shape_the_packed_kernel_refuses_is_known_before_the_job_is_queued():
    from core.engine.model_shapes import BUNDLED_CONFIG, TINY_CONFIG, ModelShape

    tiny = ModelShape.from_config(TINY_CONFIG)
    packed = build_config("rtn", {"group_size": 32, "pack": "cpu_int4", "skip": []})
    # The tiny model's output head has 257 rows: not a multiple of the kernel's 16.
    assert any("lm_head has 257" in p for p in packed.shape_problems(tiny))
    assert build_config("rtn", {"group_size": 32, "pack": "cpu_int4"}).shape_problems(tiny) == []
    bundled = ModelShape.from_config(BUNDLED_CONFIG)
    assert build_config("rtn", {"pack": "cpu_int4"}).shape_problems(bundled) == []
