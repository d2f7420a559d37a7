"""nm-sparsity: N:M semi-structured sparsity (2:4, 4:8) through one of the pruners, magnitude,
Wanda or SparseGPT. Real on GPUs with sparse tensor cores (2:4 in half precision), simulated
elsewhere (core/pruning/sparsity.py says which)."""

from __future__ import annotations

import torch

from core.pruning.magnitude_pruning import apply_magnitude
from core.pruning.sparsegpt import apply_sparsegpt
from core.pruning.wanda import apply_wanda
from core.recipes.pruning import NMSparsityConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


@register(NMSparsityConfig)
def apply_nm(
    model: torch.nn.Module, config: NMSparsityConfig, context: ApplyContext
) -> ApplyReport:
    """N:M sparsity through the chosen pruner."""
    pruner = config.pruner()
    handlers = {"magnitude": apply_magnitude, "wanda": apply_wanda, "sparsegpt": apply_sparsegpt}
    report = handlers[config.method](model, pruner, context)
    return ApplyReport(
        config.recipe, report.execution, report.modules, {**report.details, "method": config.method}
    )
