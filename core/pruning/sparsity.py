"""What the sparsity pruners (magnitude-pruning, wanda, sparsegpt, nm-sparsity) share: the
N:M check, pruning decoder layer by decoder layer on the calibration activations that reach
each one, and the report. Simulated: pruned weights are zeros in a dense matrix (accuracy
only), except 2:4 on a GPU with sparse tensor cores, where the weights move onto torch's
semi-structured sparse kernels (core/pruning/semi_structured.py) and the run is real."""

from __future__ import annotations

import torch

from core.pruning.semi_structured import to_semi_structured, unsupported_reason
from core.quantization.capture import (
    InputStats,
    calibration_ids,
    capture_layer_inputs,
    decoder_layers,
    linears_in,
)
from core.quantization.targets import target_linears
from core.recipes.pruning import PruningConfig
from core.recipes.shape_rules import pattern_problem
from core.techniques.context import ApplyContext, ApplyReport


def check_pattern(linears: dict[str, torch.nn.Linear], config: PruningConfig) -> None:
    """Refuse an N:M pattern that does not tile some layer's inputs, before any change."""
    if config.pattern == "unstructured":
        return
    for name, linear in linears.items():
        problem = pattern_problem(linear.in_features, config.pattern, name)
        if problem:
            raise ValueError(problem)


def _zeros(linears: dict[str, torch.nn.Linear]) -> float:
    # The share of zero weights over all the layers, as pruned.
    total = sum(linear.weight.numel() for linear in linears.values())
    zero = sum(int((linear.weight == 0).sum()) for linear in linears.values())
    return zero / max(total, 1)


def sparsity_report(
    config: PruningConfig, linears: dict[str, torch.nn.Linear], **details
) -> ApplyReport:
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
    return ApplyReport(
        config.recipe,
        execution,
        len(linears),
        {"pattern": config.pattern, "sparsity": sparsity, **details},
    )


def prune_layer_by_layer(
    model: torch.nn.Module, config: PruningConfig, context: ApplyContext, prune
) -> tuple[dict, int]:
    """Run `prune(name, linear, stats)` on each target Linear of each decoder layer, on the
    calibration activations that reach it through the already-pruned layers before it."""
    linears = target_linears(model, config.skip)
    check_pattern(linears, config)
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

        handles = {
            name: linear.register_forward_pre_hook(hook_for(name)) for name, linear in own.items()
        }
        try:
            inputs = inputs.advance(inputs.run(layer))
        finally:
            for handle in handles.values():
                handle.remove()
        context.report(config.recipe, (index + 1) / len(layers))
    return linears, len(pruned)
