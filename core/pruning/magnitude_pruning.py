"""magnitude-pruning: zero the weights of smallest magnitude in each target layer, or all but
the N largest of every M inputs. No data needed, no update of the weights that remain."""

from __future__ import annotations

import torch

from core.pruning.masks import keep_mask
from core.pruning.sparsity import check_pattern, sparsity_report
from core.quantization.targets import target_linears
from core.recipes.pruning import MagnitudePruningConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


@register(MagnitudePruningConfig)
def apply_magnitude(model: torch.nn.Module, config: MagnitudePruningConfig,
                    context: ApplyContext) -> ApplyReport:
    """Zero the smallest |w| of each target layer (N:M: of each group of M inputs)."""
    linears = target_linears(model, config.skip)
    check_pattern(linears, config)
    with torch.no_grad():
        for i, (name, linear) in enumerate(linears.items()):
            weight = linear.weight
            weight.mul_(keep_mask(weight.abs().float(), config.sparsity_for(name),
                                  config.pattern, per_row=False))
            context.report("magnitude", (i + 1) / len(linears))
    return sparsity_report(config, linears)
