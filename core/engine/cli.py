"""`optatlas measure`: measure one model and print a table (and optionally write JSON)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The measure command's options (kept here so the engine owns its defaults)."""
    parser.add_argument("--model", default="default",
                        help="'default' (bundled SmolLM2-135M-Instruct), a Hugging Face id "
                             "(optionally @revision), a local folder, or 'tiny'")
    parser.add_argument(
        "--device", default=None, help="cpu, cuda or cuda:N (default: CUDA if present)"
    )
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--corpus", default="pydoc", help="pydoc (built in), wikitext2 or c4")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--stride", type=int, default=None)
    parser.add_argument("--windows", type=int, default=16, help="evaluation windows")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per speed figure")
    parser.add_argument("--no-speed", action="store_true", help="quality, memory and size only")
    parser.add_argument("--no-compile", action="store_true",
                        help="time decode on the static cache without compiling its step "
                             "(no compile wait, more framework overhead in the figures)")
    parser.add_argument("--no-cache", action="store_true", help="ignore and do not write caches")
    parser.add_argument("--json", type=Path, help="write the measurement here as JSON")


def run(args: argparse.Namespace) -> int:
    """Load, measure, print; errors a user can act on become one clear line."""
    import transformers

    from core.engine.data import CorpusUnavailableError
    from core.engine.measure import measure_model
    from core.engine.measure_config import MeasureConfig
    from core.engine.model_refs import ModelNotFoundError
    from core.engine.models import load_model

    # One progress bar, ours: the library's per-file bars would interleave with it.
    transformers.utils.logging.disable_progress_bar()
    started = time.perf_counter()
    bar = tqdm(total=100, bar_format="{desc:<28}{bar}| {elapsed}", file=sys.stderr)

    def progress(stage: str, fraction: float) -> None:
        bar.set_description(stage[:28])
        if stage == "quality":
            bar.n = int(fraction * 100)
        bar.refresh()

    try:
        config = MeasureConfig(
            corpus=args.corpus,
            seq_len=args.seq_len,
            stride=args.stride,
            eval_windows=args.windows,
            repeats=args.repeats,
            compile_decode=not args.no_compile,
            measure_speed=not args.no_speed,
        )
        bar.set_description("loading model")
        loaded = load_model(
            args.model,
            device=args.device,
            dtype=args.dtype,
            progress=lambda message: progress(message, 0.0),
        )
        result = measure_model(loaded, config, progress=progress, use_cache=not args.no_cache)
    except (ModelNotFoundError, CorpusUnavailableError, ValueError) as error:
        bar.close()
        print(f"error: {error}", file=sys.stderr)
        return 2
    bar.n = 100
    bar.close()
    print(result.table())
    print(f"  model load {loaded.load_s:.1f} s; total {time.perf_counter() - started:.1f} s")
    if args.json:
        args.json.write_text(json.dumps([result.row()], indent=2))
        print(f"  wrote {args.json}")
    return 0
