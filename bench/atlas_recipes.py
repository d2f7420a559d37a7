"""The recipes the 2026 atlas added, on the bundled model under the default protocol, in one
table beside RTN and GPTQ at the same bits and group size.

    python -m bench.atlas_recipes [--rows fp32,rtn_w4_g32,...] [--json PATH] [--windows 16]

4-bit weight-only rows use groups of 64: RTN, GPTQ (act_order), HQQ (no calibration data)
and AutoRound (50 signed-gradient steps per block). GGUF's blocks hold 32 weights, so Q4_0
sits beside RTN symmetric in groups of 32 (its grid, with the scale from the block's largest
magnitude), and Q8_0 beside RTN 8-bit symmetric in groups of 32 (the same grid, its scale in
float16). HQQ in groups of 32 shows what the bundled model's origin does: it was dequantized
from Q4_1, whose grid a float-zero min-max fit in groups of 32 recovers exactly. Pruning
rows set 70% of the weights to zero with Wanda and SparseGPT, with uniform layer sparsity
and with OWL's outlier-weighted one, at the paper's LLaMA-7B hyperparameters and at the
best of a small sweep on this model.
Every row is measured against the fp32 baseline's cached outputs (perplexity per token and
per word, KL, top-1 agreement) with its compression time; all of these rows are simulated
(weights rounded or zeroed in float), so their speed is the float model's and the size
column is each format's packed size, computed (bench.recipe_table says how rows are timed).
"""

from __future__ import annotations

import sys

from bench.recipe_table import main
from bench.steps import Steps

W4_G64 = {"bits": 4, "group_size": 64}
W4_G32 = {"bits": 4, "group_size": 32}
# OWL's hyperparameters as its paper sets them for LLaMA-7B (M 5, lambda 0.08), and the best
# of a four-setting sweep on this model (M 3/5/7, lambda 0.02-0.08; 4 evaluation windows).
OWL_PAPER = {"outlier_threshold": 5.0, "max_deviation": 0.08}
OWL_SWEPT = {"outlier_threshold": 7.0, "max_deviation": 0.04}
ROWS: dict[str, Steps] = {
    "fp32": [],
    "rtn_w4_g64": [("rtn", W4_G64)],
    "gptq_w4_g64": [("gptq", {**W4_G64, "act_order": True})],
    "hqq_w4_g64": [("hqq", W4_G64)],
    "autoround_w4_g64": [("autoround", {**W4_G64, "iterations": 50})],
    # The bundled model is dequantized from Q4_1 (asymmetric 4-bit blocks of 32 with a float
    # minimum): a min-max grid with a float zero in groups of 32 recovers it exactly.
    "hqq_w4_g32": [("hqq", W4_G32)],
    "rtn_w4_g32_sym": [("rtn", {**W4_G32, "symmetric": True})],
    "gguf_q4_0": [("gguf", {"quant_type": "Q4_0"})],
    "rtn_w8_g32_sym": [("rtn", {"bits": 8, "group_size": 32, "symmetric": True})],
    "gguf_q8_0": [("gguf", {"quant_type": "Q8_0"})],
    "wanda_70": [("wanda", {"sparsity": 0.7})],
    "owl_wanda_70": [("owl", {"sparsity": 0.7, "pruner": "wanda", **OWL_PAPER})],
    "owl_wanda_70_swept": [("owl", {"sparsity": 0.7, "pruner": "wanda", **OWL_SWEPT})],
    "sparsegpt_70": [("sparsegpt", {"sparsity": 0.7})],
    "owl_sparsegpt_70": [("owl", {"sparsity": 0.7, "pruner": "sparsegpt", **OWL_PAPER})],
    "owl_sparsegpt_70_swept": [("owl", {"sparsity": 0.7, "pruner": "sparsegpt", **OWL_SWEPT})],
}

if __name__ == "__main__":
    sys.exit(main(ROWS, __doc__))
