"""AWQ (Lin et al., 2023): activation-aware weight quantization. Input channels that carry
large activations matter most, so before rounding each group of Linears sharing an input
has its weight columns scaled up by s = mean|x|^alpha and the preceding norm (or Linear)
scaled down by 1/s, which leaves the float function unchanged; alpha is searched per group
to minimise the group's output error on calibration activations. Simulated (weights rounded
but stored in float), or real when packed (core/quantization/packing.py)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.quantization.capture import (
    InputStats,
    calibration_ids,
    capture_layer_inputs,
    decoder_layers,
    linears_in,
    record_input_stats,
)
from core.quantization.grid import quantize_dequantize
from core.quantization.packing import check_packable
from core.quantization.rescale import ChannelRescale, fold, module_names
from core.quantization.rtn import check_targets, finish_weight_step, round_to_nearest
from core.recipes.quantization import AWQConfig, WeightQuantConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


@dataclass(frozen=True)
class ScaleGroup:
    """Linears that share an input, and the module producing that input, which absorbs 1/s."""

    source: str  # a norm (scaled by its weight) or a Linear (scaled by its output rows)
    linears: tuple[str, ...]


# Llama-style decoder layers (Llama, Mistral, Qwen2, SmolLM and kin), names within a layer.
LLAMA_GROUPS = (
    ScaleGroup("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
    ScaleGroup("self_attn.v_proj", ("self_attn.o_proj",)),
    ScaleGroup("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj")),
    ScaleGroup("mlp.up_proj", ("mlp.down_proj",)),
)


def source_channels(layer: torch.nn.Module, group: ScaleGroup) -> torch.Tensor:
    """For each input channel of the group, the output channel of the source feeding it.
    The identity, except v -> o with grouped-query attention, where each value head feeds
    several query heads' slots, which must then share its scales."""
    width = layer.get_submodule(group.linears[0]).in_features
    source = layer.get_submodule(group.source)
    produced = source.out_features if isinstance(source, torch.nn.Linear) else width
    if produced == width:
        return torch.arange(width)
    head_dim = getattr(layer.get_submodule(group.source.rsplit(".", 1)[0]), "head_dim", None)
    if not head_dim or width % produced or produced % head_dim:
        raise ValueError(f"cannot map the {width} inputs of {group.linears[0]} to the "
                         f"{produced} outputs of {group.source}")
    repeats = width // produced
    heads = torch.arange(width) // head_dim
    return (heads // repeats) * head_dim + torch.arange(width) % head_dim


def channel_scales(mean_abs: torch.Tensor, channels: torch.Tensor, alpha: float) -> torch.Tensor:
    """s = mean|x|^alpha, tied across channels fed by one source channel, normalised so
    that the largest and smallest multiply to one (keeps the weights' range centred)."""
    tied = torch.zeros(int(channels.max()) + 1, device=mean_abs.device)
    tied.index_add_(0, channels.to(mean_abs.device), mean_abs)
    counts = torch.bincount(channels, minlength=tied.numel()).to(tied)
    per_source = (tied / counts).clamp_min(1e-5).pow(alpha)
    per_source = per_source / (per_source.max() * per_source.min()).sqrt()
    return per_source[channels.to(mean_abs.device)]


def scaled_error(weight: torch.Tensor, scales: torch.Tensor, gram: torch.Tensor,
                 config: WeightQuantConfig) -> float:
    """Squared output error, summed over calibration tokens, of rounding `weight` after
    scaling its columns by `scales` (and dividing the input by them)."""
    w = weight.detach().float()
    rounded = quantize_dequantize(w * scales, bits=config.bits, group_size=config.group_size,
                                  symmetric=config.symmetric) / scales
    delta = rounded - w
    # ||X delta^T||^2 = sum(delta G * delta) with G = X^T X: independent of the token count.
    return float(((delta @ gram) * delta).sum())


def search_scales(layer: torch.nn.Module, group: ScaleGroup, stats: InputStats,
                  config: AWQConfig) -> tuple[torch.Tensor, float]:
    """The per-channel scales (and their alpha) with the lowest output error for `group`."""
    channels = source_channels(layer, group)
    weights = [layer.get_submodule(name).weight for name in group.linears]
    best = (float("inf"), 0.0, None)
    for alpha in torch.linspace(0, 1, config.grid_points).tolist():
        scales = channel_scales(stats.mean_abs, channels, alpha)
        error = sum(scaled_error(w, scales, stats.gram, config) for w in weights)
        if error < best[0]:
            best = (error, alpha, scales)
    return best[2], best[1]


def fold_scales(layer: torch.nn.Module, group: ScaleGroup, scales: torch.Tensor) -> None:
    """Multiply the group's weight columns by `scales` and divide the source's outputs by
    them: the float function stays the same."""
    fold(layer.get_submodule(group.source),
         [layer.get_submodule(name) for name in group.linears],
         scales, source_channels(layer, group))


def _has(layer: torch.nn.Module, name: str) -> bool:
    try:
        layer.get_submodule(name)
    except AttributeError:
        return False
    return True


def layer_groups(layer: torch.nn.Module, targets: dict[str, torch.nn.Linear]) -> list[ScaleGroup]:
    """The scale groups present in `layer` whose Linears are all being quantized."""
    target_ids = {id(linear) for linear in targets.values()}
    present = [g for g in LLAMA_GROUPS if all(_has(layer, n) for n in (g.source, *g.linears))]
    if not present:
        raise ValueError(f"awq knows Llama-style decoder layers; {type(layer).__name__} has "
                         "none of their input_layernorm/q,k,v,o_proj/gate,up,down_proj")
    return [g for g in present
            if all(id(layer.get_submodule(n)) in target_ids for n in g.linears)]


@register(AWQConfig)
def apply_awq(model: torch.nn.Module, config: AWQConfig, context: ApplyContext) -> ApplyReport:
    """Scale and round the decoder layers in order, each on the outputs of the rounded ones."""
    targets = check_targets(model, config)
    check_packable(targets, config)
    layers = decoder_layers(model)
    alphas: list[dict[str, float]] = []
    names = module_names(model)
    rescales: list[ChannelRescale] = []
    inputs = capture_layer_inputs(model, calibration_ids(context, config.calibration_samples))
    for index, layer in enumerate(layers):
        groups = layer_groups(layer, targets)
        first_linears = {g.linears[0]: layer.get_submodule(g.linears[0]) for g in groups}
        with record_input_stats(first_linears) as stats:
            inputs.run(layer)
        chosen = {}
        for group in groups:
            scales, alpha = search_scales(layer, group, stats[group.linears[0]], config)
            fold_scales(layer, group, scales)
            prefix = names[id(layer)]
            rescales.append(ChannelRescale(
                f"{prefix}.{group.source}", tuple(f"{prefix}.{n}" for n in group.linears),
                scales.detach().cpu(), source_channels(layer, group)))
            chosen[group.linears[0]] = round(alpha, 3)
        alphas.append(chosen)
        round_to_nearest(linears_in(layer, targets), config)
        inputs = inputs.advance(inputs.run(layer))
        context.report("awq", (index + 1) / len(layers))
    # Targets outside the decoder layers (an untied head, when not skipped): nearest rounding.
    inside = {id(m) for layer in layers for m in layer.modules()}
    rest = {name: linear for name, linear in targets.items() if id(linear) not in inside}
    round_to_nearest(rest, config)
    report = finish_weight_step(model, targets, config, context,
                                {"alpha_per_layer": alphas, "rounded_to_nearest": sorted(rest)})
    report.rescales = rescales
    return report


