"""The recipes the 2026 atlas added, on the bundled model under the default protocol, in one
table beside RTN and GPTQ at the same bits and group size.

    python -m bench.atlas_recipes [--rows fp32,rtn_w4_g32,...] [--json PATH] [--windows 16]

4-bit rows use groups of 32, the block of llama.cpp's Q4_0: RTN (asymmetric and symmetric),
GPTQ (act_order), HQQ (no calibration data), AutoRound (50 signed-gradient steps per block)
and GGUF Q4_0; 8-bit rows compare RTN symmetric in groups of 32 with GGUF Q8_0, the same
grid with its scale stored in float16. Pruning rows set 70% of the weights to zero with
Wanda and SparseGPT, each with uniform layer sparsity and with OWL's outlier-weighted one.
Every row is measured against the fp32 baseline's cached outputs (perplexity per token and
per word, KL, top-1 agreement) with its compression time; all of these rows are simulated
(weights rounded or zeroed in float), so their speed is the float model's and the size
column is each format's packed size, computed (bench.recipe_table says how rows are timed).
"""

from __future__ import annotations

import sys

from bench.recipe_table import main
from bench.steps import Steps

W4_G32 = {"bits": 4, "group_size": 32}
ROWS: dict[str, Steps] = {
    "fp32": [],
    "rtn_w4_g32": [("rtn", W4_G32)],
    "rtn_w4_g32_sym": [("rtn", {**W4_G32, "symmetric": True})],
    "gptq_w4_g32": [("gptq", {**W4_G32, "act_order": True})],
    "hqq_w4_g32": [("hqq", W4_G32)],
    "autoround_w4_g32": [("autoround", {**W4_G32, "iterations": 50})],
    "gguf_q4_0": [("gguf", {"quant_type": "Q4_0"})],
    "rtn_w8_g32_sym": [("rtn", {"bits": 8, "group_size": 32, "symmetric": True})],
    "gguf_q8_0": [("gguf", {"quant_type": "Q8_0"})],
    "wanda_70": [("wanda", {"sparsity": 0.7})],
    "owl_wanda_70": [("owl", {"sparsity": 0.7, "pruner": "wanda"})],
    "sparsegpt_70": [("sparsegpt", {"sparsity": 0.7})],
    "owl_sparsegpt_70": [("owl", {"sparsity": 0.7, "pruner": "sparsegpt"})],
}


if __name__ == "__main__":
    sys.exit(main(ROWS, __doc__))
