"""Packing as part of a weight-only step: RTN, GPTQ (act_order included) and AWQ packed into
the CPU int4 and int8 kernels compute what their simulated runs did, store the bytes their
format says, report the step as real, and refuse a grid the kernel cannot take before any
layer changes."""

from __future__ import annotations

import pytest
import torch

import core.quantization  # noqa: F401  (registers the quantizers)
from core.engine.memory import stored_bytes
from core.engine.models import load_model
from core.quantization.int4_cpu import Int4PackedLinear
from core.quantization.int8_cpu import Int8WeightOnlyLinear
from core.recipes import build_config
from core.techniques.context import ApplyContext, CalibrationData
from core.techniques.registry import apply

CALIBRATION = torch.randint(0, 250, (4, 16), generator=torch.Generator().manual_seed(1))
IDS = torch.randint(0, 250, (2, 12), generator=torch.Generator().manual_seed(3))


def _context() -> ApplyContext:
    return ApplyContext(torch.device("cpu"), CalibrationData(CALIBRATION))


INT4 = {"bits": 4, "group_size": 32}
INT8 = {"bits": 8, "group_size": None, "symmetric": True}


@pytest.mark.parametrize(("recipe", "settings", "pack", "layer_type"), [
    ("rtn", INT4, "cpu_int4", Int4PackedLinear),
    ("gptq", {**INT4, "act_order": False}, "cpu_int4", Int4PackedLinear),
    # act_order with groups: the groups follow GPTQ's column order, so the packed layer
    # permutes its input to that order.
    ("gptq", {**INT4, "act_order": True}, "cpu_int4", Int4PackedLinear),
    ("gptq", {**INT4, "act_order": True, "static_groups": True}, "cpu_int4", Int4PackedLinear),
    ("awq", INT4, "cpu_int4", Int4PackedLinear),
    ("rtn", INT8, "cpu_int8", Int8WeightOnlyLinear),
    ("gptq", INT8, "cpu_int8", Int8WeightOnlyLinear),
])
def test_a_packed_step_computes_what_its_simulated_run_did(recipe, settings, pack, layer_type):
    simulated, packed = load_model("tiny"), load_model("tiny")
    report_simulated = apply(simulated.model, build_config(recipe, settings), _context())
    report = apply(packed.model, build_config(recipe, {**settings, "pack": pack}), _context())
    assert (report_simulated.execution, report.execution) == ("simulated", "real")
    assert report.details["packed"] == pack
    layers = [m for m in packed.model.modules() if isinstance(m, layer_type)]
    assert len(layers) == report.modules > 0
    assert not any(type(m) is torch.nn.Linear and "lm_head" not in name
                   for name, m in packed.model.named_modules())
    with torch.no_grad():
        # Within the kernels' bfloat16 rounding.
        torch.testing.assert_close(packed.model(IDS).logits, simulated.model(IDS).logits,
                                   rtol=3e-2, atol=3e-2)
    assert stored_bytes(packed.model) < stored_bytes(simulated.model)


def test_gptq_act_order_packs_its_groups_in_its_own_column_order():
    packed = load_model("tiny")
    apply(packed.model, build_config("gptq", {**INT4, "act_order": True, "pack": "cpu_int4"}),
          _context())
    layer = next(m for m in packed.model.modules() if isinstance(m, Int4PackedLinear))
    order = layer.input_order
    assert order is not None and sorted(order.tolist()) == list(range(layer.in_features))
    assert order.tolist() != list(range(layer.in_features))


def test_static_groups_keep_gptqs_groups_in_the_natural_column_order():
    tiny = load_model("tiny")
    settings = {**INT4, "act_order": True, "static_groups": True, "pack": "cpu_int4"}
    apply(tiny.model, build_config("gptq", settings), _context())
    assert all(m.input_order is None for m in tiny.model.modules()
               if isinstance(m, Int4PackedLinear))


def test_int8_weight_only_stores_a_byte_a_weight_plus_a_scale_a_row():
    linear = torch.nn.Linear(96, 48, bias=False)
    tiny = load_model("tiny")
    apply(tiny.model, build_config("rtn", {**INT8, "pack": "cpu_int8"}), _context())
    layer = next(m for m in tiny.model.modules() if isinstance(m, Int8WeightOnlyLinear))
    rows, columns = layer.out_features, layer.in_features
    # An int8 a weight and a bfloat16 scale a row.
    assert stored_bytes(layer) == rows * columns + rows * 2
    assert stored_bytes(linear) == 96 * 48 * 4


@pytest.mark.parametrize(("recipe", "settings", "says"), [
    ("gptq", {"bits": 4, "group_size": 16, "pack": "cpu_int4"}, "takes group sizes"),
    ("awq", {"bits": 3, "group_size": 32, "pack": "cpu_int4"}, "packs 4-bit weights, not 3"),
    ("rtn", {"bits": 8, "group_size": 32, "symmetric": True, "pack": "cpu_int8"},
     "one scale per output channel"),
    ("gptq", {"bits": 8, "group_size": None, "pack": "cpu_int8"}, "symmetric grid"),
])
def test_a_grid_the_kernel_cannot_take_is_refused_before_anything_changes(recipe, settings,
                                                                          says):
    tiny = load_model("tiny")
    before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    with pytest.raises(ValueError, match=says):
        apply(tiny.model, build_config(recipe, settings), _context())
    assert all(torch.equal(before[k], v) for k, v in tiny.model.state_dict().items())


def test_the_packed_int4_layer_reads_back_its_exact_levels():
    """Exports read the levels back from the packed layer: they must be the ones packed."""
    tiny = load_model("tiny")
    apply(tiny.model, build_config("rtn", {**INT4, "pack": "cpu_int4"}), _context())
    layer = next(m for m in tiny.model.modules() if isinstance(m, Int4PackedLinear))
    levels, scale, middle = layer.grid()
    restored = (levels.float() - 8) * scale.repeat_interleave(32, 1) + \
        middle.repeat_interleave(32, 1)
    x = torch.randn(3, layer.in_features)
    torch.testing.assert_close(layer(x), (x.bfloat16().float() @ restored.T), rtol=2e-2,
                               atol=2e-2)
    assert levels.min() >= 0 and levels.max() <= 15
