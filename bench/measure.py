"""The engine's own speed on this machine: evaluation throughput, and decode against the roofline.

    python -m bench.measure [--model default] [--device cpu] [--json PATH]

Rows (shared metric vocabulary): `eval` (eval_tok_s of the perplexity pass), `decode_b1` and
`decode_b8` (decode tokens/s beside the roofline bound for that batch, and their ratio).
All rows come from one process, measured side by side.
"""

from __future__ import annotations

import sys

from bench import report
from core.engine import roofline
from core.engine.data import evaluation_windows, load_corpus
from core.engine.decode_speed import text_prompts
from core.engine.devices import describe
from core.engine.measure_config import MeasureConfig
from core.engine.models import load_model
from core.engine.quality import evaluate_quality
from core.engine.speed import decode_timing, tokens_per_second

MEASURED = ("eval_tok_s", "decode_tok_s_b1", "decode_tok_s_b8")  # one per row


def _print_table(rows: list[dict]) -> None:
    """Each row's measured rate beside its roofline bound and their ratio."""
    shown = [{**row, "measured": next(row[key] for key in MEASURED if key in row)}
             for row in rows]
    report.print_table(shown, ("measured", "roofline_decode_tok_s", "roofline_ratio"),
                       headers={"measured": "measured tok/s",
                                "roofline_decode_tok_s": "roofline tok/s",
                                "roofline_ratio": "ratio"},
                       formats={"measured": report.fixed(1),
                                "roofline_decode_tok_s": report.fixed(1),
                                "roofline_ratio": report.fixed(2)})


def main() -> int:
    """Measure evaluation and decode throughput and print (and write) the rows."""
    parser = report.parser(__doc__)
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    config = MeasureConfig()
    loaded = load_model(args.model, device=args.device)
    windows = evaluation_windows(
        loaded.tokenizer, load_corpus(config.corpus), seq_len=config.seq_len,
        max_windows=config.eval_windows,
    )
    protocol = {**windows.protocol.to_dict(), "device": describe(loaded.device)}
    quality, _ = evaluate_quality(loaded.model, windows, device=loaded.device)
    rows = [{"name": "eval", "eval_tok_s": quality.eval_tok_s, "execution": "real",
             "protocol": protocol}]
    bandwidth = roofline.measure_bandwidth(loaded.device)
    context = config.decode_prompt_tokens + config.decode_new_tokens // 2
    for batch in (1, 8):
        prompts = text_prompts(windows.input_ids, config.decode_prompt_tokens, batch)
        timing = decode_timing(loaded.model, prompts, new_tokens=config.decode_new_tokens,
                               device=loaded.device, repeats=config.repeats)
        rate, _ = tokens_per_second(timing, batch * config.decode_new_tokens)
        step = roofline.decode_step_bytes(loaded.model, batch=batch, context=context,
                                          kv_element_size=4)
        bound = roofline.roofline_decode_tok_s(bandwidth, step, batch=batch)
        rows.append({
            "name": f"decode_b{batch}",
            f"decode_tok_s_b{batch}": rate,
            "roofline_decode_tok_s": bound,
            "roofline_ratio": rate / bound,
            "bandwidth_gb_s": bandwidth,
            "execution": "real",
            "protocol": protocol,
        })
    print(f"{loaded.spec.label} on {describe(loaded.device)}")
    _print_table(rows)
    report.write_json(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
