"""AutoRound (Cheng et al., 2023, "Optimize Weight Rounding via Signed Gradient Descent for
the Quantization of LLMs", arXiv:2309.05516), through Intel's auto-round package.

Round-to-nearest rounds every weight on its own. AutoRound instead learns, for each decoder
block, a small offset per weight (within half a step, deciding whether it rounds up or down)
and the clipping range of each group, by signed gradient descent on how far the block's
quantized output is from its float output on calibration text. The tuned weights land on an
ordinary per-group grid (scale and integer zero point), so they pack and export like RTN's.
Simulated by default; `pack` moves them onto a CPU or CUDA int4/int8 kernel (real).
"""

from __future__ import annotations

import logging

import torch

from core.quantization.grid import check_group_size
from core.quantization.packing import LayerGrid, check_packable, remember_grid
from core.quantization.rtn import finish_weight_step
from core.quantization.targets import target_linears
from core.recipes.quantization import AutoRoundConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


class _Batches:
    """The calibration token rows as auto-round reads a dataset: one dict per sequence."""

    def __init__(self, input_ids: torch.Tensor) -> None:
        self.input_ids = input_ids

    def __iter__(self):
        for row in self.input_ids:
            yield {"input_ids": row[None]}

    def __len__(self) -> int:
        return len(self.input_ids)


def _device_map(device: torch.device) -> str:
    return "cpu" if device.type == "cpu" else f"{device.type}:{device.index or 0}"


def autoround_blocks(model: torch.nn.Module, tokenizer: object, input_ids: torch.Tensor,
                     config: AutoRoundConfig, device: torch.device,
                     skipped: list[str]) -> None:
    """Tune and apply AutoRound's rounding to every decoder block of `model`, in place: each
    quantized Linear's weight then lies on its grid, with `scale` and `zp` beside it."""
    from auto_round import AutoRound

    # auto-round logs every block at INFO; a job's log keeps its warnings only.
    logging.getLogger("autoround").setLevel(logging.WARNING)
    rounder = AutoRound(
        model, tokenizer, bits=config.bits, group_size=config.group_size or -1,
        sym=config.symmetric, dataset=_Batches(input_ids), iters=config.iterations,
        seqlen=input_ids.shape[1], nsamples=len(input_ids),
        batch_size=min(config.batch_size, len(input_ids)), device_map=_device_map(device),
        enable_torch_compile=False,
        # Layers the skip list keeps in float: 16 bits is auto-round's "leave it alone".
        layer_config={name: {"bits": 16} for name in skipped},
    )
    rounder.quantize()


def _grid_from_layer(linear: torch.nn.Linear, config: AutoRoundConfig) -> LayerGrid:
    # auto-round's scale and zero point, [rows, groups], as the grid [rows, groups, 1] that
    # packing and exports read; its rounding is ours: q = round(w / scale) + zero.
    rows = linear.out_features
    scale = linear.scale.detach().reshape(rows, -1, 1).float()
    if config.symmetric:
        zero = torch.zeros_like(scale)
    else:
        zero = torch.as_tensor(linear.zp).detach().reshape(rows, -1, 1).float()
    return LayerGrid(scale.to(linear.weight.device), zero.to(linear.weight.device),
                     config.bits, config.group_size, config.symmetric)


@register(AutoRoundConfig)
def apply_autoround(model: torch.nn.Module, config: AutoRoundConfig,
                    context: ApplyContext) -> ApplyReport:
    """Tune every target layer's rounding block by block; keep it in float (simulated) or
    pack it (real)."""
    if context.calibration is None:
        raise ValueError("AutoRound tunes its rounding on calibration text; none was given")
    layers = target_linears(model, config.skip)
    for name, layer in layers.items():
        check_group_size(layer.in_features, config.group_size, name=name)
    check_packable(layers, config)
    skipped = [name for name, module in model.named_modules()
               if isinstance(module, torch.nn.Linear) and name not in layers]
    ids = context.calibration.input_ids[: config.calibration_samples]
    context.report("autoround", 0.0)
    if context.tokenizer is None:
        raise ValueError("auto-round needs the model's tokenizer, and the caller gave none")
    autoround_blocks(model, context.tokenizer, ids, config, context.device, skipped)
    untouched = [name for name, layer in layers.items() if getattr(layer, "scale", None) is None]
    if untouched:
        raise RuntimeError(f"auto-round left {len(untouched)} target layers unquantized "
                           f"(first: {untouched[0]})")
    for layer in layers.values():
        remember_grid(layer, _grid_from_layer(layer, config))
    context.report("autoround", 1.0)
    return finish_weight_step(model, layers, config, context,
                              {"iterations": config.iterations, "samples": len(ids)})
