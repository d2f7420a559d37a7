"""The engine's own speed on this machine: evaluation throughput, and decode against the roofline.

    python bench/measure.py [--model default] [--device cpu] [--json PATH]

Rows (shared metric vocabulary): `eval` (eval_tok_s of the perplexity pass), `decode_b1` and
`decode_b8` (decode tokens/s beside the roofline bound for that batch, and their ratio).
All rows come from one process, measured side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine import roofline  # noqa: E402
from core.engine.data import evaluation_windows, load_corpus  # noqa: E402
from core.engine.devices import describe  # noqa: E402
from core.engine.measure import MeasureConfig, text_prompts  # noqa: E402
from core.engine.models import load_model  # noqa: E402
from core.engine.quality import evaluate_quality  # noqa: E402
from core.engine.speed import decode_timing, tokens_per_second  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", type=Path)
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
    print(f"{'row':<10}{'measured tok/s':>16}{'roofline tok/s':>16}{'ratio':>8}")
    for row in rows:
        measured = row.get("eval_tok_s") or row.get("decode_tok_s_b1") or row.get("decode_tok_s_b8")
        bound = row.get("roofline_decode_tok_s")
        ratio = row.get("roofline_ratio")
        print(f"{row['name']:<10}{measured:>16.1f}"
              f"{(f'{bound:.1f}' if bound else '—'):>16}{(f'{ratio:.2f}' if ratio else '—'):>8}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
