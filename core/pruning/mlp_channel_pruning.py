"""mlp-channel-pruning: remove the same share of intermediate channels from every MLP. The
gate/up rows and down columns are sliced and the config updated, so the model really shrinks
and still saves, loads and generates. A channel's importance is its input's RMS on
calibration text times the norm of its down_proj column (core/pruning/width.py)."""

from __future__ import annotations

import torch

from core.pruning.width import input_rms, kept_indices, slice_linear
from core.quantization.capture import calibration_ids, decoder_layers
from core.recipes.pruning import MLPChannelPruningConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


@register(MLPChannelPruningConfig)
def apply_mlp_channels(model: torch.nn.Module, config: MLPChannelPruningConfig,
                       context: ApplyContext) -> ApplyReport:
    """Remove the same share of intermediate channels from every MLP."""
    layers = decoder_layers(model)
    try:
        downs = [layer.mlp.down_proj for layer in layers]
        ups = [(layer.mlp.gate_proj, layer.mlp.up_proj) for layer in layers]
    except AttributeError as error:
        raise ValueError(f"mlp-channel-pruning needs gate/up/down MLPs: {error}") from None
    context.report("mlp-channel-pruning", 0.0)
    rms = input_rms(model, downs, calibration_ids(context, config.calibration_samples))
    before = downs[0].in_features
    for down, (gate, up), activation in zip(downs, ups, rms):
        scores = activation.to(down.weight.device) * down.weight.detach().float().norm(dim=0)
        keep = kept_indices(scores, config.fraction, "MLP channels")
        slice_linear(gate, keep, rows=True)
        slice_linear(up, keep, rows=True)
        slice_linear(down, keep, rows=False)
    model.config.intermediate_size = downs[0].in_features
    context.report("mlp-channel-pruning", 1.0)
    return ApplyReport(config.recipe, config.execution, 3 * len(layers), {
        "intermediate_before": before, "intermediate_after": downs[0].in_features})
