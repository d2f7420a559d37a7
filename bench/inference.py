"""Inference-time techniques on the bundled model: the same greedy decoding three ways.

    python bench/inference.py [--new-tokens 64] [--repeats 5] [--json PATH]

Rows (batch 1, a 64-token prompt from the evaluation split, greedy):
- `dynamic_cache`: transformers' default dynamic KV cache, eager PyTorch;
- `static_compile`: a static KV cache and the forward pass compiled by torch.compile (the
  compile itself is reported as compression_s and excluded from the timing); timed in the
  order dynamic, static, static, dynamic so drift cancels in decode_speedup_b1;
- `speculative`: transformers' assisted generation with a draft made from the target by
  removing half of its decoder layers (least important first); acceptance_rate and
  output_matches (its output against the target's greedy output) are reported.
Tokens/s here are new tokens over the whole generate call (the short prefill included).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.engine.data import load_corpus  # noqa: E402
from core.engine.devices import describe, synchronize  # noqa: E402
from core.engine.metrics import format_value  # noqa: E402
from core.engine.models import load_model  # noqa: E402
from core.inference.speculative import compare_speculative  # noqa: E402
from core.pruning.structured import drop_layers, layer_importance  # noqa: E402
from core.techniques.calibration import calibration_data  # noqa: E402

PROMPT_TOKENS = 64
COLUMNS = ("decode_tok_s_b1", "decode_speedup_b1", "acceptance_rate", "output_matches",
           "compression_s")


def _generate_rate(model, prompt, new_tokens: int, repeats: int, **settings) -> float:
    device = prompt.device
    arguments = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens,
                 "do_sample": False, **settings}
    times = []
    with torch.no_grad():
        model.generate(prompt, **arguments)  # warm-up (and, compiled, the first compile)
        for _ in range(repeats):
            synchronize(device)
            start = time.perf_counter()
            model.generate(prompt, **arguments)
            synchronize(device)
            times.append(time.perf_counter() - start)
    return new_tokens / statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    loaded = load_model(args.model)
    model, device = loaded.model, loaded.device
    corpus = load_corpus("pydoc")
    ids = loaded.tokenizer(corpus.split("evaluation")[:4000], return_tensors="pt",
                           add_special_tokens=False).input_ids[:, :PROMPT_TOKENS].to(device)
    protocol = {"corpus": corpus.id, "split": "evaluation", "prompt_tokens": PROMPT_TOKENS,
                "new_tokens": args.new_tokens, "batch": 1, "decoding": "greedy",
                "repeats": args.repeats, "statistic": "median", "device": describe(device)}
    rows = []

    dynamic = lambda: _generate_rate(model, ids, args.new_tokens, args.repeats)  # noqa: E731
    first_dynamic = dynamic()
    eager_forward = model.forward
    start = time.perf_counter()
    model.forward = torch.compile(eager_forward, dynamic=False)
    static = lambda: _generate_rate(model, ids, args.new_tokens, args.repeats,  # noqa: E731
                                    cache_implementation="static")
    first_static = static()  # includes the compile in its warm-up
    compile_s = time.perf_counter() - start
    second_static = static()
    model.forward = eager_forward
    second_dynamic = dynamic()
    dynamic_rate = (first_dynamic + second_dynamic) / 2
    static_rate = (first_static + second_static) / 2
    rows.append({"name": "dynamic_cache", "decode_tok_s_b1": dynamic_rate,
                 "decode_speedup_b1": 1.0, "execution": "real", "protocol": protocol})
    rows.append({"name": "static_compile", "decode_tok_s_b1": static_rate,
                 "decode_speedup_b1": static_rate / dynamic_rate,
                 "compression_s": compile_s, "execution": "real", "protocol": protocol})

    calibration = calibration_data(loaded.tokenizer, corpus, samples=4, seq_len=512)
    draft = copy.deepcopy(model)
    scores = layer_importance(draft, calibration.input_ids)
    total = len(scores)
    drop = set(sorted(range(1, total - 1), key=lambda i: scores[i])[: total // 2])
    drop_layers(draft, drop)
    result = compare_speculative(model, draft, ids, new_tokens=args.new_tokens,
                                 repeats=args.repeats)
    rows.append({"name": "speculative", "decode_tok_s_b1": result.new_tokens / result.assisted_s,
                 "decode_speedup_b1": result.speedup, "acceptance_rate": result.acceptance_rate,
                 "output_matches": 1.0 if result.output_matches else 0.0, "execution": "real",
                 "protocol": {**protocol, "draft": f"target with {len(drop)} of {total} decoder "
                              "layers removed", "acceptance": "estimated from forward calls"}})

    print(f"{'row':<16}" + "".join(f" {c:>19}" for c in COLUMNS))
    for row in rows:
        print(f"{row['name']:<16}" + "".join(f" {format_value(c, row.get(c)):>19}" for c in COLUMNS))
    print(f"protocol: {protocol}")
    print(f"speculative: drafted {result.drafted}, accepted {result.accepted}, output "
          f"{'equals' if result.output_matches else 'DIFFERS FROM'} the target's greedy output")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
