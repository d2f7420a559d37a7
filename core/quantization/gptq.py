"""GPTQ (Frantar et al., 2022): round a Linear's weights one input column at a time and push
each column's rounding error onto the columns not yet rounded, weighted by the inverse
Hessian of the layer's output error (H = 2 X X^T over calibration activations), so the
layer's outputs move far less than with round-to-nearest. Simulated (weights rounded but
stored in float), or real when packed (core/quantization/packing.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from core.quantization.capture import (
    InputStats,
    calibration_ids,
    capture_layer_inputs,
    decoder_layers,
    linears_in,
)
from core.quantization.grid import grid_parameters
from core.quantization.packing import LayerGrid, check_packable, remember_grid
from core.quantization.rtn import check_targets, finish_weight_step, round_to_nearest
from core.recipes.quantization import GPTQConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


def _segments(columns: int, block_size: int, group_size: int | None) -> list[tuple[int, int]]:
    """Blocks of columns that also break at every group start, so a group's grid is fitted
    after every earlier column's error has reached it."""
    cuts = set(range(0, columns, block_size)) | set(range(0, columns, group_size or columns))
    edges = sorted(cuts) + [columns]
    return list(zip(edges[:-1], edges[1:]))


def _inverse_cholesky(hessian: torch.Tensor, damping: float) -> torch.Tensor:
    """Upper Cholesky factor of the damped Hessian's inverse: row j holds how column j's
    rounding error should be spread over the later columns."""
    damped = hessian.clone()
    damped.diagonal().add_(damping * damped.diagonal().mean())
    inverse = torch.cholesky_inverse(torch.linalg.cholesky(damped))
    return torch.linalg.cholesky(inverse, upper=True)


@contextmanager
def _one_thread() -> Iterator[None]:
    """GPTQ's column loop runs thousands of tiny ops; on CPU, waking a thread pool for each
    costs far more than it saves (ten times slower on two busy cores), so use one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def gptq_quantize(weight: torch.Tensor, hessian: torch.Tensor, **settings) -> torch.Tensor:
    """`weight` rounded to the grid with GPTQ's error feedback, returned in float."""
    return gptq_round(weight, hessian, **settings)[0]


def gptq_round(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    *,
    bits: int,
    group_size: int | None,
    symmetric: bool,
    damping: float = 0.01,
    block_size: int = 128,
    act_order: bool = False,
    static_groups: bool = False,
) -> tuple[torch.Tensor, LayerGrid]:
    """`weight` rounded with GPTQ's error feedback (in float), and the grid it is on.

    With act_order and groups, each group's grid is fitted when the loop reaches it, so the
    groups follow the rounding order; `static_groups` instead fits every group's grid up
    front on the weights in their natural order (GPTQ's "static groups"), so the groups stay
    contiguous, as GGUF blocks and compressed-tensors need, at some cost in accuracy."""
    w = weight.detach().float().clone()
    h = hessian.detach().float().clone()
    rows, columns = w.shape
    # Channels that never fire carry no information: round them to zero, keep H invertible.
    dead = h.diagonal() == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    order = torch.argsort(h.diagonal(), descending=True) if act_order else None
    static = bool(order is not None and group_size and static_groups)
    if static:
        fixed_scale, fixed_zero = grid_parameters(w, bits=bits, group_size=group_size,
                                                  symmetric=symmetric)
        # Per group, its [rows] scale and zero; per rounded position, its natural group.
        group_scales = list(fixed_scale.squeeze(-1).T)
        group_zeros = list(fixed_zero.squeeze(-1).T)
        column_group = (order // group_size).tolist()
    if order is not None:
        w, h = w[:, order], h[order][:, order]
    spread = _inverse_cholesky(h, damping)
    # Work on columns as rows, so each column the loop touches is contiguous in memory.
    pending = w.T.contiguous()
    rounded = torch.empty_like(pending)
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)
    scales, zeros = [], []
    for start, end in _segments(columns, block_size, None if static else group_size):
        if not static and (start == 0 or (group_size and start % group_size == 0)):
            # The group's grid comes from its columns as they are now, earlier errors included.
            group = pending[start:start + (group_size or columns)].T
            scale, zero = grid_parameters(group, bits=bits, group_size=None, symmetric=symmetric)
            scale, zero = scale.reshape(-1), zero.reshape(-1)
            scales.append(scale)
            zeros.append(zero)
        block = pending[start:end]
        errors = torch.empty_like(block)
        block_spread = spread[start:end, start:end]
        diagonal = block_spread.diagonal().tolist()
        for j in range(end - start):
            if static:
                group = column_group[start + j]
                scale, zero = group_scales[group], group_zeros[group]
            # The same rounding as grid.quantize_dequantize, inlined: this runs per column.
            q = (torch.clamp(torch.round(block[j] / scale) + zero, low, high) - zero) * scale
            rounded[start + j] = q
            error = torch.sub(block[j], q, out=errors[j]).div_(diagonal[j])
            block[j + 1:].addr_(block_spread[j, j + 1:], error, alpha=-1)
        pending[end:].addmm_(spread[start:end, end:].T, errors, alpha=-1)
    rounded = rounded.T
    if order is not None:
        rounded = rounded[:, torch.argsort(order)]
    # Without groups one grid spans the row, so the order the columns were rounded in does
    # not matter to a packed format; with groups, each group holds the columns in `order`.
    if static:
        return rounded.to(weight.dtype), LayerGrid(fixed_scale, fixed_zero, bits=bits,
                                                   group_size=group_size, symmetric=symmetric)
    grid = LayerGrid(torch.stack(scales, 1).unsqueeze(-1), torch.stack(zeros, 1).unsqueeze(-1),
                     bits=bits, group_size=group_size, symmetric=symmetric,
                     input_order=order if group_size else None)
    return rounded.to(weight.dtype), grid


def _quantize_on_entry(linears: dict[str, torch.nn.Linear], config: GPTQConfig) -> dict:
    """Pre-hooks that, on a Linear's first call, fit its Hessian to the input it is given and
    replace its weights by GPTQ's before it computes. Run on the whole calibration batch,
    later Linears of the layer then see the already-quantized earlier ones ("true sequential").
    Returns the hooks not yet fired, by Linear name."""
    last: dict = {"input": None, "stats": None}

    def hook_for(name: str):
        def quantize(module, args):
            x = args[0]
            if x is not last["input"]:  # q, k and v share one input, hence one Hessian
                stats = InputStats.empty(module.in_features, x.device)
                stats.add(x)
                last["input"], last["stats"] = x, stats
            with torch.no_grad(), _one_thread():
                rounded, grid = gptq_round(
                    module.weight, last["stats"].hessian, bits=config.bits,
                    group_size=config.group_size, symmetric=config.symmetric,
                    damping=config.damping, block_size=config.block_size,
                    act_order=config.act_order, static_groups=config.static_groups,
                )
                module.weight.copy_(rounded)
                remember_grid(module, grid)
            waiting.pop(name).remove()  # once per Linear

        return quantize

    waiting = {name: linear.register_forward_pre_hook(hook_for(name))
               for name, linear in linears.items()}
    return waiting


@register(GPTQConfig)
def apply_gptq(model: torch.nn.Module, config: GPTQConfig, context: ApplyContext) -> ApplyReport:
    """Quantize the decoder layers in order, each on the outputs of the already-quantized ones."""
    targets = check_targets(model, config)
    check_packable(targets, config)
    layers = decoder_layers(model)
    ids = calibration_ids(context, config.calibration_samples)
    inputs = capture_layer_inputs(model, ids)
    seen: set[str] = set()
    for index, layer in enumerate(layers):
        own = linears_in(layer, targets)
        waiting = _quantize_on_entry(own, config)
        try:
            inputs = inputs.advance(inputs.run(layer))
        finally:
            for handle in waiting.values():
                handle.remove()
        seen.update(name for name in own if name not in waiting)
        context.report("gptq", (index + 1) / len(layers))
    # Targets that saw no calibration input here (an untied head when not skipped, an expert
    # no token was routed to) are rounded to nearest, and the report names them.
    unseen = {name: linear for name, linear in targets.items() if name not in seen}
    round_to_nearest(unseen, config)
    return finish_weight_step(model, targets, config, context,
                              {"rounded_to_nearest": sorted(unseen),
                               "calibration_tokens": int(ids.numel())})
