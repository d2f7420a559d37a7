"""Packed int4 weights on the CPU through torch's own kernels: two 4-bit values a byte
(`aten._convert_weight_to_int4pack_for_cpu`) and a matmul that unpacks them group by group
(`aten._weight_int4pack_mm_for_cpu`). Real: the layer stores half a byte a weight plus one
bfloat16 scale and zero per group, and every product runs the int4 kernel (in bfloat16, its
fast path).

Packing keeps the exact grid a quantizer rounded to (RTN, GPTQ, AWQ keep theirs): given the
already-rounded weight and its grid, the integer levels are recovered and checked, so the
packed layer computes what the simulated one did, within the kernel's bfloat16 rounding.
Shapes the kernel cannot take are refused with the reason, never silently left in float.
"""

from __future__ import annotations

import torch

from core.quantization.targets import frozen_bias
from core.recipes.shape_rules import int4_cpu_problem

# The kernel computes w = (q - 8) * scale + zero with q in 0..15: its zero is the value at
# the middle level, where the grids here (core.quantization.grid) use an integer zero point.
MIDDLE = 8
# The kernel's fast path takes bfloat16 activations and scales: on this project's 2-thread
# AVX-512 CPU a 1536x576 layer at batch 1 took 41 us so, against 1,070 us with float32 ones
# (a float32 nn.Linear: 48 us). Inputs are cast on the way in and outputs back.
COMPUTE_DTYPE = torch.bfloat16


class Int4PackedLinear(torch.nn.Module):
    """A Linear layer with packed int4 weights, one scale and zero per group of inputs, on
    torch's CPU int4 kernel (core.quantization.int4_cuda holds its CUDA sibling)."""

    KERNEL = "aten._weight_int4pack_mm_for_cpu"

    @staticmethod
    def problem(rows: int, columns: int, *, bits: int, group_size: int | None) -> str | None:
        """Why the kernel cannot take a layer of this shape and grid, or None."""
        return int4_cpu_problem(rows, columns, bits=bits, group_size=group_size)

    @staticmethod
    def pack(levels: torch.Tensor) -> torch.Tensor:
        """Levels 0..15 [rows, columns] (int32) in the kernel's packed layout."""
        return torch.ops.aten._convert_weight_to_int4pack_for_cpu(levels.contiguous(), 1)

    @staticmethod
    def matmul(x: torch.Tensor, packed: torch.Tensor, group_size: int,
               scales_and_zeros: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, group_size,
                                                          scales_and_zeros)

    def __init__(self, packed: torch.Tensor, scales_and_zeros: torch.Tensor, *,
                 in_features: int, out_features: int, group_size: int,
                 bias: torch.nn.Parameter | None, input_order: torch.Tensor | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features, self.group_size = in_features, out_features, group_size
        # Buffers, not parameters: nothing here trains, and state_dict still saves them.
        self.register_buffer("packed", packed)
        self.register_buffer("scales_and_zeros", scales_and_zeros)
        # The column order the groups follow (GPTQ's act_order): the weight is packed in
        # that order and each input is permuted to it, one gather per call.
        self.register_buffer("input_order", input_order)
        self.bias = bias  # a frozen Parameter (targets.frozen_bias) or None

    @classmethod
    def from_grid(cls, linear: torch.nn.Linear, *, scale: torch.Tensor, zero: torch.Tensor,
                  bits: int, group_size: int | None, symmetric: bool,
                  input_order: torch.Tensor | None = None) -> Int4PackedLinear:
        """Pack `linear`, whose weight is already rounded to the grid (`scale`, `zero` as
        core.quantization.grid.grid_parameters gives them: [rows, groups, 1]), its groups
        taken along `input_order` when one is given."""
        rows, columns = linear.weight.shape
        reason = cls.problem(rows, columns, bits=bits, group_size=group_size)
        if reason:
            raise ValueError(reason)
        weight = linear.weight.detach().float()
        if input_order is not None:
            weight = weight[:, input_order]
        weight = weight.reshape(rows, columns // group_size, group_size)
        scale, zero = scale.float(), zero.float()
        levels = torch.round(weight / scale) + (MIDDLE if symmetric else zero)
        if (levels < 0).any() or (levels > 15).any() or \
                not torch.allclose(_restored(levels, scale, zero, symmetric), weight,
                                   rtol=1e-4, atol=1e-6):
            raise ValueError("the weight is not on this grid: pack right after the step that "
                             "rounded it, with that step's scales and zeros")
        packed = cls.pack(levels.reshape(rows, columns).to(torch.int32))
        middle = (MIDDLE - (MIDDLE if symmetric else zero)) * scale  # the value at level 8
        scales_and_zeros = torch.stack([scale.squeeze(-1), middle.squeeze(-1)], dim=-1)
        return cls(packed, scales_and_zeros.transpose(0, 1).contiguous().to(COMPUTE_DTYPE),
                   in_features=columns, out_features=rows, group_size=group_size,
                   bias=frozen_bias(linear),
                   input_order=None if input_order is None else input_order.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        if self.input_order is not None:
            flat = flat.index_select(1, self.input_order)
        out = self.matmul(flat.to(self.scales_and_zeros.dtype), self.packed, self.group_size,
                          self.scales_and_zeros)
        if self.bias is not None:
            out = out + self.bias
        return out.to(x.dtype).reshape(*x.shape[:-1], self.out_features)

    def read_weight(self) -> torch.Tensor:
        """The weight as the kernel computes with it ([rows, columns] float, in the packed
        column order), read through the kernel itself: an identity matrix times it."""
        eye = torch.eye(self.in_features, dtype=self.scales_and_zeros.dtype,
                        device=self.packed.device)
        return self.matmul(eye, self.packed, self.group_size, self.scales_and_zeros).T.float()

    def grid(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The packed weight as (levels 0..15 [rows, columns], scale, value at level 8
        [rows, groups]), in the packed column order, on the CPU. The kernel's layout is
        private to it, so the levels are read back through the kernel: exact, since
        bfloat16 keeps every level apart by far."""
        weight = self.read_weight().cpu()
        scale = self.scales_and_zeros[..., 0].T.float().cpu()
        middle = self.scales_and_zeros[..., 1].T.float().cpu()
        expand = self.group_size
        levels = torch.round((weight - middle.repeat_interleave(expand, 1))
                             / scale.repeat_interleave(expand, 1)) + MIDDLE
        return levels.clamp(0, 15).to(torch.int32), scale, middle

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"group_size={self.group_size}, int4 packed")


def _restored(levels: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor,
              symmetric: bool) -> torch.Tensor:
    # The float value each level stands for, as the grid defines it.
    return (levels - MIDDLE) * scale if symmetric else (levels - zero) * scale
