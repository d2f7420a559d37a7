"""Packed size, computed: the bytes a rounded layer's format takes, against hand-computed
cases, and a simulated model's total with its rounded layers counted packed."""

from __future__ import annotations

import torch

import core.quantization  # noqa: F401  (registers the quantizers)
from core.engine.memory import stored_bytes
from core.engine.models import load_model
from core.quantization.packed_size import layer_packed_bytes, packed_size_computed
from core.quantization.packing import LayerGrid
from core.recipes import build_config
from core.techniques.context import ApplyContext
from core.techniques.registry import apply


def _grid(bits, group_size, symmetric, order=None):
    return LayerGrid(torch.zeros(1), torch.zeros(1), bits=bits, group_size=group_size,
                     symmetric=symmetric, input_order=order)


def test_a_layers_packed_bytes_match_the_hand_computed_ones():
    # 1536 x 576 at 4 bits in groups of 64, asymmetric: 442,368 bytes of weights,
    # 1536 x 9 float16 scales (27,648 B) and 4-bit zero points (6,912 B).
    assert layer_packed_bytes(1536, 576, _grid(4, 64, False)) == 442_368 + 27_648 + 6_912
    # Symmetric, per channel, 8 bits: a byte a weight and a float16 scale a row.
    assert layer_packed_bytes(48, 96, _grid(8, None, True)) == 48 * 96 + 48 * 2
    # 3 bits round up to whole bytes; act_order adds an int32 group index per column.
    order = torch.arange(96)
    assert layer_packed_bytes(5, 96, _grid(3, 32, True, order)) == 180 + 5 * 3 * 2 + 96 * 4


def test_a_simulated_model_counts_its_rounded_layers_packed_and_the_rest_as_stored():
    tiny = load_model("tiny")
    before = stored_bytes(tiny.model)
    assert packed_size_computed(tiny.model) is None  # nothing rounded yet
    apply(tiny.model, build_config("rtn", {"bits": 4, "group_size": 32}),
          ApplyContext(torch.device("cpu")))
    linears = {n: m for n, m in tiny.model.named_modules()
               if isinstance(m, torch.nn.Linear) and "lm_head" not in n}
    expected = before - sum(m.weight.numel() * 4 for m in linears.values()) + sum(
        m.weight.numel() // 2 + (m.weight.numel() // 32) * (2 + 0.5) for m in linears.values())
    assert packed_size_computed(tiny.model) == expected
    assert stored_bytes(tiny.model) == before  # simulated: still float


def test_a_packed_model_has_nothing_left_to_compute():
    tiny = load_model("tiny")
    apply(tiny.model, build_config("rtn", {"bits": 4, "group_size": 32, "pack": "cpu_int4"}),
          ApplyContext(torch.device("cpu")))
    assert packed_size_computed(tiny.model) is None
