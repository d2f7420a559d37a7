"""Packed CPU int4: the packed layer computes what the simulated (rounded, float) layer did
(within bfloat16 rounding),
stores about an eighth of the float bytes, and refuses shapes its kernel cannot take."""

from __future__ import annotations

import pytest
import torch

from core.engine.memory import stored_bytes
from core.quantization.grid import grid_parameters, quantize_dequantize
from core.quantization.int4_cpu import Int4PackedLinear
from core.recipes.shape_rules import int4_cpu_problem


def _rounded(rows: int, columns: int, *, group_size: int, symmetric: bool, bias: bool = True):
    """A Linear whose weight sits on a 4-bit grid, as a simulated RTN run leaves it."""
    linear = torch.nn.Linear(columns, rows, bias=bias)
    grid = dict(bits=4, group_size=group_size, symmetric=symmetric)
    scale, zero = grid_parameters(linear.weight.detach(), **grid)
    with torch.no_grad():
        linear.weight.copy_(quantize_dequantize(linear.weight, **grid, scale=scale, zero=zero))
    return linear, scale, zero


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("group_size", [32, 64])
def test_the_packed_layer_computes_what_the_rounded_float_layer_did(symmetric, group_size):
    torch.manual_seed(0)
    linear, scale, zero = _rounded(48, 192, group_size=group_size, symmetric=symmetric)
    packed = Int4PackedLinear.from_grid(linear, scale=scale, zero=zero, bits=4,
                                        group_size=group_size, symmetric=symmetric)
    x = torch.randn(2, 3, 192)
    expected = linear(x)
    got = packed(x)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    # The kernel computes in bfloat16 (its fast path): about 3 significant digits.
    torch.testing.assert_close(got, expected, rtol=2e-2, atol=2e-2)


def test_it_stores_half_a_byte_a_weight_plus_its_scales():
    linear, scale, zero = _rounded(64, 256, group_size=64, symmetric=False, bias=False)
    packed = Int4PackedLinear.from_grid(linear, scale=scale, zero=zero, bits=4, group_size=64,
                                        symmetric=False)
    weights = 64 * 256
    # 0.5 byte a weight, and a bfloat16 scale and zero for every group of 64.
    assert stored_bytes(packed) == weights // 2 + (weights // 64) * 2 * 2
    assert stored_bytes(packed) / stored_bytes(linear) < 0.15


@pytest.mark.parametrize(("rows", "columns", "bits", "group", "says"), [
    (64, 256, 8, 64, "packs 4-bit weights, not 8-bit"),
    (64, 256, 4, None, "not per channel"),
    (64, 576, 4, 192, "not group size 192"),
    (64, 96, 4, 64, "does not divide the input dimension 96"),
    (100, 256, 4, 64, "multiple of 16; the layer has 100"),
])
def test_shapes_the_kernel_cannot_take_are_refused_with_the_reason(rows, columns, bits, group,
                                                                   says):
    assert says in int4_cpu_problem(rows, columns, bits=bits, group_size=group)
    linear = torch.nn.Linear(columns, rows)
    scale = torch.ones(rows, 1, 1)
    with pytest.raises(ValueError, match=says):
        Int4PackedLinear.from_grid(linear, scale=scale, zero=torch.zeros_like(scale), bits=bits,
                                   group_size=group, symmetric=True)


def test_a_weight_off_the_grid_is_refused_not_rounded_again():
    linear, scale, zero = _rounded(32, 128, group_size=64, symmetric=False)
    with torch.no_grad():
        linear.weight.add_(1e-3)  # a later step moved it off the grid
    with pytest.raises(ValueError, match="not on this grid"):
        Int4PackedLinear.from_grid(linear, scale=scale, zero=zero, bits=4, group_size=64,
                                   symmetric=False)
