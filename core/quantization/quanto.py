"""optimum-quanto weight quantization: weights really packed (int8, int4, int2, float8) and
run through quanto's kernels, so stored size and speed change for real."""

from __future__ import annotations

import torch

from core.quantization.targets import target_linears
from core.recipes.quantization import QuantoConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


@register(QuantoConfig)
def apply_quanto(
    model: torch.nn.Module, config: QuantoConfig, context: ApplyContext
) -> ApplyReport:
    """Quantize and freeze the target layers, replacing float weights by packed ones."""
    from optimum import quanto

    formats = {
        "int8": quanto.qint8,
        "int4": quanto.qint4,
        "int2": quanto.qint2,
        "float8": quanto.qfloat8,
    }
    layers = target_linears(model, config.skip)
    skipped = [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name not in layers
    ]
    context.report("quanto", 0.0)
    quanto.quantize(model, weights=formats[config.weights], exclude=skipped or None)
    quanto.freeze(model)
    context.report("quanto", 1.0)
    return ApplyReport(config.recipe, QuantoConfig.execution, len(layers))
