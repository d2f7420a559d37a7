"""SparseGPT (Frantar & Alistarh, 2023): prune a layer column block by column block; inside a
block choose the mask by each weight's saliency w^2 / [H^-1]_jj^2, and after zeroing a
column spread its error onto the not-yet-visited columns through the inverse Hessian, as
GPTQ does for rounding error."""

from __future__ import annotations

import torch

from core.pruning.masks import keep_mask
from core.pruning.sparsity import prune_layer_by_layer, sparsity_report
from core.quantization.capture import InputStats
from core.recipes.pruning import SparseGPTConfig, kept_per_group
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


def sparsegpt_prune(weight: torch.Tensor, hessian: torch.Tensor, *, sparsity: float,
                    pattern: str, damping: float, block_size: int) -> torch.Tensor:
    """The pruned weight [out, in] (zeros where pruned, the rest updated)."""
    w = weight.detach().float().clone()
    h = hessian.float().clone()
    columns = w.shape[1]
    dead = torch.diag(h) == 0  # inputs never active: nothing to preserve there
    h[dead, dead] = 1
    w[:, dead] = 0
    h += torch.eye(columns, device=h.device) * damping * torch.diag(h).mean()
    # The upper Cholesky factor of H^-1 gives, row by row, the update coefficients of the
    # columns after each one (the same device GPTQ uses).
    inverse = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    group = None if pattern == "unstructured" else int(pattern.split(":")[1])
    for start in range(0, columns, block_size):
        end = min(start + block_size, columns)
        block = w[:, start:end].clone()
        inv = inverse[start:end, start:end]
        diag = torch.diag(inv)
        errors = torch.zeros_like(block)
        keep = None
        if group is None:
            keep = keep_mask(block.square() / diag.square(), sparsity, "unstructured",
                             per_row=False)
        for i in range(end - start):
            if group is not None and i % group == 0:
                # N:M: choose this group's survivors with the block updated so far.
                part = block[:, i:i + group].square() / diag[i:i + group].square()
                chosen = keep_mask(part, sparsity, pattern, per_row=True)
                keep = chosen if i == 0 else torch.cat([keep, chosen], dim=1)
            column = block[:, i]
            pruned = torch.where(keep[:, i], column, torch.zeros_like(column))
            error = (column - pruned) / diag[i]
            block[:, i:] -= error[:, None] * inv[i, i:][None, :]
            block[:, i] = pruned
            errors[:, i] = error
        w[:, start:end] = block
        w[:, end:] -= errors @ inverse[start:end, end:]
    return w.to(weight.dtype)


@register(SparseGPTConfig)
def apply_sparsegpt(model: torch.nn.Module, config: SparseGPTConfig,
                    context: ApplyContext) -> ApplyReport:
    """Second-order pruning with weight updates, layer by layer."""
    if config.pattern != "unstructured":
        _, group = kept_per_group(config.pattern)
        if config.block_size % group:
            raise ValueError(f"block_size {config.block_size} must be a multiple of {group} "
                             f"for {config.pattern}")

    def prune(name, linear, stats: InputStats) -> None:
        linear.weight.copy_(
            sparsegpt_prune(
                linear.weight,
                stats.hessian,
                sparsity=config.sparsity_for(name),
                pattern=config.pattern,
                damping=config.damping,
                block_size=config.block_size,
            )
        )

    linears, count = prune_layer_by_layer(model, config, context, prune)
    return sparsity_report(config, linears, calibrated_layers=count)
