"""The bytes a rounded model would take packed, computed exactly from its layers' shapes
and grids: each weight at its bits, a float16 scale per group, a zero point at the weight's
bits per group (asymmetric grids only) and an int32 group index per input column where the
groups follow a column order of their own (GPTQ's act_order), as GPTQ-style formats store
them. Everything else counts as stored. A simulated run keeps its weights in float, so this
figure is how its size axis stays honest: the size of its format, computed, not measured."""

from __future__ import annotations

import torch

from core.engine.format_bytes import packed_weight_bytes
from core.engine.memory import stored_bytes
from core.quantization.packing import LayerGrid, grid_of

HOW = ("packed size, computed: each quantized weight at its bits, a float16 scale per group, "
       "a zero point at the weight's bits per group (asymmetric grids) and an int32 group "
       "index per input column (GPTQ act_order); the other tensors as stored")


def layer_packed_bytes(rows: int, columns: int, grid: LayerGrid) -> int:
    """Bytes of one layer's weight packed on `grid` (bias not included)."""
    return packed_weight_bytes(rows, columns, grid.bits, grid.group_size,
                               symmetric=grid.symmetric, indexed=grid.input_order is not None)


def packed_size_computed(model: torch.nn.Module) -> int | None:
    """The model's bytes with every rounded (simulated) layer counted packed; None when no
    layer carries a grid (nothing was rounded, or everything is packed already)."""
    rounded = [(m, grid_of(m)) for m in model.modules()
               if isinstance(m, torch.nn.Linear) and grid_of(m) is not None]
    if not rounded:
        return None
    total = stored_bytes(model)
    for linear, grid in rounded:
        total -= linear.weight.untyped_storage().nbytes()
        total += layer_packed_bytes(linear.out_features, linear.in_features, grid)
    return total
