"""Pruning techniques, one file per recipe (core/pruning/<slug>.py) beside the shared parts
(masks, sparsity, width, semi_structured). Importing this package registers every one."""

from core.pruning import (  # noqa: F401  (registers on import)
    head_pruning,
    layer_drop,
    magnitude_pruning,
    mlp_channel_pruning,
    nm_sparsity,
    owl,
    sparsegpt,
    wanda,
)
