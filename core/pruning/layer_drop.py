"""layer-drop: structured pruning that physically shrinks the model. Whole decoder layers are
removed by an importance score, the angular distance between a layer's input and output
hidden states on calibration text (a layer that barely turns its input contributes least;
Gromov et al., 2024,
"The Unreasonable Ineffectiveness of the Deeper Layers", arXiv:2403.17887)."""

from __future__ import annotations

import torch

from core.quantization.capture import calibration_ids, decoder_layers, forward_with_hooks
from core.recipes.pruning import LayerDropConfig
from core.recipes.shape_rules import layers_dropped
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


def _hidden(value) -> torch.Tensor:
    return value[0] if isinstance(value, tuple) else value


def layer_importance(model: torch.nn.Module, input_ids: torch.Tensor) -> list[float]:
    """Mean over tokens of arccos(cos(input, output)) / pi for each decoder layer."""
    layers = decoder_layers(model)
    totals = torch.zeros(len(layers), dtype=torch.float64)
    counts = torch.zeros(len(layers), dtype=torch.float64)

    def hook_for(index: int):
        def measure(module, args, kwargs, output):
            before = _hidden(args[0] if args else kwargs["hidden_states"]).float()
            after = _hidden(output).float()
            cosine = torch.nn.functional.cosine_similarity(before, after, dim=-1)
            totals[index] += (cosine.clamp(-1, 1).acos() / torch.pi).sum().item()
            counts[index] += cosine.numel()

        return measure

    handles = [
        layer.register_forward_hook(hook_for(i), with_kwargs=True) for i, layer in enumerate(layers)
    ]
    forward_with_hooks(model, input_ids, handles)
    return (totals / counts.clamp_min(1)).tolist()


def drop_layers(model: torch.nn.Module, indices: set[int]) -> None:
    """Remove decoder layers by index and renumber the rest, so the KV cache and the saved
    config describe the smaller model."""
    layers = decoder_layers(model)
    kept = [layer for i, layer in enumerate(layers) if i not in indices]
    parent = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    parent.layers = torch.nn.ModuleList(kept)
    for new_index, layer in enumerate(kept):
        attention = getattr(layer, "self_attn", None)
        if attention is not None and hasattr(attention, "layer_idx"):
            attention.layer_idx = new_index
    config = model.config
    kept_indices = [i for i in range(len(layers)) if i not in indices]
    if getattr(config, "layer_types", None):
        config.layer_types = [config.layer_types[i] for i in kept_indices]
    config.num_hidden_layers = len(kept)


@register(LayerDropConfig)
def apply_layer_drop(
    model: torch.nn.Module, config: LayerDropConfig, context: ApplyContext
) -> ApplyReport:
    """Score every decoder layer on calibration text and remove the least important."""
    total = len(decoder_layers(model))
    count, problem = layers_dropped(total, config.fraction, config.keep_first_and_last)
    if problem:
        raise ValueError(problem)
    candidates = list(range(1, total - 1)) if config.keep_first_and_last else list(range(total))
    context.report("layer-drop", 0.0)
    scores = layer_importance(model, calibration_ids(context, config.calibration_samples))
    chosen = set(sorted(candidates, key=lambda i: scores[i])[:count])
    drop_layers(model, chosen)
    context.report("layer-drop", 1.0)
    return ApplyReport(
        config.recipe,
        config.execution,
        count,
        {
            "removed_layers": sorted(chosen),
            "layers_left": total - count,
            "importance": [round(s, 5) for s in scores],
        },
    )
