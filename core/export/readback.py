"""Reading an export back with its format's own reader in this environment, and scoring it
on the job's protocol: transformers' GGUF loader for GGUF (tokenizer included, read from the
file), compressed-tensors decompressing into transformers, transformers for safetensors."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import torch

from core.engine.data import evaluation_windows, load_corpus
from core.engine.measure_config import MeasureConfig
from core.engine.quality import evaluate_quality

READERS = {
    "gguf": "transformers' GGUF loader (gguf package)",
    "compressed-tensors": "compressed-tensors through transformers",
    "safetensors": "transformers",
}


@contextmanager
def _quiet():
    # Loaders print progress bars and notices a job log does not need.
    names = ("transformers", "compressed_tensors")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def read_back(fmt: str, path: Path):
    """(model, tokenizer) as the format's reader gives them, in float32 on the CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _quiet():
        if fmt == "gguf":
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                         dtype=torch.float32)
        elif fmt == "compressed-tensors":
            from transformers import CompressedTensorsConfig

            tokenizer = AutoTokenizer.from_pretrained(path)
            # Weight-only checkpoints decompress into plain Linears. With int8 activations
            # (W8A8) the package's own quantized forward runs instead: decompressing would
            # drop the activation rounding the run measured.
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=torch.float32,
                quantization_config=CompressedTensorsConfig(
                    dequantize=not quantizes_activations(path)))
        else:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model.eval(), tokenizer


def quantizes_activations(folder: Path) -> bool:
    """Whether a compressed-tensors checkpoint quantizes its layers' inputs."""
    import json

    config = json.loads((folder / "config.json").read_text()).get("quantization_config") or {}
    return any(group.get("input_activations")
               for group in (config.get("config_groups") or {}).values())


def perplexity(model, tokenizer, config: MeasureConfig, *, progress=None) -> tuple[float, int]:
    """Perplexity on `config`'s evaluation windows, and how many tokens were scored."""
    windows = evaluation_windows(tokenizer, load_corpus(config.corpus), seq_len=config.seq_len,
                                 max_windows=config.eval_windows, stride=config.stride,
                                 kl_top_k=config.kl_top_k)
    quality, _ = evaluate_quality(model, windows, device=torch.device("cpu"),
                                  compare_with_self=True, progress=progress)
    return quality.ppl, windows.protocol.token_count


def token_ids_agree(tokenizer, reference, text: str) -> bool:
    """Whether the read-back tokenizer cuts `text` into the ids the job's tokenizer did."""
    return tokenizer(text).input_ids == reference(text).input_ids
