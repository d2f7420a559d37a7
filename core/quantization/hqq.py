"""HQQ, Half-Quadratic Quantization (Badri and Shaji, 2023, https://mobiusml.github.io/hqq_blog/):
round each group of weights to an affine grid whose zero point is fitted, without calibration
data, by minimizing an l_p error (p < 1) between the weight and its rounding. With p below 1
the fit lets a few outlier weights keep large errors so that the many others get small ones,
which min-max grids (RTN) cannot. The solver is optimum-quanto's HqqOptimizer.

Simulated by default (weights rounded, kept in float, counted packed with float16 scales and
zero points on the size axis); `pack: quanto` packs them into optimum-quanto's int2/int4
weights instead, so that size and speed are measured.
"""

from __future__ import annotations

import torch

from core.quantization.grid import check_group_size
from core.quantization.packed_size import remember_format_bytes
from core.quantization.targets import target_linears
from core.recipes.quantization import HQQConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register

# HQQ keeps a float16 scale and a float16 zero point per group.
GROUP_META_BYTES = 4


def _solver(config: HQQConfig):
    from optimum.quanto.tensor.optimizers import HqqOptimizer

    return HqqOptimizer(lp_norm=config.lp_norm, iters=config.iterations)


def _qtype(bits: int):
    from optimum import quanto

    return {2: quanto.qint2, 4: quanto.qint4}[bits]


def hqq_round(weight: torch.Tensor, config: HQQConfig) -> torch.Tensor:
    """`weight` [rows, columns] rounded to its HQQ grid and back, in its own dtype."""
    from optimum.quanto.tensor.weights import quantize_weight

    base = weight.detach().float()
    qtype = _qtype(config.bits)
    # axis 0: one scale and zero point per (row, group of `group_size` input columns).
    scale, shift = _solver(config)(base, qtype=qtype, axis=0, group_size=config.group_size)
    rounded = quantize_weight(base, qtype=qtype, axis=0, scale=scale, shift=shift,
                              group_size=config.group_size, optimized=False)
    return rounded.dequantize().reshape(weight.shape).to(weight.dtype)


def packed_bytes(rows: int, columns: int, config: HQQConfig) -> int:
    """The weight's bytes packed: `bits` per weight plus a float16 scale and zero per group."""
    groups = rows * (columns // config.group_size)
    return rows * columns * config.bits // 8 + groups * GROUP_META_BYTES


def _pack_with_quanto(model: torch.nn.Module, layers: dict[str, torch.nn.Linear],
                      config: HQQConfig) -> None:
    from optimum import quanto

    skipped = [name for name, module in model.named_modules()
               if isinstance(module, torch.nn.Linear) and name not in layers]
    quanto.quantize(model, weights=_qtype(config.bits), optimizer=_solver(config),
                    exclude=skipped or None)
    # quanto picks its own group size (128, stepping down by 32): use the one configured, so
    # that the packed and the simulated runs round to the same grid.
    for name in layers:
        model.get_submodule(name).weight_group_size = config.group_size
    quanto.freeze(model)


@register(HQQConfig)
def apply_hqq(model: torch.nn.Module, config: HQQConfig, context: ApplyContext) -> ApplyReport:
    """Fit and apply each target layer's HQQ grid: in float (simulated) or packed (real)."""
    layers = target_linears(model, config.skip)
    for name, layer in layers.items():
        check_group_size(layer.in_features, config.group_size, name=name)
    details = {"bits": config.bits, "group_size": config.group_size}
    if config.pack == "quanto":
        context.report("hqq", 0.0)
        _pack_with_quanto(model, layers, config)
        context.report("hqq", 1.0)
        return ApplyReport(config.recipe, "real", len(layers), details)
    with torch.no_grad():
        for index, layer in enumerate(layers.values()):
            layer.weight.copy_(hqq_round(layer.weight, config))
            remember_format_bytes(layer, packed_bytes(layer.out_features, layer.in_features,
                                                      config))
            context.report("hqq", (index + 1) / max(len(layers), 1))
    return ApplyReport(config.recipe, config.execution, len(layers), details)
