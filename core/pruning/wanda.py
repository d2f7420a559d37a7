"""Wanda (Sun et al., 2024, "A Simple and Effective Pruning Approach for Large Language
Models", arXiv:2306.11695): score each weight by |w_ij| times the norm of its input feature
on calibration text, and drop the lowest scores of each output row. No weight update."""

from __future__ import annotations

import torch

from core.pruning.masks import keep_mask
from core.pruning.sparsity import prune_layer_by_layer, sparsity_report
from core.quantization.capture import InputStats
from core.recipes.pruning import WandaConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


def wanda_scores(weight: torch.Tensor, stats: InputStats) -> torch.Tensor:
    """|w_ij| times the norm of input feature j over the calibration tokens."""
    norms = torch.diag(stats.gram).clamp_min(0).sqrt()
    return weight.abs().float() * norms[None, :]


@register(WandaConfig)
def apply_wanda(model: torch.nn.Module, config: WandaConfig, context: ApplyContext) -> ApplyReport:
    """Score |w_ij| * ||x_j||, drop the lowest per output row (N:M: per group), no update."""

    def prune(name, linear, stats: InputStats) -> None:
        scores = wanda_scores(linear.weight, stats)
        linear.weight.mul_(keep_mask(scores, config.sparsity_for(name), config.pattern,
                                     per_row=True))

    linears, count = prune_layer_by_layer(model, config, context, prune)
    return sparsity_report(config, linears, calibrated_layers=count)
