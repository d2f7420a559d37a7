"""What the width pruners (mlp-channel-pruning, head-pruning) share: the importance signal
measured on calibration text, slicing a Linear's rows or columns in place, and choosing
which to keep.

A channel (or head) matters by how large the output it contributes is: the norm of its input
activation times the norm of the weight column that carries it into the residual stream."""

from __future__ import annotations

import torch

from core.quantization.capture import forward_with_hooks
from core.recipes.shape_rules import width_removed


def input_rms(model: torch.nn.Module, linears: list[torch.nn.Linear],
              input_ids: torch.Tensor) -> list[torch.Tensor]:
    """Root-mean-square of each input channel of each Linear over the calibration tokens."""
    sums = [torch.zeros(linear.in_features, dtype=torch.float64) for linear in linears]
    counts = [0] * len(linears)

    def hook_for(index: int):
        def record(module, args):
            flat = args[0].detach().reshape(-1, args[0].shape[-1]).float()
            sums[index] += flat.square().sum(0).double().cpu()
            counts[index] += flat.shape[0]

        return record

    handles = [linear.register_forward_pre_hook(hook_for(i)) for i, linear in enumerate(linears)]
    forward_with_hooks(model, input_ids, handles)
    return [(total / max(count, 1)).sqrt().float() for total, count in zip(sums, counts)]


def slice_linear(linear: torch.nn.Linear, keep: torch.Tensor, *, rows: bool) -> None:
    """Keep only some output rows (or input columns) of `linear`, in place."""
    keep = keep.to(linear.weight.device)
    with torch.no_grad():
        weight = linear.weight[keep] if rows else linear.weight[:, keep]
        linear.weight = torch.nn.Parameter(
            weight.contiguous(), requires_grad=linear.weight.requires_grad
        )
        if rows and linear.bias is not None:
            linear.bias = torch.nn.Parameter(
                linear.bias[keep].contiguous(), requires_grad=linear.bias.requires_grad
            )
    if rows:
        linear.out_features = len(keep)
    else:
        linear.in_features = len(keep)


def kept_indices(scores: torch.Tensor, fraction: float, what: str) -> torch.Tensor:
    """The indices of the best-scoring entries once `fraction` of them is removed, in order."""
    total = len(scores)
    remove, problem = width_removed(total, fraction, what)
    if problem:
        raise ValueError(problem)
    return scores.topk(total - remove).indices.sort().values
