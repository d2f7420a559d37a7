"""Structured pruning that narrows every decoder layer: MLP intermediate channels, and whole
grouped-query attention groups. The matrices are sliced, the config updated, so the model
really shrinks and still saves, loads and generates.

Importance is measured on calibration text: a channel (or head) matters by how large the
output it contributes is, the norm of its input activation times the norm of the weight
column that carries it into the residual stream (down_proj for MLP channels, o_proj for
heads)."""

from __future__ import annotations

import torch

from core.quantization.capture import calibration_ids, decoder_layers, forward_with_hooks
from core.recipes.pruning import HeadPruningConfig, MLPChannelPruningConfig
from core.recipes.shape_rules import width_removed
from core.techniques.base import ApplyContext, ApplyReport
from core.techniques.registry import register


def input_rms(model: torch.nn.Module, linears: list[torch.nn.Linear],
              input_ids: torch.Tensor) -> list[torch.Tensor]:
    """Root-mean-square of each input channel of each Linear over the calibration tokens."""
    sums = [torch.zeros(linear.in_features, dtype=torch.float64) for linear in linears]
    counts = [0] * len(linears)

    def hook_for(index: int):
        def record(module, args):
            flat = args[0].detach().reshape(-1, args[0].shape[-1]).float()
            sums[index] += flat.square().sum(0).double().cpu()
            counts[index] += flat.shape[0]

        return record

    handles = [linear.register_forward_pre_hook(hook_for(i)) for i, linear in enumerate(linears)]
    forward_with_hooks(model, input_ids, handles)
    return [(total / max(count, 1)).sqrt().float() for total, count in zip(sums, counts)]


def _slice(linear: torch.nn.Linear, keep: torch.Tensor, *, rows: bool) -> None:
    """Keep only some output rows (or input columns) of `linear`, in place."""
    keep = keep.to(linear.weight.device)
    with torch.no_grad():
        weight = linear.weight[keep] if rows else linear.weight[:, keep]
        linear.weight = torch.nn.Parameter(weight.contiguous(), requires_grad=linear.weight.requires_grad)
        if rows and linear.bias is not None:
            linear.bias = torch.nn.Parameter(linear.bias[keep].contiguous(),
                                             requires_grad=linear.bias.requires_grad)
    if rows:
        linear.out_features = len(keep)
    else:
        linear.in_features = len(keep)


def _kept(scores: torch.Tensor, fraction: float, what: str) -> torch.Tensor:
    total = len(scores)
    remove, problem = width_removed(total, fraction, what)
    if problem:
        raise ValueError(problem)
    return scores.topk(total - remove).indices.sort().values


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
        keep = _kept(scores, config.fraction, "MLP channels")
        _slice(gate, keep, rows=True)
        _slice(up, keep, rows=True)
        _slice(down, keep, rows=False)
    model.config.intermediate_size = downs[0].in_features
    context.report("mlp-channel-pruning", 1.0)
    return ApplyReport(config.recipe, config.execution, 3 * len(layers), {
        "intermediate_before": before, "intermediate_after": downs[0].in_features})


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
        kept_groups = _kept(group_scores, config.fraction, "key/value groups")
        q_heads = (kept_groups[:, None] * per_group + torch.arange(per_group)).flatten()
        q_rows = (q_heads[:, None] * head_dim + torch.arange(head_dim)).flatten()
        kv_rows = (kept_groups[:, None] * head_dim + torch.arange(head_dim)).flatten()
        _slice(module.q_proj, q_rows, rows=True)
        _slice(module.k_proj, kv_rows, rows=True)
        _slice(module.v_proj, kv_rows, rows=True)
        _slice(module.o_proj, q_rows, rows=False)
    left = len(kept_groups)
    # head_dim is now stated outright: hidden_size / heads no longer gives it.
    model_config.head_dim = head_dim
    model_config.num_attention_heads = left * per_group
    model_config.num_key_value_heads = left
    context.report("head-pruning", 1.0)
    return ApplyReport(config.recipe, config.execution, 4 * len(layers), {
        "heads_before": heads, "heads_after": left * per_group,
        "kv_heads_before": kv_heads, "kv_heads_after": left})
