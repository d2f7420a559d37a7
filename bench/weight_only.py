"""Weight-only quantization on the bundled model, simulated beside packed, in one run.

    python -m bench.weight_only [--windows 16] [--rows rtn,gptq,...] [--json PATH]

For each quantizer (RTN, GPTQ with act_order, GPTQ with static groups, AWQ, all W4 g64) the
model is rounded once and measured simulated (quality, and its packed size computed), then
the same rounded layers are packed into torch's CPU int4 kernel and measured again, real:
stored bytes, peak memory, prefill and decode at batch 1 and 8, roofline ratio. An int8
weight-only row packs RTN W8 per channel into the CPU int8 kernel. The fp32 model stays
loaded, and each packed row's batch-1 decode is timed against it in the order fp32, row,
row, fp32 (decode_speedup_b1), so the machine's drift does not enter the ratio. Last, the
exportable GPTQ model (static groups) is written as GGUF and compressed-tensors, read back
with each format's own reader and scored on the same windows (perplexity and file bytes;
their speed is transformers' dequantized float model's, so it is not timed).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import core.quantization  # noqa: F401  (registers the quantizers)
from bench import report
from core.engine.data import load_corpus
from core.engine.measure import baseline_outputs, decode_rate_b1, measure_model
from core.engine.measure_config import MeasureConfig
from core.engine.metrics import REAL, SIMULATED
from core.engine.models import load_model
from core.export.exports import export_model
from core.quantization.packed_size import packed_size_computed
from core.quantization.packing import pack_layers
from core.quantization.rtn import check_targets
from core.quantization.targets import layer_bytes, target_linears
from core.recipes import build_config
from core.techniques.calibration import calibration_data
from core.techniques.context import ApplyContext
from core.techniques.registry import apply

W4 = {"bits": 4, "group_size": 64}
ROWS = {
    "rtn": ("rtn", W4, "cpu_int4"),
    "gptq": ("gptq", W4, "cpu_int4"),
    "gptq_static": ("gptq", {**W4, "static_groups": True}, "cpu_int4"),
    "awq": ("awq", W4, "cpu_int4"),
    "int8": ("rtn", {"bits": 8, "group_size": None, "symmetric": True}, "cpu_int8"),
}
EXPORTED = "gptq_static"
COLUMNS = ("ppl", "stored_bytes", "layer_bytes_ratio", "packed_bytes_computed", "disk_bytes",
           "decode_tok_s_b1",
           "decode_speedup_b1", "decode_tok_s_b8", "prefill_ms", "roofline_ratio")


def _row(name: str, measurement, execution: str, *, layers_ratio: float | None = None) -> dict:
    metrics = dict(measurement.metrics)
    if name != "fp32":
        # The loaded checkpoint on disk is fp32's; only the exports below have files.
        metrics["disk_bytes"] = None
        metrics["layer_bytes_ratio"] = layers_ratio
    return {"name": name, **metrics, "execution": execution, "protocol": measurement.protocol}


def main() -> int:
    parser = report.parser(__doc__)
    parser.add_argument("--windows", type=int, default=16)
    parser.add_argument("--rows", default=",".join(ROWS))
    args = parser.parse_args()
    chosen = [r for r in args.rows.split(",") if r]
    unknown = [r for r in chosen if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    quality = MeasureConfig(eval_windows=args.windows, measure_speed=False)
    full = MeasureConfig(eval_windows=args.windows)
    reference = load_model("default", device="cpu")
    outputs = baseline_outputs(reference, quality)
    rows = [_row("fp32", measure_model(reference, full, name="fp32", baseline=outputs), REAL)]
    report.progress("measured fp32")
    calibration = calibration_data(reference.tokenizer, load_corpus(quality.corpus),
                                   samples=32, seq_len=512)
    for name in chosen:
        recipe, settings, pack = ROWS[name]
        loaded = load_model("default", device="cpu")
        context = ApplyContext(device=loaded.device, calibration=calibration)
        layers = target_linears(loaded.model)
        dense = layer_bytes(loaded.model, layers)
        simulated = build_config(recipe, settings)
        apply(loaded.model, simulated, context)
        result = measure_model(loaded, quality, name=f"{name} simulated", baseline=outputs,
                               execution=SIMULATED)
        result.metrics["packed_bytes_computed"] = packed_size_computed(loaded.model)
        rows.append(_row(f"{name} simulated", result, SIMULATED,
                         layers_ratio=layer_bytes(loaded.model, layers) / dense))
        report.progress(f"measured {name} simulated")
        packed_config = build_config(recipe, {**settings, "pack": pack})
        pack_layers(loaded.model, check_targets(loaded.model, packed_config), packed_config,
                    context, recipe)
        result = measure_model(loaded, full, name=f"{name} {pack}", baseline=outputs)
        rates = [decode_rate_b1(model, full)[0]
                 for model in (reference, loaded, loaded, reference)]
        result.metrics["decode_speedup_b1"] = (rates[1] + rates[2]) / (rates[0] + rates[3])
        rows.append(_row(f"{name} {pack}", result, REAL,
                         layers_ratio=layer_bytes(loaded.model, layers) / dense))
        report.progress(f"measured {name} {pack}: decode b1 fp32, row, row, fp32 = "
                        + ", ".join(f"{r:.1f}" for r in rates) + " tokens/s")
        if name == EXPORTED:
            rows += _exports(loaded, quality, rows[-1]["ppl"])
        del loaded
    report.print_measured(rows, COLUMNS)
    report.write_json(rows, args.json)
    return 0


def _exports(loaded, config: MeasureConfig, job_ppl: float) -> list[dict]:
    found = []
    with tempfile.TemporaryDirectory() as folder:
        for fmt in ("gguf", "compressed-tensors"):
            exported = export_model(loaded.model, loaded.tokenizer, fmt, Path(folder) / fmt,
                                    name="OptAtlas bench", measure=config,
                                    reference_ppl=job_ppl)
            check = exported.details["readback"]
            found.append({"name": f"{EXPORTED} {fmt} read back", "ppl": check["ppl"],
                          "disk_bytes": exported.bytes, "execution": "read back",
                          "protocol": {}, "change": check["change"],
                          "types": exported.details.get("tensor_types")
                          or exported.details.get("scheme")})
            report.progress(f"{fmt}: {exported.bytes / 2**20:.1f} MiB, read back ppl "
                            f"{check['ppl']:.4f} ({check['change']:+.3%} from the packed "
                            f"row's {job_ppl:.4f}); {found[-1]['types']}")
    return found


if __name__ == "__main__":
    raise SystemExit(main())
