"""The packed CUDA formats on the bundled model, side by side with its 16-bit baseline.

    python -m bench.cuda_formats [--model default] [--dtype bfloat16|float16]
                                 [--rows bf16,bnb_nf4,...] [--windows 16] [--json PATH]

Needs a CUDA GPU, and `pip install -e '.[cuda]'` (bitsandbytes, torchao) for most rows; on a
machine without a GPU it says so and exits with status 0. Every row loads a fresh copy of the
model in --dtype on the GPU, applies its recipe (timed: compression_s) and is measured against
the baseline's outputs: ppl, KL, top-1 agreement, stored bytes and batch-1 decode speed. A row
whose recipe cannot run here (no package, GPU too old) is listed under "not run" with the
reason; a row that fails is reported and the others go on, so one run covers them all.
"""

from __future__ import annotations

import sys
import traceback

import torch

import core.quantization  # noqa: F401  (registers the quantizers)
from bench import report
from bench.steps import Steps, measure_steps
from core.engine.measure import baseline_outputs
from core.engine.measure_config import MeasureConfig
from core.engine.models import load_model
from core.recipes.base import InvalidRecipeError
from core.techniques.context import ApplyContext

BASELINE = "baseline"  # renamed to the dtype (bf16 or fp16) when printed
ROWS: dict[str, Steps] = {
    BASELINE: [],
    "bnb_nf4": [("bnb-nf4", {})],
    "bnb_nf4_b128": [("bnb-nf4", {"blocksize": 128})],
    "llm_int8": [("llm-int8", {"threshold": 6.0})],
    "torchao_int4_g64": [("torchao-int4", {"group_size": 64})],
    "torchao_int4_g32": [("torchao-int4", {"group_size": 32})],
    "fp8_weight_only": [("fp8", {"mode": "weight_only"})],
    "fp8_dynamic": [("fp8", {"mode": "dynamic"})],
}
COLUMNS = ("ppl", "kl", "top1_agreement", "stored_bytes", "layer_bytes_ratio",
           "decode_tok_s_b1", "compression_s")
SHORT = {"bfloat16": "bf16", "float16": "fp16"}


def _run_row(name, steps, args, config, baseline):
    """Measure one row on a fresh copy of the model; also the steps' details as notes."""
    loaded = load_model(args.model, device="cuda", dtype=args.dtype)
    context = ApplyContext(device=loaded.device)
    result, reports = measure_steps(loaded, steps, context, config, name=name, baseline=baseline)
    notes = [f"{r.recipe}: {r.details}" for r in reports if r.details]
    del loaded
    torch.cuda.empty_cache()
    return result, notes


def main() -> int:
    """Measure the rows side by side on the GPU and print (and write) the table."""
    parser = report.parser(__doc__)
    parser.add_argument("--model", default="default")
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(SHORT))
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--windows", type=int, default=16)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(f"bench.cuda_formats needs a CUDA GPU; torch {torch.__version__} sees none "
              f"here (CUDA build: {torch.version.cuda or 'no'}). Nothing was measured.")
        return 0
    unknown = [name for name in args.rows.split(",") if name not in ROWS]
    if unknown:
        parser.error(f"unknown rows {', '.join(unknown)}; known: {', '.join(ROWS)}")
    major, minor = torch.cuda.get_device_capability()
    print(f"{torch.cuda.get_device_name()} (compute capability {major}.{minor}), "
          f"torch {torch.__version__}, model {args.model} in {args.dtype}", file=sys.stderr)
    config = MeasureConfig(eval_windows=args.windows, speed_scope="decode_b1")
    reference = load_model(args.model, device="cuda", dtype=args.dtype)
    baseline = baseline_outputs(reference, config)
    del reference
    rows, notes, not_run = [], [], []
    for name in args.rows.split(","):
        label = SHORT[args.dtype] if name == BASELINE else name
        try:
            result, row_notes = _run_row(label, ROWS[name], args, config, baseline)
        except InvalidRecipeError as error:
            not_run.append(f"{label}: {error}")
            continue
        except Exception as error:  # noqa: BLE001  (one failing format must not end the run)
            traceback.print_exc()
            first_line = str(error).splitlines()[0][:300] if str(error) else ""
            not_run.append(f"{label}: failed: {type(error).__name__}: {first_line}")
            torch.cuda.empty_cache()
            continue
        rows.append(result)
        notes += [f"{label}: {line}" for line in row_notes]
        report.progress(f"measured {label}")
    measured = [result.row() for result in rows]
    report.print_measured(measured, COLUMNS)
    for line in notes:
        print(f"note: {line}")
    for line in not_run:
        print(f"not run: {line}")
    report.write_json(measured, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
