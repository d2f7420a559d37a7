"""Inference-time techniques on the bundled model: the same greedy decoding run several ways,
each timed beside the default in one run.

    python -m bench.inference [--new-tokens 64] [--repeats 5] [--batches 1,4,8] [--json PATH]

Every row applies its recipe (the ones a job runs) to the one loaded model, measures batch-1
decoding through `generate` with it and with default generation beside it (order default,
row, row, default: decode_speedup_b1), checks the outputs match token for token, and removes
the option again. Decode time runs from the end of the first step (the prefill) to the last.
Rows:
- `dynamic_cache`: transformers' default dynamic KV cache, eager PyTorch (the reference; its
  decode_speedup_b1 is the reference timed against itself, which shows the noise);
- `static_compile`: a static KV cache and the forward compiled by torch.compile
  (compression_s: wall time of the first compiled generate call, compile included);
- `no_cache`: no KV cache; every step recomputes the whole sequence;
- `attention_eager`: the plain PyTorch attention instead of sdpa (the default);
- `speculative`: assisted generation, draft = the target without a quarter of its decoder
  layers (least important first), with acceptance_rate and output_matches;
- `prompt_lookup`: drafts copied from the prompt where the last tokens reappear.
Then a batch-size sweep (`sweep_<row>_b<batch>` rows, metric decode_tok_s) for the dynamic
cache and the compiled static cache (each new batch size compiles once, untimed).
"""

from __future__ import annotations

import sys
import time

import torch

import core.inference  # noqa: F401  (registers the inference-time techniques)
from bench import report
from core.engine.data import load_corpus
from core.engine.decode_speed import side_by_side
from core.engine.decoding import decoding_option, set_decoding
from core.engine.devices import describe
from core.engine.measure import decode_metrics_b1, decode_prompts
from core.engine.measure_config import MeasureConfig
from core.engine.metrics import format_value
from core.engine.models import load_model
from core.engine.speed import generate_decode
from core.recipes import build_config
from core.techniques.calibration import calibration_data
from core.techniques.context import ApplyContext
from core.techniques.registry import apply

COLUMNS = ("decode_tok_s_b1", "decode_speedup_b1", "acceptance_rate", "output_matches",
           "compression_s")
# (row, recipe, settings): the rows after the reference, each applied to the one model.
ROWS = (
    ("static_compile", "static-cache-compile", {"cache": "static", "compile": True}),
    ("no_cache", "static-cache-compile", {"cache": "off", "compile": False}),
    ("attention_eager", "attention-implementation", {"implementation": "eager"}),
    ("speculative", "speculative-decoding", {"draft_layers_kept": 0.75}),
    ("prompt_lookup", "prompt-lookup-decoding", {}),
)
# No cache is left out of the sweep: recomputing every sequence at every step takes minutes
# per point at larger batches on a CPU (its batch-1 cost is the no_cache row).
SWEEP = (
    ("dynamic_cache", "static-cache-compile", {"cache": "dynamic", "compile": False}),
    ("static_compile", "static-cache-compile", {"cache": "static", "compile": True}),
)


def _first_call_s(loaded, prompts, new_tokens: int) -> float:
    """Wall time of one generate call with the model's option (a compile happens here)."""
    option = decoding_option(loaded.model)
    start = time.perf_counter()
    with option.active(), torch.no_grad():
        loaded.model.generate(prompts, attention_mask=torch.ones_like(prompts),
                              max_new_tokens=new_tokens, do_sample=False,
                              pad_token_id=loaded.tokenizer.pad_token_id,
                              **option.generate_kwargs)
    return time.perf_counter() - start


def _restore(loaded, attention: str) -> None:
    set_decoding(loaded.model, None)
    loaded.model.set_attn_implementation(attention)


def _row(name, recipe, settings, loaded, config, context, protocol) -> dict:
    attention = loaded.model.config._attn_implementation
    applied = apply(loaded.model, build_config(recipe, settings), context)
    compile_s = None
    if settings.get("compile"):
        prompts = decode_prompts(loaded, config, 1).to(loaded.device)
        compile_s = _first_call_s(loaded, prompts, config.decode_new_tokens)
    if decoding_option(loaded.model) is None:
        # A forward-level change (the attention kernel): time it through default generation
        # beside the model as it was.
        row = _forward_change_row(loaded, config, attention)
    else:
        row, _ = decode_metrics_b1(loaded, config)
    _restore(loaded, attention)
    described = applied.details.get("decoding") or applied.details.get("after")
    if "draft" in applied.details:
        described = f"draft: {applied.details['draft']}"
    return {"name": name, **row, "compression_s": compile_s, "execution": applied.execution,
            "protocol": {**protocol, "recipe": recipe, "settings": settings,
                         "variant": described}}


def _forward_change_row(loaded, config, before: str) -> dict:
    prompts = decode_prompts(loaded, config, 1)
    after = loaded.model.config._attn_implementation

    def timed(kernel):
        loaded.model.set_attn_implementation(kernel)
        return generate_decode(loaded.model, prompts, new_tokens=config.decode_new_tokens,
                               device=loaded.device, repeats=config.repeats,
                               pad_token_id=loaded.tokenizer.pad_token_id)

    metrics: dict = {}
    side_by_side(lambda: timed(before), lambda: timed(after), metrics, {})
    return metrics


def _sweep(loaded, config, batches, protocol) -> list[dict]:
    rows = []
    context = ApplyContext(device=loaded.device)
    for name, recipe, settings in SWEEP:
        apply(loaded.model, build_config(recipe, settings), context)
        option = decoding_option(loaded.model)
        for batch in batches:
            prompts = decode_prompts(loaded, config, batch)
            with option.active():
                run = generate_decode(loaded.model, prompts, new_tokens=config.decode_new_tokens,
                                      device=loaded.device, repeats=config.repeats,
                                      generate_kwargs=option.generate_kwargs,
                                      pad_token_id=loaded.tokenizer.pad_token_id)
            rows.append({"name": f"sweep_{name}_b{batch}", "decode_tok_s": run.tokens_per_second[0],
                         "execution": "real", "protocol": {**protocol, "batch": batch,
                                                           "variant": option.label}})
        set_decoding(loaded.model, None)
    return rows


def _print_sweep(sweep: list[dict], batches: list[int]) -> None:
    """The sweep as one line per variant and one column per batch size (tokens/s)."""
    table = [{"name": name, **{f"b{row['protocol']['batch']}": row["decode_tok_s"]
                               for row in sweep if row["name"].startswith(f"sweep_{name}_b")}}
             for name, _, _ in SWEEP]
    columns = [f"b{batch}" for batch in batches]
    report.print_table(table, columns, formats=dict.fromkeys(columns, report.fixed(1)),
                       first="variant")


def main() -> int:
    """Time every row beside the reference, then the batch-size sweep; print (and write) both."""
    parser = report.parser(__doc__)
    parser.add_argument("--model", default="default")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", default="1,4,8",
                        help="batch sizes of the sweep (comma separated; empty: no sweep)")
    parser.add_argument("--rows", default=",".join(name for name, _, _ in ROWS),
                        help="rows after dynamic_cache (comma separated)")
    args = parser.parse_args()
    loaded = load_model(args.model)
    config = MeasureConfig(decode_new_tokens=args.new_tokens, repeats=args.repeats)
    corpus = load_corpus(config.corpus)
    protocol = {"corpus": corpus.id, "split": "evaluation",
                "prompt_tokens": config.decode_prompt_tokens, "new_tokens": args.new_tokens,
                "batch": 1, "decoding": "greedy", "repeats": args.repeats,
                "statistic": "median", "timed": "generate(), from the end of its first step",
                "device": describe(loaded.device)}
    calibration = calibration_data(loaded.tokenizer, corpus, samples=8,
                                   seq_len=512)
    context = ApplyContext(device=loaded.device, calibration=calibration)
    reference = ("dynamic_cache", "static-cache-compile", {"cache": "dynamic", "compile": False})
    wanted = [row for row in ROWS if row[0] in args.rows.split(",")]
    rows = []
    for spec in (reference, *wanted):
        rows.append(_row(*spec, loaded, config, context, protocol))
        speed = format_value("decode_tok_s_b1", rows[-1]["decode_tok_s_b1"])
        report.progress(f"measured {spec[0]}: {speed}")
    report.print_table(rows, COLUMNS)
    print(f"protocol: {protocol}")
    for row in rows:
        print(f"  {row['name']}: {row['protocol']['variant']}")
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    if batches:
        sweep = _sweep(loaded, config, batches, protocol)
        print(f"\nbatch-size sweep, decode tokens/s (all sequences), {args.new_tokens} new tokens:")
        _print_sweep(sweep, batches)
        rows += sweep
    report.write_json(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
