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
       "index per input column (GPTQ act_order), or its block format's bytes (GGUF); the "
       "other tensors as stored")
# A layer rounded to a block format with a byte count of its own (GGUF's Q4_1 stores a float16
# minimum per block, which no grid above describes) carries its exact bytes here.
FORMAT_BYTES_ATTRIBUTE = "_optatlas_format_bytes"


def remember_format_bytes(linear: torch.nn.Linear, nbytes: int) -> None:
    """Record the bytes `linear`'s weight takes in the format it was rounded to."""
    setattr(linear, FORMAT_BYTES_ATTRIBUTE, int(nbytes))


def _format_bytes(linear: torch.nn.Linear) -> int | None:
    nbytes = getattr(linear, FORMAT_BYTES_ATTRIBUTE, None)
    if nbytes is not None:
        return nbytes
    grid = grid_of(linear)
    return None if grid is None else layer_packed_bytes(linear.out_features,
                                                         linear.in_features, grid)


def layer_packed_bytes(rows: int, columns: int, grid: LayerGrid) -> int:
    """Bytes of one layer's weight packed on `grid` (bias not included)."""
    return packed_weight_bytes(rows, columns, grid.bits, grid.group_size,
                               symmetric=grid.symmetric, indexed=grid.input_order is not None)


def packed_size_computed(model: torch.nn.Module) -> int | None:
    """The model's bytes with every rounded (simulated) layer counted packed; None when no
    layer carries a grid (nothing was rounded, or everything is packed already)."""
    rounded = [(m, _format_bytes(m)) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    rounded = [(linear, nbytes) for linear, nbytes in rounded if nbytes is not None]
    if not rounded:
        return None
    total = stored_bytes(model)
    for linear, nbytes in rounded:
        total -= linear.weight.untyped_storage().nbytes()
        total += nbytes
    return total
