"""OWL, Outlier Weighed Layerwise sparsity (Yin et al., 2023, "Outlier Weighed Layerwise
Sparsity (OWL): A Missing Secret Sauce for Pruning LLMs to High Sparsity", arXiv:2310.05175).

Uniform sparsity treats every layer alike, but layers differ in how many outlier weights they
hold (weights whose Wanda score |w| * ||x|| is far above their layer's mean), and pruning an
outlier-heavy layer hard costs the most. OWL measures each decoder layer's outlier share on
calibration text, gives layers with more outliers a lower sparsity, linearly, within
`max_deviation` of the target and averaging it, and then prunes each layer at its own share
with Wanda or SparseGPT.
"""

from __future__ import annotations

import torch

from core.pruning.masks import keep_mask
from core.pruning.sparsegpt import sparsegpt_prune
from core.pruning.sparsity import prune_layer_by_layer, sparsity_report
from core.pruning.wanda import wanda_scores
from core.quantization.capture import InputStats, decoder_layers, linears_in
from core.quantization.targets import target_linears
from core.recipes.pruning import OWLConfig, SparseGPTConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


def owl_layer_sparsities(outlier_ratios: list[float], sparsity: float,
                         max_deviation: float) -> list[float]:
    """Each layer's sparsity: the layers' outlier ratios mapped linearly onto
    [sparsity - max_deviation, sparsity + max_deviation], most outliers least sparse, then
    shifted so that their mean is `sparsity`."""
    if not outlier_ratios:
        return []
    low, high = min(outlier_ratios), max(outlier_ratios)
    if high == low:  # nothing tells the layers apart
        return [sparsity] * len(outlier_ratios)
    # Densities spread over [0, 2 * max_deviation] by outlier ratio, re-centred on the mean
    # density: the mean sparsity stays the target exactly.
    spread = [(r - low) / (high - low) * 2 * max_deviation for r in outlier_ratios]
    mean = sum(spread) / len(spread)
    return [min(max(sparsity - (s - mean), 0.0), 0.99) for s in spread]


def _layer_of(model: torch.nn.Module, config: OWLConfig) -> dict[str, int]:
    linears = target_linears(model, config.skip)
    return {name: index for index, layer in enumerate(decoder_layers(model))
            for name in linears_in(layer, linears)}


def outlier_ratios(model: torch.nn.Module, config: OWLConfig,
                   context: ApplyContext) -> list[float]:
    """Per decoder layer, the share of its target weights whose Wanda score exceeds
    `outlier_threshold` times the layer's mean score, on the unpruned model."""
    layer_of = _layer_of(model, config)
    counts = [[0.0, 0, 0] for _ in decoder_layers(model)]  # score sum, weights, scores kept
    scores_of: dict[int, list[torch.Tensor]] = {}

    def finish(index: int) -> None:
        # The threshold is relative to the whole layer's mean, so a layer is counted once
        # all its linears have been scored; its scores are then let go.
        scores = torch.cat([s.flatten() for s in scores_of.pop(index)])
        counts[index] = [float(scores.sum()), scores.numel(),
                         int((scores > config.outlier_threshold * scores.mean()).sum())]

    def score(name: str, linear: torch.nn.Linear, stats: InputStats) -> None:
        index = layer_of[name]
        for done in [i for i in scores_of if i != index]:
            finish(done)
        scores_of.setdefault(index, []).append(wanda_scores(linear.weight, stats).cpu())

    prune_layer_by_layer(model, config, context, score)  # `score` leaves the weights alone
    for index in list(scores_of):
        finish(index)
    return [kept / weights if weights else 0.0 for _, weights, kept in counts]


@register(OWLConfig)
def apply_owl(model: torch.nn.Module, config: OWLConfig, context: ApplyContext) -> ApplyReport:
    """Measure each layer's outliers, set its sparsity from them, prune it at that share."""
    ratios = outlier_ratios(model, config, context)
    shares = owl_layer_sparsities(ratios, config.sparsity, config.max_deviation)
    layer_of = _layer_of(model, config)
    update = SparseGPTConfig()  # SparseGPT's defaults for damping and block size

    def prune(name: str, linear: torch.nn.Linear, stats: InputStats) -> None:
        share = shares[layer_of[name]]
        if config.pruner == "wanda":
            linear.weight.mul_(keep_mask(wanda_scores(linear.weight, stats), share,
                                         "unstructured", per_row=True))
        else:
            linear.weight.copy_(sparsegpt_prune(linear.weight, stats.hessian, sparsity=share,
                                                pattern="unstructured",
                                                damping=update.damping,
                                                block_size=update.block_size))

    linears, count = prune_layer_by_layer(model, config, context, prune)
    return sparsity_report(config, linears, calibrated_layers=count, pruner=config.pruner,
                           outlier_ratios=[round(r, 5) for r in ratios],
                           layer_sparsity=[round(s, 4) for s in shares])
