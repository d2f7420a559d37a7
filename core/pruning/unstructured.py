"""Unstructured and N:M pruning: magnitude, Wanda and SparseGPT. Simulated: pruned weights
are zeros in a dense matrix (accuracy only), except 2:4 on a GPU with sparse tensor cores,
where the weights move onto torch's semi-structured sparse kernels (core.pruning.semi_structured)
and the run is real."""

from __future__ import annotations

import torch

from core.pruning.masks import keep_mask
from core.pruning.semi_structured import to_semi_structured, unsupported_reason
from core.pruning.sparsegpt import sparsegpt_prune
from core.quantization.capture import (
    InputStats,
    calibration_ids,
    capture_layer_inputs,
    decoder_layers,
    linears_in,
)
from core.quantization.targets import target_linears
from core.recipes.pruning import (
    MagnitudePruningConfig,
    NMSparsityConfig,
    PruningConfig,
    SparseGPTConfig,
    WandaConfig,
    kept_per_group,
)
from core.recipes.shape_rules import pattern_problem
from core.techniques.base import ApplyContext, ApplyReport
from core.techniques.registry import register


def _check_pattern(linears: dict[str, torch.nn.Linear], config: PruningConfig) -> None:
    """Refuse an N:M pattern that does not tile some layer's inputs, before any change."""
    if config.pattern == "unstructured":
        return
    for name, linear in linears.items():
        problem = pattern_problem(linear.in_features, config.pattern, name)
        if problem:
            raise ValueError(problem)


def _zeros(linears: dict[str, torch.nn.Linear]) -> float:
    total = sum(linear.weight.numel() for linear in linears.values())
    zero = sum(int((linear.weight == 0).sum()) for linear in linears.values())
    return zero / max(total, 1)


def _report(config: PruningConfig, linears: dict[str, torch.nn.Linear], **details) -> ApplyReport:
    """The step's report; 2:4 weights go onto sparse kernels where the device has them."""
    sparsity = round(_zeros(linears), 4)
    execution = config.execution
    if config.pattern == "2:4" and linears:
        weight = next(iter(linears.values())).weight
        reason = unsupported_reason(weight.device, weight.dtype)
        if reason is None:
            converted, kept_dense = to_semi_structured(linears)
            details["semi_structured_layers"] = len(converted)
            if kept_dense:
                details["kept_dense"] = kept_dense
            if converted:
                execution = "real"
        else:
            details["simulated_because"] = reason
    return ApplyReport(config.recipe, execution, len(linears),
                       {"pattern": config.pattern, "sparsity": sparsity, **details})


@register(MagnitudePruningConfig)
def apply_magnitude(model: torch.nn.Module, config: MagnitudePruningConfig,
                    context: ApplyContext) -> ApplyReport:
    """Zero the smallest |w| of each target layer (N:M: of each group of M inputs)."""
    linears = target_linears(model, config.skip)
    _check_pattern(linears, config)
    with torch.no_grad():
        for i, (name, linear) in enumerate(linears.items()):
            weight = linear.weight
            weight.mul_(keep_mask(weight.abs().float(), config.sparsity_for(name),
                                  config.pattern, per_row=False))
            context.report("magnitude", (i + 1) / len(linears))
    return _report(config, linears)


def _prune_layer_by_layer(model, config, context, prune) -> tuple[dict, int]:
    """Run `prune(name, linear, stats)` on each target Linear of each decoder layer, on the
    calibration activations that reach it through the already-pruned layers before it."""
    linears = target_linears(model, config.skip)
    _check_pattern(linears, config)
    ids = calibration_ids(context, config.calibration_samples)
    inputs = capture_layer_inputs(model, ids)
    layers = decoder_layers(model)
    pruned: set[str] = set()
    for index, layer in enumerate(layers):
        own = linears_in(layer, linears)
        last: dict = {"input": None, "stats": None}

        def hook_for(name: str):
            def on_entry(module, args):
                x = args[0]
                if x is not last["input"]:  # q, k and v share one input
                    stats = InputStats.empty(module.in_features, x.device)
                    stats.add(x)
                    last["input"], last["stats"] = x, stats
                with torch.no_grad():
                    prune(name, module, last["stats"])
                pruned.add(name)
                handles.pop(name).remove()

            return on_entry

        handles = {name: linear.register_forward_pre_hook(hook_for(name))
                   for name, linear in own.items()}
        try:
            inputs = inputs.advance(inputs.run(layer))
        finally:
            for handle in handles.values():
                handle.remove()
        context.report(config.recipe, (index + 1) / len(layers))
    return linears, len(pruned)


@register(WandaConfig)
def apply_wanda(model: torch.nn.Module, config: WandaConfig, context: ApplyContext) -> ApplyReport:
    """Score |w_ij| * ||x_j||, drop the lowest per output row (N:M: per group), no update."""

    def prune(name, linear, stats: InputStats) -> None:
        norms = torch.diag(stats.gram).clamp_min(0).sqrt()
        scores = linear.weight.abs().float() * norms[None, :]
        linear.weight.mul_(keep_mask(scores, config.sparsity_for(name), config.pattern,
                                     per_row=True))

    linears, count = _prune_layer_by_layer(model, config, context, prune)
    return _report(config, linears, calibrated_layers=count)


@register(SparseGPTConfig)
def apply_sparsegpt(model: torch.nn.Module, config: SparseGPTConfig,
                    context: ApplyContext) -> ApplyReport:
    """Second-order pruning with weight updates, layer by layer."""
    if config.pattern != "unstructured":
        _, group = kept_per_group(config.pattern)
        if config.block_size % group:
            raise ValueError(f"block_size {config.block_size} must be a multiple of {group} "
                             f"for {config.pattern}")

    def prune(name, linear, stats: InputStats) -> None:
        linear.weight.copy_(sparsegpt_prune(
            linear.weight, stats.hessian, sparsity=config.sparsity_for(name), pattern=config.pattern,
            damping=config.damping, block_size=config.block_size))

    linears, count = _prune_layer_by_layer(model, config, context, prune)
    return _report(config, linears, calibrated_layers=count)


@register(NMSparsityConfig)
def apply_nm(model: torch.nn.Module, config: NMSparsityConfig, context: ApplyContext) -> ApplyReport:
    """N:M sparsity through the chosen pruner."""
    pruner = config.pruner()
    handlers = {"magnitude": apply_magnitude, "wanda": apply_wanda, "sparsegpt": apply_sparsegpt}
    report = handlers[config.method](model, pruner, context)
    return ApplyReport(config.recipe, report.execution, report.modules,
                       {**report.details, "method": config.method})
