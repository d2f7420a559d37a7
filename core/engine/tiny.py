"""Tiny randomly initialised causal LMs with a byte-level tokenizer: seconds to build, no files."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from core.engine.model_shapes import TINY_CONFIG

EOS = "<|endoftext|>"


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A tokenizer whose vocabulary is the 256 bytes plus an end-of-text token."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    vocab[EOS] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOS, pad_token=EOS)
    tokenizer.name_or_path = "optatlas/byte-tokenizer"
    return tokenizer


def tiny_model(
    name: str = "tiny", *, seed: int = 0
) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """A 2-layer Llama with grouped-query attention; `tiny:SEED` picks the random seed."""
    if ":" in name:
        seed = int(name.split(":", 1)[1])
    tokenizer = byte_tokenizer()
    shape = {key: value for key, value in TINY_CONFIG.items() if key != "model_type"}
    if shape["vocab_size"] != len(tokenizer):
        raise RuntimeError("TINY_CONFIG's vocab_size must equal the byte tokenizer's size")
    config = LlamaConfig(
        **shape,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer
