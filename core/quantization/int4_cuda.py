"""Packed int4 weights on an NVIDIA GPU through torch's own CUDA int4 kernel (tinygemm:
`aten._convert_weight_to_int4pack`, `aten._weight_int4pack_mm`), packed from a quantizer's
own grid exactly as the CPU layer is (core.quantization.int4_cpu): two levels a byte, a
bfloat16 scale and the value at level 8 per group, bfloat16 compute.

The CUDA layout is private to the kernel, so every packed layer is checked once, on its
GPU, by reading its weight back through the kernel (an identity matrix times it) against
the grid's own values: a layout that does not reproduce the grid is refused with that
reason, never used to compute.
"""

from __future__ import annotations

import torch

from core.quantization.int4_cpu import Int4PackedLinear
from core.recipes.shape_rules import int4_cuda_inner_k_tiles, int4_cuda_problem

# bfloat16 keeps about 3 significant digits; a wrong layout misses by whole levels.
READBACK_TOLERANCE = 2e-2


class Int4CudaLinear(Int4PackedLinear):
    """A Linear layer with packed int4 weights on the CUDA int4 kernel."""

    KERNEL = "aten._weight_int4pack_mm"

    @staticmethod
    def problem(rows: int, columns: int, *, bits: int, group_size: int | None) -> str | None:
        return int4_cuda_problem(rows, columns, bits=bits, group_size=group_size)

    @staticmethod
    def pack(levels: torch.Tensor) -> torch.Tensor:
        # Two levels a byte, the even column in the high half, as the CUDA packer reads them.
        pairs = (levels[:, ::2] << 4 | levels[:, 1::2]).to(torch.uint8).contiguous()
        return torch.ops.aten._convert_weight_to_int4pack(
            pairs, int4_cuda_inner_k_tiles(levels.shape[1]))

    @staticmethod
    def matmul(x: torch.Tensor, packed: torch.Tensor, group_size: int,
               scales_and_zeros: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int4pack_mm(x, packed, group_size, scales_and_zeros)

    @classmethod
    def from_grid(cls, linear: torch.nn.Linear, **grid) -> Int4CudaLinear:
        if linear.weight.device.type != "cuda":
            raise ValueError(f"the CUDA int4 kernel packs weights on a CUDA GPU, not on "
                             f"{linear.weight.device}: choose cpu_int4 there")
        layer = super().from_grid(linear, **grid)
        expected = linear.weight.detach().float()
        if grid.get("input_order") is not None:
            expected = expected[:, grid["input_order"]]
        layer.check_layout(expected)
        return layer

    def check_layout(self, expected: torch.Tensor) -> None:
        """Refuse (ValueError) a packed weight the kernel does not read back as `expected`,
        the rounded weight it was packed from (in the packed column order)."""
        error = (self.read_weight() - expected.to(self.packed.device)).abs().max()
        if error > READBACK_TOLERANCE * expected.abs().max().clamp_min(1e-8):
            raise ValueError("the CUDA int4 kernel does not read this packed weight back as "
                             "its grid (a layout this torch release packs differently): not "
                             "used; choose torchao-int4 on this GPU")
