"""A GGUF export run in llama.cpp itself (through the optional `llama-cpp-python` package):
its prefill and batch-1 decode speed on this machine, timed like the engine times a model
(a prompt of the protocol's length from the evaluation text, greedy decoding, the median of
five repeats after a warm-up), so a CPU user sees the speed of the file they will deploy.
Without the package the export is still written and checked; only this figure is missing."""

from __future__ import annotations

import statistics
import time
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

PACKAGE = "llama-cpp-python"
REPEATS = 5


def available() -> bool:
    """Whether llama-cpp-python is installed (`pip install 'optatlas[llamacpp]'`)."""
    return find_spec("llama_cpp") is not None


def has_merges(path: Path) -> bool:
    """Whether the GGUF file lists BPE merges (llama.cpp refuses a BPE vocabulary without)."""
    from gguf import GGUFReader

    field = GGUFReader(str(path)).fields.get("tokenizer.ggml.merges")
    return field is not None and len(field.data) > 0


def _median_seconds(run, repeats: int) -> float:
    run()  # warm-up: page in the weights, size the buffers
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def measure(path: Path, text: str, *, prefill_tokens: int = 512, prompt_tokens: int = 64,
            new_tokens: int = 32, threads: int | None = None,
            repeats: int = REPEATS) -> dict:
    """Prefill ms of a `prefill_tokens` prompt and batch-1 decode tokens/s of `new_tokens`
    greedy tokens after a `prompt_tokens` prompt, both cut from `text`."""
    import torch
    from llama_cpp import Llama

    threads = threads or torch.get_num_threads()
    if not has_merges(path):
        raise ValueError("llama.cpp needs BPE merges in the file, and this tokenizer has none "
                         "(a byte-only vocabulary)")
    llm = Llama(model_path=str(path), n_ctx=prefill_tokens + new_tokens + 8, n_batch=512,
                n_threads=threads, n_threads_batch=threads, verbose=False)
    ids = llm.tokenize(text.encode(), add_bos=False)
    if len(ids) < prefill_tokens:
        raise ValueError(f"the text has {len(ids)} tokens, fewer than {prefill_tokens}")

    def prefill() -> None:
        llm.reset()
        llm.eval(ids[:prefill_tokens])

    def decode() -> None:
        llm.reset()
        llm.eval(ids[:prompt_tokens])
        for _ in range(new_tokens):
            llm.eval([llm.sample(top_k=1, temp=0.0)])

    prefill_s = _median_seconds(prefill, repeats)
    # The decode run includes its prompt; take the prompt's own time out of it.
    prompt_s = _median_seconds(lambda: (llm.reset(), llm.eval(ids[:prompt_tokens])), repeats)
    decode_s = _median_seconds(decode, repeats) - prompt_s
    return {"engine": "llama.cpp", "package": f"{PACKAGE} {metadata.version(PACKAGE)}",
            "threads": threads, "prefill_ms": prefill_s * 1000,
            "decode_tok_s_b1": new_tokens / decode_s,
            "protocol": {"prefill_tokens": prefill_tokens, "decode_prompt_tokens": prompt_tokens,
                         "decode_new_tokens": new_tokens, "repeats": repeats,
                         "statistic": "median", "decoding": "greedy"}}
