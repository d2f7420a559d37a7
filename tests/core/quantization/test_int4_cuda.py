"""Packing for torch's CUDA int4 kernel: the same grids as on the CPU, refused with the reason
where the shapes, the device or the GPU cannot take them; on a GPU (skipped here) the packed
layer reads back as its grid and computes what the simulated run did."""

from __future__ import annotations

import pytest
import torch

import core.quantization  # noqa: F401  (registers the quantizers)
from core.engine.model_shapes import TINY_CONFIG, ModelShape
from core.engine.models import load_model
from core.recipes import build_config
from core.recipes.shape_rules import int4_cuda_inner_k_tiles, int4_cuda_problem
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply

CALIBRATION = torch.randint(0, 250, (4, 16), generator=torch.Generator().manual_seed(1))
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize(("rows", "columns", "bits", "group", "says"), [
    (64, 256, 8, 64, "packs 4-bit weights, not 8-bit"),
    (64, 256, 4, None, "not per channel"),
    (60, 256, 4, 64, "multiple of 8; the layer has 60"),
    (64, 96, 4, 64, "does not divide the input dimension 96"),
])
def test_shapes_the_cuda_kernel_cannot_take_are_refused_with_the_reason(rows, columns, bits,
                                                                        group, says):
    assert says in int4_cuda_problem(rows, columns, bits=bits, group_size=group)


def test_the_inner_tiles_are_the_largest_that_fit_the_input_dimension():
    assert [int4_cuda_inner_k_tiles(k) for k in (576, 1536, 64, 32, 48)] == [4, 8, 4, 2, None]


def test_a_cuda_pack_is_known_before_queueing_and_refused_on_the_cpu():
    tiny = ModelShape.from_config(TINY_CONFIG)
    packed = build_config("gptq", {"bits": 4, "group_size": 32, "pack": "cuda_int4"})
    assert packed.planned_execution() == "real" and packed.shape_problems(tiny) == []
    model = load_model("tiny")
    before = {k: v.clone() for k, v in model.model.state_dict().items()}
    with pytest.raises(ValueError, match="pack cuda_int4 runs torch's CUDA kernel, but .* is "
                       "on cpu: choose cpu_int4"):
        apply(model.model, packed, ApplyContext(torch.device("cpu"),
                                                CalibrationData(CALIBRATION)))
    assert all(torch.equal(before[k], v) for k, v in model.model.state_dict().items())


@CUDA
@pytest.mark.parametrize(("recipe", "settings"), [
    ("rtn", {"bits": 4, "group_size": 32}),
    ("gptq", {"bits": 4, "group_size": 32, "act_order": True}),
    ("awq", {"bits": 4, "group_size": 32, "symmetric": True}),
])
def test_on_a_gpu_the_packed_layer_computes_what_the_simulated_run_did(recipe, settings):
    from core.quantization.int4_cuda import Int4CudaLinear

    device = torch.device("cuda")
    context = ApplyContext(device, CalibrationData(CALIBRATION.to(device)))
    simulated = load_model("tiny", device="cuda")
    packed = load_model("tiny", device="cuda")
    apply(simulated.model, build_config(recipe, settings), context)
    report = apply(packed.model, build_config(recipe, {**settings, "pack": "cuda_int4"}),
                   context)
    assert report.execution == "real" and report.details["kernel"] == Int4CudaLinear.KERNEL
    assert sum(isinstance(m, Int4CudaLinear) for m in packed.model.modules()) == report.modules
    ids = torch.randint(0, 250, (2, 12), device=device)
    with torch.no_grad():
        torch.testing.assert_close(packed.model(ids).logits, simulated.model(ids).logits,
                                   rtol=3e-2, atol=3e-2)
