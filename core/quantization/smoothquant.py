"""SmoothQuant (Xiao et al., 2023): W8A8 after migrating the activations' outlier range into
the weights with a per-channel scale that leaves the float model unchanged, so that both
quantize to int8 with little loss; then the same real int8 kernel as W8A8 (`Int8Linear`)."""

from __future__ import annotations

import torch

from core.quantization.capture import calibration_ids, decoder_layers, forward_with_hooks
from core.quantization.int8_convert import convert_to_int8
from core.quantization.rescale import ChannelRescale, fold, module_names
from core.recipes.quantization import SmoothQuantConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


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
    ids = calibration_ids(context, config.calibration_samples)
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
