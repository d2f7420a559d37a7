"""The bytes one weight matrix takes in a GPTQ-style packed format, from its shape and grid
alone: each weight at its bits, a float16 scale per group, a zero point at the weight's bits
per group (asymmetric grids) and an int32 group index per input column where the groups
follow a column order of their own (GPTQ's act_order). Torch-free: the measured packed size
(core/quantization/packed_size.py) and the chooser's memory arithmetic (core/chooser) both
use this one formula."""

from __future__ import annotations

import math

SCALE_BYTES = 2  # float16
GROUP_INDEX_BYTES = 4  # int32 per input column


def packed_weight_bytes(rows: int, columns: int, bits: int, group_size: int | None, *,
                        symmetric: bool = False, indexed: bool = False) -> int:
    """Bytes of a `rows` x `columns` weight at `bits` with groups of `group_size` input
    columns (None: one group per row), bias not included."""
    groups = columns // (group_size or columns)
    weight = math.ceil(rows * columns * bits / 8)
    scales = rows * groups * SCALE_BYTES
    zeros = 0 if symmetric else math.ceil(rows * groups * bits / 8)
    index = columns * GROUP_INDEX_BYTES if indexed else 0
    return weight + scales + zeros + index
