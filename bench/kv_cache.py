"""Quantized KV caches on the bundled model under the default protocol: one table, side by side.

    python -m bench.kv_cache [--rows fp32_cache,kv_int4,...] [--json PATH] [--windows 16]

Every row decodes and scores with its own kind of KV cache on the same, unchanged weights:
quality is scored through the cache (chunk by chunk, so later tokens attend to quantized
keys and values) against the float model's cached full-window outputs; `kv_cache_bytes` is
what the cache holds after the batch-1 decode run (packed data, scales and the float window
of recent tokens); decode speed includes the cache's quantize and dequantize work.
"""

from __future__ import annotations

import sys

import core.inference  # noqa: F401  (registers the inference-time techniques)
from bench import report
from bench.steps import Steps, apply_steps, execution_of
from core.engine.kv import set_cache_factory
from core.engine.measure import baseline_outputs, measure_model
from core.engine.measure_config import MeasureConfig
from core.engine.models import load_model
from core.recipes.base import InvalidRecipeError
from core.techniques.context import ApplyContext

# transformers' defaults (groups of 64 values, 128 recent tokens in float) unless named.
ROWS: dict[str, Steps] = {
    "fp32_cache": [],
    "kv_int4": [("quantized-kv-cache", {"bits": 4})],
    "kv_int2": [("quantized-kv-cache", {"bits": 2})],
    "kv_fp8": [("quantized-kv-cache", {"backend": "fp8", "bits": 8})],
}
COLUMNS = ("ppl", "kl", "top1_agreement", "kv_cache_bytes", "decode_tok_s_b1")


def _run_row(name, steps, loaded, config, baseline):
    """Measure one row: the loaded model with the row's kind of KV cache."""
    # Weights never change here, so one loaded model serves every row: only its cache differs.
    set_cache_factory(loaded.model, None)
    reports = apply_steps(loaded.model, steps, ApplyContext(device=loaded.device))
    return measure_model(loaded, config, name=name, baseline=baseline,
                         execution=execution_of(reports))


def main() -> int:
    """Measure the rows side by side and print (and write) the table."""
    parser = report.parser(__doc__)
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default=None)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--windows", type=int, default=16)
    args = parser.parse_args()
    config = MeasureConfig(eval_windows=args.windows, speed_scope="decode_b1")
    loaded = load_model(args.model, device=args.device)
    baseline = baseline_outputs(loaded, config)
    rows, skipped = [], []
    for name in args.rows.split(","):
        try:
            result = _run_row(name, ROWS[name], loaded, config, baseline)
        except InvalidRecipeError as error:
            skipped.append(f"{name}: {error}")
            continue
        rows.append(result)
        report.progress(f"measured {name}")
    measured = [result.row() for result in rows]
    report.print_measured(measured, COLUMNS)
    for result in rows:
        print(f"notes ({result.name}): " + "; ".join(result.notes))
    for line in skipped:
        print(f"not run: {line}")
    report.write_json(measured, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
