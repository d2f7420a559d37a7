"""svd-lowrank: truncated SVD of Linear layers, W ≈ B A with A = sqrt(S_r) V_r^T [r, in] and
B = U_r sqrt(S_r) [out, r], so one [out, in] matrix becomes two thin ones and the layer
stores r (in + out) weights instead of in * out. The singular values are split evenly between
the factors, which keeps both on a similar scale (friendlier to a later quantization step)."""

from __future__ import annotations

import torch

from core.engine.factored import LowRankLinear, record_factored
from core.quantization.targets import replace_module
from core.recipes.lowrank import SVDLowRankConfig
from core.techniques.context import ApplyContext, ApplyReport
from core.techniques.registry import register


def rank_for_energy(singular: torch.Tensor, energy: float) -> int:
    """The smallest rank whose singular values hold `energy` of sum(S^2)."""
    share = singular.square().cumsum(0) / singular.square().sum()
    return int(torch.searchsorted(share, torch.tensor(energy, dtype=share.dtype)).item()) + 1


def factorize(linear: torch.nn.Linear, rank: int, singular_vectors=None) -> LowRankLinear:
    """The rank-`rank` factorization of `linear` (its bias kept on the second factor)."""
    u, s, vh = singular_vectors or torch.linalg.svd(linear.weight.detach().float(),
                                                    full_matrices=False)
    root = s[:rank].sqrt()
    layer = LowRankLinear(linear.in_features, linear.out_features, rank,
                          bias=linear.bias is not None, device=linear.weight.device,
                          dtype=linear.weight.dtype)
    with torch.no_grad():
        layer.first.weight.copy_(root[:, None] * vh[:rank])
        layer.second.weight.copy_(u[:, :rank] * root[None, :])
        if linear.bias is not None:
            layer.second.bias.copy_(linear.bias)
    return layer


def _targets(model: torch.nn.Module, config: SVDLowRankConfig) -> dict[str, torch.nn.Linear]:
    return {name: module for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear)
            and any(part in name for part in config.targets)
            and not any(part in name for part in config.skip)}


@register(SVDLowRankConfig)
def apply_svd(
    model: torch.nn.Module, config: SVDLowRankConfig, context: ApplyContext
) -> ApplyReport:
    """Replace each target Linear by its truncated SVD."""
    targets = _targets(model, config)
    if not targets:
        raise ValueError(f"no Linear layer matches targets {list(config.targets)}")
    ranks, kept_whole, before, after = {}, [], 0, 0
    for i, (name, linear) in enumerate(targets.items()):
        vectors = torch.linalg.svd(linear.weight.detach().float(), full_matrices=False)
        full = min(linear.in_features, linear.out_features)
        if config.rank_ratio is not None:
            rank = max(1, int(round(full * config.rank_ratio)))
        else:
            rank = rank_for_energy(vectors[1], config.energy)
        dense = linear.in_features * linear.out_features
        factored = rank * (linear.in_features + linear.out_features)
        before += dense
        if config.only_if_smaller and factored >= dense:
            kept_whole.append(name)
            after += dense
            continue
        replace_module(model, name, factorize(linear, rank, vectors))
        ranks[name] = rank
        after += factored
        context.report("svd", (i + 1) / len(targets))
    # Saved with the model (config.json), so that loading it rebuilds these layers.
    record_factored(model, ranks)
    return ApplyReport(
        config.recipe,
        config.execution,
        len(ranks),
        {
            "ranks": ranks,
            "kept_whole": kept_whole,
            "weights_before": before,
            "weights_after": after,
            "weight_ratio": round(after / before, 4),
        },
    )
