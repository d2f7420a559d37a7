"""head-pruning: remove whole grouped-query attention groups (a key/value head with its query
heads) in every layer. q/k/v rows and o_proj columns are sliced and the config updated, so
the model really shrinks. A group's importance is the size of what its heads write through
o_proj on calibration text (core/pruning/width.py)."""

from __future__ import annotations

import torch

from core.pruning.width import input_rms, kept_indices, slice_linear
from core.quantization.capture import calibration_ids, decoder_layers
from core.recipes.pruning import HeadPruningConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


@register(HeadPruningConfig)
def apply_head_pruning(model: torch.nn.Module, config: HeadPruningConfig,
                       context: ApplyContext) -> ApplyReport:
    """Remove the same number of key/value groups (with their query heads) in every layer."""
    layers = decoder_layers(model)
    attention = [layer.self_attn for layer in layers]
    model_config = model.config
    heads, kv_heads = model_config.num_attention_heads, model_config.num_key_value_heads
    head_dim = getattr(model_config, "head_dim", None) or model_config.hidden_size // heads
    per_group = heads // kv_heads
    context.report("head-pruning", 0.0)
    rms = input_rms(model, [a.o_proj for a in attention],
                    calibration_ids(context, config.calibration_samples))
    kept_groups = None
    for module, activation in zip(attention, rms):
        columns = activation.to(module.o_proj.weight.device) \
            * module.o_proj.weight.detach().float().norm(dim=0)
        head_scores = columns.reshape(heads, head_dim).square().sum(1).sqrt()
        group_scores = head_scores.reshape(kv_heads, per_group).sum(1)
        kept_groups = kept_indices(group_scores, config.fraction, "key/value groups")
        q_heads = (kept_groups[:, None] * per_group + torch.arange(per_group)).flatten()
        q_rows = (q_heads[:, None] * head_dim + torch.arange(head_dim)).flatten()
        kv_rows = (kept_groups[:, None] * head_dim + torch.arange(head_dim)).flatten()
        slice_linear(module.q_proj, q_rows, rows=True)
        slice_linear(module.k_proj, kv_rows, rows=True)
        slice_linear(module.v_proj, kv_rows, rows=True)
        slice_linear(module.o_proj, q_rows, rows=False)
    left = len(kept_groups)
    # head_dim is now stated outright: hidden_size / heads no longer gives it.
    model_config.head_dim = head_dim
    model_config.num_attention_heads = left * per_group
    model_config.num_key_value_heads = left
    context.report("head-pruning", 1.0)
    return ApplyReport(config.recipe, config.execution, 4 * len(layers), {
        "heads_before": heads, "heads_after": left * per_group,
        "kv_heads_before": kv_heads, "kv_heads_after": left})
