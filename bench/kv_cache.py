"""Quantized KV caches on the bundled model under the default protocol: one table, side by side.

    python bench/kv_cache.py [--rows fp32_cache,kv_int4,...] [--json PATH] [--windows 16]

Every row decodes and scores with its own kind of KV cache on the same, unchanged weights:
quality is scored through the cache (chunk by chunk, so later tokens attend to quantized
keys and values) against the float model's cached full-window outputs; `kv_cache_bytes` is
what the cache holds after the batch-1 decode run (packed data, scales and the float window
of recent tokens); decode speed includes the cache's quantize and dequantize work.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import core.inference  # noqa: E402,F401  (registers the inference-time techniques)
from core.engine.kv import set_cache_factory  # noqa: E402
from core.engine.measure import MeasureConfig, baseline_outputs, measure_model  # noqa: E402
from core.engine.metrics import REAL, SIMULATED, format_value  # noqa: E402
from core.engine.models import load_model  # noqa: E402
from core.techniques.base import ApplyContext  # noqa: E402
from core.techniques.registry import InvalidRecipeError, apply, build_config  # noqa: E402

# transformers' defaults (groups of 64 values, 128 recent tokens in float) unless named.
ROWS: dict[str, list[tuple[str, dict]]] = {
    "fp32_cache": [],
    "kv_int4": [("quantized-kv-cache", {"bits": 4})],
    "kv_int2": [("quantized-kv-cache", {"bits": 2})],
    "kv_fp8": [("quantized-kv-cache", {"backend": "fp8", "bits": 8})],
}
COLUMNS = ("ppl", "kl", "top1_agreement", "kv_cache_bytes", "decode_tok_s_b1")


def _run_row(name, steps, loaded, config, baseline):
    # Weights never change here, so one loaded model serves every row: only its cache differs.
    set_cache_factory(loaded.model, None)
    context = ApplyContext(device=loaded.device)
    executions = [apply(loaded.model, build_config(recipe, settings), context).execution
                  for recipe, settings in steps]
    execution = SIMULATED if SIMULATED in executions else REAL
    return measure_model(loaded, config, name=name, baseline=baseline, execution=execution)


def table(rows: list[dict]) -> str:
    """The rows (in the JSON shape) as a readable table."""
    lines = [f"{'row':<12}" + "".join(f"{c:>21}" for c in COLUMNS) + f"{'execution':>11}"]
    for row in rows:
        cells = "".join(f" {format_value(c, row.get(c)):>20}" for c in COLUMNS)
        lines.append(f"{row['name']:<12}{cells}{row['execution']:>11}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default=None)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--windows", type=int, default=16)
    parser.add_argument("--json", type=Path)
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
        print(f"  measured {name}", file=sys.stderr)
    print(table([result.row() for result in rows]))
    print(f"protocol: {rows[0].protocol if rows else {}}")
    for result in rows:
        print(f"notes ({result.name}): " + "; ".join(result.notes))
    for line in skipped:
        print(f"not run: {line}")
    if args.json:
        args.json.write_text(json.dumps([r.row() for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
