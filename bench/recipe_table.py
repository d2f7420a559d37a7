"""The side-by-side recipe table behind bench.quantization and bench.pruning: every row
loads a fresh copy of the model, applies its steps (timed: compression_s) and is measured
against the float baseline's cached outputs; real rows are timed against the float model in
the order float, row, row, float (decode_speedup_b1), so drift between rows cancels."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

import core.distillation  # noqa: F401  (registers knowledge distillation)
import core.inference  # noqa: F401  (registers the inference-time techniques)
import core.lowrank  # noqa: F401  (registers low-rank factorization)
import core.pruning  # noqa: F401  (registers the pruners)
import core.quantization  # noqa: F401  (registers the quantizers)
from bench import report
from bench.steps import Steps, measure_steps
from core.engine.cost import Stopwatch
from core.engine.data import load_corpus
from core.engine.measure import baseline_outputs, decode_rate_b1
from core.engine.measure_config import MeasureConfig
from core.engine.memory import disk_bytes, stored_bytes
from core.engine.metrics import REAL
from core.engine.models import load_model
from core.quantization.diagnostics import (
    RescaledModelError,
    format_diagnostics,
    layer_diagnostics,
)
from core.recipes.base import InvalidRecipeError
from core.techniques.calibration import calibration_data
from core.techniques.context import ApplyContext

COLUMNS = ("ppl", "word_ppl", "kl", "top1_agreement", "stored_bytes", "layer_bytes_ratio",
           "decode_tok_s_b1", "decode_speedup_b1", "compression_s")
# Per-layer diagnostics are a look at where the error sits, not a measurement: a few
# sequences show the ranking, and keep the extra float passes short.
DIAGNOSTIC_SEQUENCES = 4
DIAGNOSTIC_LAYERS = 5


def _diagnose(name, reference, quantized, calibration, rescales) -> str:
    """The row's worst layers as a table, or why they cannot be compared layer by layer."""
    ids = calibration.input_ids[:DIAGNOSTIC_SEQUENCES]
    try:
        rows = layer_diagnostics(reference, quantized, ids, rescales=rescales)
    except RescaledModelError as error:
        return f"diagnostics of {name}: not available: {error}"
    return (f"diagnostics of {name} ({len(ids)} calibration sequences):\n"
            + format_diagnostics(rows, top=DIAGNOSTIC_LAYERS))


def _speedup_against(reference, loaded, config) -> tuple[float, list[float]]:
    """Batch-1 decode speed of `loaded` over the reference's, timed in the order reference,
    variant, variant, reference: a steady drift of the machine's speed cancels out."""
    rates = [decode_rate_b1(model, config)[0] for model in (reference, loaded, loaded, reference)]
    return (rates[1] + rates[2]) / (rates[0] + rates[3]), rates


def _run_row(name, steps, args, config, baseline, calibration, reference, diagnose=False):
    """Measure one row, time the float `reference` right after it, and with `diagnose`
    compare the two layer by layer."""
    loaded = load_model(args.model, device=args.device)
    # The float reference doubles as the teacher of a distillation step.
    context = ApplyContext(device=loaded.device, calibration=calibration,
                           original=lambda: reference.model, tokenizer=loaded.tokenizer)
    result, reports = measure_steps(loaded, steps, context, config, name=name, baseline=baseline)
    if result.execution == REAL:
        speedup, rates = _speedup_against(reference, loaded, config)
        result.metrics["decode_speedup_b1"] = speedup
        result.notes.append(
            f"decode b1 timed fp32, {name}, {name}, fp32 in a row: "
            + ", ".join(f"{rate:.2f}" for rate in rates) + " tokens/s"
        )
    if args.reload and steps:
        result.notes.append(_reload_check(name, loaded))
    diagnostics = None
    if diagnose and steps:
        rescales = [rescale for step in reports for rescale in step.rescales]
        diagnostics = _diagnose(name, reference.model, loaded.model, calibration, rescales)
    return result, diagnostics


RELOAD_PROMPT = "def read_config(path):"
RELOAD_TOKENS = 16


def _reload_check(name, loaded) -> str:
    """Save the row's model, load it back as a user would, and check that it generates the
    same greedy tokens as the model in memory."""
    prompt = loaded.tokenizer(RELOAD_PROMPT, return_tensors="pt").input_ids.to(loaded.device)
    settings = {"max_new_tokens": RELOAD_TOKENS, "min_new_tokens": RELOAD_TOKENS,
                "do_sample": False, "pad_token_id": loaded.tokenizer.pad_token_id}
    with tempfile.TemporaryDirectory(prefix=f"optatlas-{name}-") as folder:
        loaded.model.save_pretrained(folder)
        loaded.tokenizer.save_pretrained(folder)
        saved = disk_bytes(Path(folder))
        with Stopwatch(loaded.device) as watch:
            again = load_model(folder, device=str(loaded.device))
        with torch.no_grad():
            before = loaded.model.generate(prompt, **settings)
            after = again.model.generate(prompt, **settings)
    same = bool(torch.equal(before, after))
    text = loaded.tokenizer.decode(after[0, prompt.shape[1]:])
    return (f"reload: saved {saved / 2**20:.1f} MiB, loaded back in {watch.seconds:.1f} s "
            f"({type(again.model).__name__}, {stored_bytes(again.model) / 2**20:.1f} MiB stored); "
            f"{RELOAD_TOKENS} greedy tokens {'equal' if same else 'DIFFER FROM'} the model in "
            f"memory's: {text!r}")


def main(recipes: dict[str, Steps], description: str, argv: list[str] | None = None) -> int:
    """Measure `recipes` (row name -> steps) side by side and print (and write) the table."""
    parser = report.parser(description)
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default=None)
    parser.add_argument("--rows", default=",".join(recipes))
    parser.add_argument("--windows", type=int, default=16)
    parser.add_argument("--calibration-samples", type=int, default=32)
    parser.add_argument("--reload", action="store_true",
                        help="save each row's model, load it back and check it generates the "
                             "same tokens (for rows that change the architecture)")
    parser.add_argument("--diagnostics", action="store_true",
                        help="also print each quantized row's worst layers by relative error")
    args = parser.parse_args(argv)
    config = MeasureConfig(eval_windows=args.windows, speed_scope="decode_b1")
    reference = load_model(args.model, device=args.device)
    baseline = baseline_outputs(reference, config)
    calibration = calibration_data(reference.tokenizer, load_corpus(config.corpus),
                                   samples=args.calibration_samples, seq_len=512)
    rows, skipped, diagnostics = [], [], []
    for name in args.rows.split(","):
        try:
            result, diagnosis = _run_row(name, recipes[name], args, config, baseline, calibration,
                                         reference, diagnose=args.diagnostics)
        except InvalidRecipeError as error:
            skipped.append(f"{name}: {error}")
            continue
        rows.append(result)
        if diagnosis:
            diagnostics.append(diagnosis)
        report.progress(f"measured {name}")
    measured = [result.row() for result in rows]
    report.print_measured(measured, COLUMNS)
    print(f"calibration: {calibration.protocol}")
    for line in skipped:
        print(f"not run: {line}")
    for result in rows:
        for note in result.notes:
            if note.startswith("reload:"):
                print(f"{result.name} {note}")
    for text in diagnostics:
        print(f"\n{text}")
    report.write_json(measured, args.json)
    return 0
