"""W8A8: int8 weights and int8 activations, computed by a real int8 kernel (`Int8Linear`).
Plain W8A8 suffers from activation outliers (a few channels far larger than the rest);
SmoothQuant first migrates that range from activations into weights with a per-channel scale
that leaves the float model unchanged, then quantizes both."""

from __future__ import annotations

import torch

from core.quantization.capture import calibration_ids, decoder_layers, forward_with_hooks
from core.quantization.int8_fusion import fuse_group, shared_input_groups
from core.quantization.int8_linear import Int8Linear, SharedInputQuantizer
from core.quantization.rescale import ChannelRescale, fold, module_names
from core.quantization.targets import target_linears
from core.recipes.quantization import SmoothQuantConfig, W8A8Config
from core.techniques.base import ApplyContext, ApplyReport
from core.techniques.registry import register


def _replace(model: torch.nn.Module, name: str, module: torch.nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


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
        _replace(model, name, layer)
        context.report(stage, (i + 1) / len(layers))
    return len(layers), len(groups)


@register(W8A8Config)
def apply_w8a8(model: torch.nn.Module, config: W8A8Config, context: ApplyContext) -> ApplyReport:
    """Quantize every target Linear to int8 weights and dynamic int8 activations."""
    count, fused = convert_to_int8(
        model, activations=config.activations, skip=config.skip, context=context,
        fuse=config.fuse,
    )
    return ApplyReport(config.recipe, W8A8Config.execution, count,
                       {"activations": config.activations, "fused_groups": fused})


def smoothing_groups(model: torch.nn.Module) -> list[tuple[torch.nn.Module, list[torch.nn.Linear]]]:
    """(norm, Linears it feeds) pairs: input_layernorm feeds q/k/v, post_attention_layernorm
    feeds gate/up. Only there can a scale be folded into the preceding operation."""
    groups = []
    for layer in decoder_layers(model):
        try:
            attention, mlp = layer.self_attn, layer.mlp
            groups.append((layer.input_layernorm,
                           [attention.q_proj, attention.k_proj, attention.v_proj]))
            groups.append((layer.post_attention_layernorm, [mlp.gate_proj, mlp.up_proj]))
        except AttributeError as error:
            raise ValueError(
                f"SmoothQuant needs Llama-style decoder layers (input_layernorm, q/k/v_proj, "
                f"post_attention_layernorm, gate/up_proj): {error}"
            ) from None
    return groups


def activation_maxima(
    model: torch.nn.Module, linears: list[torch.nn.Linear], input_ids: torch.Tensor,
    context: ApplyContext,
) -> list[torch.Tensor]:
    """Max |x| per input channel of each Linear over the calibration sequences."""
    maxima = [torch.zeros(linear.in_features, device=linear.weight.device) for linear in linears]

    def hook_for(index: int):
        def record(module, args):
            x = args[0].detach()
            peak = x.reshape(-1, x.shape[-1]).abs().amax(0).float()
            torch.maximum(maxima[index], peak, out=maxima[index])

        return record

    handles = [linear.register_forward_pre_hook(hook_for(i)) for i, linear in enumerate(linears)]
    forward_with_hooks(model, input_ids, handles,
                       progress=lambda fraction: context.report("calibration", fraction))
    return maxima


def smoothing_scales(
    act_max: torch.Tensor, linears: list[torch.nn.Linear], alpha: float
) -> torch.Tensor:
    """s_j = max|X_j|^alpha / max|W_j|^(1 - alpha), over every Linear sharing input channel j."""
    weight_max = torch.stack(
        [linear.weight.detach().abs().amax(0).float() for linear in linears]
    ).amax(0)
    scales = act_max.clamp_min(1e-5).pow(alpha) / weight_max.clamp_min(1e-5).pow(1 - alpha)
    # Channels that never fire (or dead weight columns) would give extreme scales; keep them sane.
    return scales.clamp(1e-5, 1e5)


def smooth(norm: torch.nn.Module, linears: list[torch.nn.Linear], scales: torch.Tensor) -> None:
    """Divide the norm's output channels by `scales` and multiply the Linears' input columns
    by them: (x / s) (W s)^T = x W^T, so the float model computes the same function."""
    fold(norm, linears, scales)


@register(SmoothQuantConfig)
def apply_smoothquant(
    model: torch.nn.Module, config: SmoothQuantConfig, context: ApplyContext
) -> ApplyReport:
    """Calibrate activation maxima, smooth each norm/Linear group, then convert to W8A8."""
    groups = smoothing_groups(model)
    ids = calibration_ids(context, config.samples)
    maxima = activation_maxima(model, [linears[0] for _, linears in groups], ids, context)
    names = module_names(model)
    rescales = []
    for (norm, linears), act_max in zip(groups, maxima):
        scales = smoothing_scales(act_max, linears, config.alpha)
        smooth(norm, linears, scales)
        rescales.append(ChannelRescale(names[id(norm)], tuple(names[id(m)] for m in linears),
                                       scales.detach().cpu()))
    count, fused = convert_to_int8(
        model, activations=config.activations, skip=config.skip, context=context,
        fuse=config.fuse, stage="smoothquant",
    )
    return ApplyReport(
        config.recipe, SmoothQuantConfig.execution, count,
        {"alpha": config.alpha, "activations": config.activations, "smoothed_groups": len(groups),
         "calibration_sequences": len(ids), "fused_groups": fused},
        rescales=rescales,
    )
