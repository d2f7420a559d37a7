"""Which layers a quantizer touches: the decoder's Linear layers, minus a skip list."""

from __future__ import annotations

import torch

# The output head and embeddings are sensitive and often tied; they stay in float unless asked.
DEFAULT_SKIP = ("lm_head",)


def target_linears(model: torch.nn.Module, skip: tuple[str, ...] = DEFAULT_SKIP) -> dict[str, torch.nn.Linear]:
    """Linear layers by qualified name, leaving out any whose name contains a skip entry."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not any(part in name for part in skip)
    }
