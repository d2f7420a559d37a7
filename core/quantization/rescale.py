"""Function-preserving channel rescalings (SmoothQuant, AWQ), recorded so they can be replayed.

Both recipes divide some input channels of a group of Linears by per-channel scales at their
source (a norm, or the Linear that feeds them) and multiply the Linears' weight columns by the
same scales: the float model computes the same function, but its layers now see different
inputs. Per-layer diagnostics must compare each quantized layer with the float layer *in the
same coordinates*, so a recipe records what it folded, and `replay` applies exactly that to a
copy of the float model."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ChannelRescale:
    """Input channels of `linears` multiplied by `scales`; `source`'s output channels
    (`channels` of them, all when None) divided by the same scales."""

    source: str  # module name of the norm or Linear whose outputs feed the group
    linears: tuple[str, ...]  # module names of the Linears that read those outputs
    scales: torch.Tensor  # one per input channel of the Linears
    channels: torch.Tensor | None = None  # source output channel of each input channel


def fold(source: torch.nn.Module, linears: list[torch.nn.Module], scales: torch.Tensor,
         channels: torch.Tensor | None = None) -> None:
    """Divide the source's output channels by `scales`, multiply the Linears' input columns by
    them: (x / s) (W s)^T = x W^T. `channels[j]` is the source output feeding input j (grouped
    attention repeats a value head for several query heads); each needs one scale."""
    if channels is None:
        per_source = scales
    else:
        channels = channels.to(scales.device)
        per_source = torch.ones(int(channels.max()) + 1, device=scales.device, dtype=scales.dtype)
        per_source[channels] = scales
        if not torch.equal(per_source[channels], scales):
            raise ValueError("inputs fed by one source channel need equal scales")
    with torch.no_grad():
        if isinstance(source, torch.nn.Linear):
            source.weight.div_(per_source[:, None].to(source.weight))
        else:
            source.weight.div_(per_source.to(source.weight))
        if getattr(source, "bias", None) is not None:
            source.bias.div_(per_source.to(source.bias))
        for linear in linears:
            linear.weight.mul_(scales.to(linear.weight))


def replay(model: torch.nn.Module, rescales: list[ChannelRescale]) -> None:
    """Apply recorded rescalings, in their order, to a float model of the same architecture."""
    for rescale in rescales:
        fold(model.get_submodule(rescale.source),
             [model.get_submodule(name) for name in rescale.linears],
             rescale.scales, rescale.channels)


def module_names(model: torch.nn.Module) -> dict[int, str]:
    """Module name by id, to record which modules a rescaling touched."""
    return {id(module): name for name, module in model.named_modules()}
