"""Decode speed on the lean path: fp32, W8A8, SmoothQuant and quanto int8 side by side, with
the roofline, the overhead share and plain transformers generate for reference.

    python -m bench.decode [--runs 3] [--repeats 3] [--new-tokens 32] [--json PATH]
                           [--model default] [--rows fp32_lean,w8a8_lean,...]

Every lean row decodes the bundled model's decode prompts (64 tokens of real text) with a
static KV cache and its one-token step compiled; the compile is the row's first call and is
printed as its own column, never in tokens/s. Speedups compare two rows on the same path,
timed in alternating order (fp32, variant, variant, fp32) so that a drift of the machine's
speed touches both alike; that is done `--runs` times and the table prints the median ratio
with its spread (lowest-highest). `fp32_generate` is transformers' own generate() with its
default cache: what a user of plain transformers sees.
"""

from __future__ import annotations

import copy
import statistics
import sys

import core.quantization  # noqa: F401  (registers the quantizers)
from bench import report
from bench.steps import Steps, apply_steps, execution_of
from core.engine import roofline
from core.engine.data import load_corpus
from core.engine.lean_decode import LeanDecoder
from core.engine.measure import decode_prompts
from core.engine.measure_config import MeasureConfig
from core.engine.models import load_model
from core.engine.speed import generate_decode
from core.techniques.calibration import calibration_data
from core.techniques.context import ApplyContext

BASE = "fp32_lean"
ROWS: dict[str, Steps] = {
    BASE: [],
    "w8a8_lean": [("w8a8", {"activations": "per_token"})],
    "smoothquant_lean": [("smoothquant", {})],
    "quanto_int8_lean": [("quanto", {"weights": "int8"})],
}
GENERATE = "fp32_generate"
BATCHES = (1, 8)
COLUMNS = ("decode_tok_s_b1", "decode_tok_s_b8", "roofline_decode_tok_s", "roofline_ratio",
           "overhead_share", "speedup_b1", "speedup_b8", "decode_first_call_s", "path")


def _rate(decoder: LeanDecoder, samples: tuple[float, ...]) -> float:
    return decoder.tokens / statistics.median(samples)


def _variants(loaded, names: list[str]) -> dict:
    """Each row's model: a copy of the loaded one with the row's steps applied."""
    calibration = calibration_data(loaded.tokenizer, load_corpus(), samples=32, seq_len=512)
    context = ApplyContext(device=loaded.device, calibration=calibration)
    models = {}
    for name in names:
        model = loaded.model if not ROWS[name] else copy.deepcopy(loaded.model)
        reports = apply_steps(model, ROWS[name], context)
        models[name] = (model, execution_of(reports))
    return models


def _alternating(base: LeanDecoder, variant: LeanDecoder, repeats: int) -> float:
    """variant / base decode rate, timed base, variant, variant, base."""
    a1 = base.sample(repeats)
    b1, b2 = variant.sample(repeats), variant.sample(repeats)
    a2 = base.sample(repeats)
    return _rate(variant, b1 + b2) / _rate(base, a1 + a2)


def main(argv: list[str] | None = None) -> int:
    """Measure every row and print the table (and --json)."""
    parser = report.parser(__doc__)
    parser.add_argument("--model", default="default")
    parser.add_argument("--rows", default=",".join(ROWS),
                        help=f"comma-separated, from {', '.join(ROWS)}")
    parser.add_argument("--runs", type=int, default=3, help="alternating comparisons per row")
    parser.add_argument("--repeats", type=int, default=3, help="timed samples per turn")
    parser.add_argument("--new-tokens", type=int, default=32)
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.rows.split(",") if name.strip()]
    unknown = [name for name in names if name not in ROWS]
    if unknown or BASE not in names or args.runs < 1 or args.repeats < 1:
        print(f"--rows must name {BASE} and only rows of: {', '.join(ROWS)}; --runs and "
              "--repeats at least 1", file=sys.stderr)
        return 2
    loaded = load_model(args.model)
    config = MeasureConfig(decode_new_tokens=args.new_tokens)
    bandwidth = roofline.measure_bandwidth(loaded.device)
    context = config.decode_prompt_tokens + config.decode_new_tokens // 2
    models = _variants(loaded, names)
    decoders: dict[tuple[str, int], LeanDecoder] = {}
    for name in names:
        for batch in BATCHES:
            report.progress(f"{name} b{batch}: preparing (the compile is its first call)")
            decoders[name, batch] = LeanDecoder(
                models[name][0], decode_prompts(loaded, config, batch),
                new_tokens=config.decode_new_tokens, device=loaded.device)
    rows = []
    report.progress(f"{GENERATE}: transformers generate")
    generated = {batch: generate_decode(loaded.model, decode_prompts(loaded, config, batch),
                                        new_tokens=config.decode_new_tokens,
                                        device=loaded.device, repeats=2 * args.repeats,
                                        pad_token_id=loaded.tokenizer.pad_token_id)
                 for batch in BATCHES}
    bound_of = {}
    for name in names:
        step = roofline.decode_step_bytes(models[name][0], batch=1, context=context,
                                          kv_element_size=4)
        bound_of[name] = roofline.roofline_decode_tok_s(bandwidth, step)
    rows.append({"name": GENERATE,
                 "decode_tok_s_b1": generated[1].tokens_per_second[0],
                 "decode_tok_s_b8": generated[8].tokens_per_second[0],
                 "roofline_decode_tok_s": bound_of[BASE],
                 "roofline_ratio": generated[1].tokens_per_second[0] / bound_of[BASE],
                 "path": "transformers generate(), dynamic cache", "execution": "real"})
    for name in names:
        row = {"name": name, "execution": models[name][1],
               "decode_first_call_s": decoders[name, 1].first_call_s,
               "path": decoders[name, 1].path, "why": decoders[name, 1].why}
        for batch in BATCHES:
            decoder = decoders[name, batch]
            row[f"decode_tok_s_b{batch}"] = _rate(decoder, decoder.sample(2 * args.repeats))
        row["roofline_decode_tok_s"] = bound_of[name]
        row["roofline_ratio"] = row["decode_tok_s_b1"] / bound_of[name]
        row["overhead_share"] = max(0.0, 1 - row["roofline_ratio"])
        if name != BASE:
            for batch in BATCHES:
                report.progress(f"{name} b{batch}: {args.runs} alternating runs against {BASE}")
                ratios = [_alternating(decoders[BASE, batch], decoders[name, batch],
                                       args.repeats) for _ in range(args.runs)]
                row[f"speedup_b{batch}"] = statistics.median(ratios)
                row[f"speedup_b{batch}_runs"] = ratios
        rows.append(row)
    for row in rows:
        row["protocol"] = {"model": loaded.spec.label, "device": str(loaded.device),
                           "bandwidth_gb_s": round(bandwidth, 2),
                           "decode_prompt_tokens": config.decode_prompt_tokens,
                           "decode_new_tokens": config.decode_new_tokens,
                           "runs": args.runs, "repeats": args.repeats,
                           "order": "fp32, variant, variant, fp32 per run"}
    report.print_measured([_shown(row) for row in rows], COLUMNS)
    for row in rows:
        if row.get("why"):
            print(f"note: {row['name']} timed on the {row['path']} path: {row['why']}")
    report.write_json(rows, args.json)
    return 0


def _shown(row: dict) -> dict:
    """The row as the table prints it: a speedup as its median with its spread over the
    runs (lowest-highest), `2.10x (2.05-2.14)`."""
    shown = dict(row)
    for batch in BATCHES:
        runs = row.get(f"speedup_b{batch}_runs")
        if runs:
            shown[f"speedup_b{batch}"] = (f"{row[f'speedup_b{batch}']:.2f}x "
                                          f"({min(runs):.2f}-{max(runs):.2f})")
    return shown


if __name__ == "__main__":
    sys.exit(main())
