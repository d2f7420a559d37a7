"""Swapping a model's target Linears for int8 layers (`Int8Linear`), fused into one product
where several read the same input: the step W8A8 and SmoothQuant end with."""

from __future__ import annotations

import torch

from core.quantization.int8_fusion import fuse_group, shared_input_groups
from core.quantization.int8_linear import Int8Linear, SharedInputQuantizer
from core.quantization.targets import replace_module, target_linears
from core.techniques.context import ApplyContext


def convert_to_int8(
    model: torch.nn.Module, *, activations: str, skip: tuple[str, ...], context: ApplyContext,
    fuse: bool = True, stage: str = "w8a8",
) -> tuple[int, int]:
    """Replace every target Linear by an int8 layer; layers reading one input become one
    fused product when `fuse`. Returns (layers replaced, fused groups)."""
    layers = target_linears(model, skip)
    groups = shared_input_groups(model, layers) if fuse else []
    replacements: dict[str, torch.nn.Module] = {}
    for names in groups:
        replacements.update(zip(names, fuse_group([layers[n] for n in names], activations)))
    # Layers left alone still share the quantization of an input they have in common.
    shared = SharedInputQuantizer()
    for i, (name, linear) in enumerate(layers.items()):
        layer = replacements.get(name)
        if layer is None:
            layer = Int8Linear.from_linear(linear, activations)
            layer.share_input_quantizer(shared)
        replace_module(model, name, layer)
        context.report(stage, (i + 1) / len(layers))
    return len(layers), len(groups)
