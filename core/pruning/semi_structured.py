"""Real 2:4 acceleration: weights pruned to the 2:4 pattern handed to torch's semi-structured
sparse tensors, whose matmuls run on the sparse tensor cores of NVIDIA GPUs from compute
capability 8.0 (Ampere) on. The tensor stores the kept half of the values plus 2-bit position
metadata, so the layer's bytes really drop; in half precision only. Elsewhere (CPU, older
GPUs, float32) the pruned zeros stay in a dense matrix and the run is labelled simulated,
with the reason beside it."""

from __future__ import annotations

import torch

# cuSPARSELt / CUTLASS kernels want both weight dimensions in multiples of these (fp16/bf16).
MIN_ROWS, MIN_COLUMNS = 32, 64
HALF = (torch.float16, torch.bfloat16)


def unsupported_reason(device: torch.device, dtype: torch.dtype) -> str | None:
    """Why 2:4 weights cannot run on sparse kernels here, or None when they can."""
    if device.type != "cuda":
        return f"2:4 sparse kernels need an NVIDIA GPU (here: {device.type})"
    if not torch.cuda.is_available():
        return "CUDA is not available"
    major, minor = torch.cuda.get_device_capability(device)
    if (major, minor) < (8, 0):
        return f"2:4 sparse tensor cores need compute capability 8.0+ (this GPU: {major}.{minor})"
    if dtype not in HALF:
        name = str(dtype).removeprefix("torch.")
        return f"2:4 sparse kernels run in float16 or bfloat16, not {name}"
    return None


def to_semi_structured(linears: dict[str, torch.nn.Linear]) -> tuple[list[str], dict[str, str]]:
    """Swap each layer's (2:4-pruned) weight for a semi-structured sparse tensor; returns the
    layers converted and, for the others, why they stayed dense."""
    from torch.sparse import to_sparse_semi_structured

    converted, kept_dense = [], {}
    for name, linear in linears.items():
        rows, columns = linear.weight.shape
        if rows % MIN_ROWS or columns % MIN_COLUMNS:
            kept_dense[name] = (
                f"shape {rows}x{columns}: the kernels need multiples of {MIN_ROWS}x{MIN_COLUMNS}"
            )
            continue
        try:
            sparse = to_sparse_semi_structured(linear.weight.detach())
        except (RuntimeError, ValueError) as error:
            kept_dense[name] = str(error).splitlines()[0]
            continue
        linear.weight = torch.nn.Parameter(sparse, requires_grad=False)
        converted.append(name)
    return converted, kept_dense
