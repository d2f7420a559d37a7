"""Which weights to keep, from a score per weight: the lowest-scoring share of a layer (or of
each row), or all but the N best of every M consecutive inputs."""

from __future__ import annotations

import torch


def lowest_share(scores: torch.Tensor, sparsity: float, *, per_row: bool) -> torch.Tensor:
    """Keep-mask that drops the `sparsity` share of lowest scores, over the whole matrix or
    within each output row (each row then loses exactly the same count)."""
    if per_row:
        drop = int(scores.shape[1] * sparsity)
        keep = torch.ones_like(scores, dtype=torch.bool)
        if drop:
            lowest = scores.topk(drop, dim=1, largest=False).indices
            keep.scatter_(1, lowest, False)
        return keep
    drop = int(scores.numel() * sparsity)
    keep = torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
    if drop:
        keep[scores.flatten().topk(drop, largest=False).indices] = False
    return keep.view_as(scores)


def n_of_m(scores: torch.Tensor, kept: int, group: int) -> torch.Tensor:
    """Keep-mask with exactly `kept` of every `group` consecutive inputs of each row."""
    rows, columns = scores.shape
    if columns % group:
        raise ValueError(f"{kept}:{group} sparsity needs an input dimension divisible by "
                         f"{group}, not {columns}")
    grouped = scores.reshape(rows, columns // group, group)
    best = grouped.topk(kept, dim=2).indices
    keep = torch.zeros_like(grouped, dtype=torch.bool).scatter_(2, best, True)
    return keep.reshape(rows, columns)


def keep_mask(
    scores: torch.Tensor, sparsity: float, pattern: str, *, per_row: bool
) -> torch.Tensor:
    """The keep-mask of `pattern` ("unstructured" or "N:M") for these scores."""
    if pattern == "unstructured":
        return lowest_share(scores, sparsity, per_row=per_row)
    kept, group = (int(part) for part in pattern.split(":"))
    return n_of_m(scores, kept, group)
