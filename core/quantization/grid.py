"""Uniform integer grids: scales and zero points per output channel or per group, and the
round trip (quantize, then dequantize) that fake-quantization and error analysis share."""

from __future__ import annotations

import torch

from core.recipes.shape_rules import group_size_problem


def check_group_size(in_features: int, group_size: int | None, *, name: str = "layer") -> None:
    """A group size must divide the input dimension; say so in words when it does not."""
    problem = group_size_problem(in_features, group_size, name)
    if problem:
        raise ValueError(problem)


def _grouped(weight: torch.Tensor, group_size: int | None) -> torch.Tensor:
    rows, columns = weight.shape
    size = group_size or columns
    return weight.reshape(rows, columns // size, size)


def grid_parameters(
    weight: torch.Tensor, *, bits: int, group_size: int | None, symmetric: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point per (row, group), shaped [rows, groups, 1]."""
    grouped = _grouped(weight.float(), group_size)
    if symmetric:
        levels = 2 ** (bits - 1) - 1
        scale = grouped.abs().amax(-1, keepdim=True).clamp_min(1e-8) / levels
        zero = torch.zeros_like(scale)
    else:
        levels = 2**bits - 1
        low = grouped.amin(-1, keepdim=True).clamp_max(0)
        high = grouped.amax(-1, keepdim=True).clamp_min(0)
        scale = (high - low).clamp_min(1e-8) / levels
        zero = torch.round(-low / scale)
    return scale, zero


def quantize_dequantize(
    weight: torch.Tensor,
    *,
    bits: int,
    group_size: int | None,
    symmetric: bool,
    scale: torch.Tensor | None = None,
    zero: torch.Tensor | None = None,
) -> torch.Tensor:
    """Round `weight` to the grid and back to float (the value a kernel would compute with)."""
    if scale is None or zero is None:
        scale, zero = grid_parameters(weight, bits=bits, group_size=group_size, symmetric=symmetric)
    grouped = _grouped(weight.float(), group_size)
    if symmetric:
        limit = 2 ** (bits - 1) - 1
        q = torch.clamp(torch.round(grouped / scale), -limit - 1, limit)
        restored = q * scale
    else:
        q = torch.clamp(torch.round(grouped / scale) + zero, 0, 2**bits - 1)
        restored = (q - zero) * scale
    return restored.reshape(weight.shape).to(weight.dtype)
