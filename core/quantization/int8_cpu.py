"""Int8 weight-only layers on the CPU through torch's own kernel
(`aten._weight_int8pack_mm`): the weight is stored as int8 with one scale per output row,
and the matmul reads it as int8. Real: a byte a weight plus a scale a row.

Packing keeps the grid a quantizer rounded to (a symmetric per-channel 8-bit grid, as RTN,
GPTQ and AWQ make it with bits=8, symmetric, per channel): the levels are recovered from the
rounded weight and checked, so the packed layer computes what the simulated one did, within
the kernel's bfloat16 rounding.
"""

from __future__ import annotations

import torch

from core.quantization.targets import frozen_bias
from core.recipes.shape_rules import int8_cpu_problem

# As for int4 (core.quantization.int4_cpu): the kernel's fast path is bfloat16. A 1536x576
# layer at batch 1 took 23 us so on this project's 2-thread CPU, against 388 us with float32
# activations and 84 us for a float32 nn.Linear.
COMPUTE_DTYPE = torch.bfloat16


class Int8WeightOnlyLinear(torch.nn.Module):
    """A Linear layer with int8 weights and a scale per output row."""

    def __init__(self, weight: torch.Tensor, scales: torch.Tensor, *,
                 bias: torch.nn.Parameter | None) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.register_buffer("weight_int8", weight)
        self.register_buffer("scales", scales)
        self.bias = bias  # a frozen Parameter (targets.frozen_bias) or None

    @classmethod
    def from_grid(cls, linear: torch.nn.Linear, *, scale: torch.Tensor, zero: torch.Tensor,
                  bits: int, group_size: int | None, symmetric: bool) -> Int8WeightOnlyLinear:
        """Pack `linear`, whose weight is already rounded to the grid (`scale`, `zero` as
        core.quantization.grid.grid_parameters gives them: [rows, 1, 1])."""
        reason = int8_cpu_problem(bits=bits, group_size=group_size, symmetric=symmetric)
        if reason:
            raise ValueError(reason)
        weight = linear.weight.detach().float()
        scale = scale.float().reshape(-1, 1)
        levels = torch.round(weight / scale)
        if (levels < -128).any() or (levels > 127).any() or \
                not torch.allclose(levels * scale, weight, rtol=1e-4, atol=1e-6):
            raise ValueError("the weight is not on this grid: pack right after the step that "
                             "rounded it, with that step's scales")
        return cls(levels.to(torch.int8).contiguous(),
                   scale.reshape(-1).to(COMPUTE_DTYPE).contiguous(), bias=frozen_bias(linear))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).to(self.scales.dtype)
        out = torch.ops.aten._weight_int8pack_mm(flat, self.weight_int8, self.scales)
        if self.bias is not None:
            out = out + self.bias
        return out.to(x.dtype).reshape(*x.shape[:-1], self.out_features)

    def dequantized_weight(self) -> torch.Tensor:
        """The float weight this layer computes with (for exports and checks)."""
        return self.weight_int8.float() * self.scales.float()[:, None]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"
