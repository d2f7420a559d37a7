"""Pruning on the bundled model under the default protocol: one table, side by side.

    python -m bench.pruning [--rows dense,magnitude_50,...] [--json PATH] [--windows 16]
                            [--diagnostics] [--reload]

Rows: `dense` (the float model); unstructured 50 % by magnitude, Wanda and SparseGPT, and the
same three at 2:4, all simulated (zeros stored in a dense matrix: accuracy only, their decode
speed is the dense model's; real 2:4 acceleration needs sparse kernels on a GPU); `drop25`,
a quarter of the decoder layers removed, and `svd_mlp_0.5`, the MLP Linears factorized at half
rank, both real (the model shrinks: stored bytes and decode speed count); `drop25_kd`, the
same removal then logit distillation from the dense model (at most 540 s of training).
`--reload` saves each row's model, loads it back from the folder and checks that it generates
the same greedy tokens (the factorized and layer-dropped models keep their shape on disk).
"""

from __future__ import annotations

import sys

from bench.recipe_table import main
from bench.steps import Steps

ROWS: dict[str, Steps] = {
    "dense": [],
    "magnitude_50": [("magnitude-pruning", {"sparsity": 0.5})],
    "wanda_50": [("wanda", {"sparsity": 0.5})],
    "sparsegpt_50": [("sparsegpt", {"sparsity": 0.5})],
    "magnitude_2of4": [("nm-sparsity", {"pattern": "2:4", "method": "magnitude"})],
    "wanda_2of4": [("nm-sparsity", {"pattern": "2:4", "method": "wanda"})],
    "sparsegpt_2of4": [("nm-sparsity", {"pattern": "2:4", "method": "sparsegpt"})],
    "drop25": [("layer-drop", {"fraction": 0.25})],
    # Distilled from the dense model within a 9-minute training budget on this CPU.
    "drop25_kd": [("layer-drop", {"fraction": 0.25}), ("logit-distillation", {})],
    "svd_mlp_0.5": [("svd-lowrank", {"rank_ratio": 0.5, "targets": ["mlp"]})],
}


if __name__ == "__main__":
    sys.exit(main(ROWS, __doc__))
