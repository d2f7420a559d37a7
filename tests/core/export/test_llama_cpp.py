"""A GGUF export run in llama.cpp (the optional llama-cpp-python package; skipped without
it): llama.cpp reads the file OptAtlas wrote, predicts what the job's model predicts, and
its speed is kept with the export."""

from __future__ import annotations

import pytest
import torch

import core.quantization  # noqa: F401  (registers the quantizers)
from core.engine.measure_config import MeasureConfig
from core.engine.models import load_model
from core.export import llama_cpp_speed
from core.export.exports import export_model, sample_text
from core.recipes import build_config
from core.techniques.context import ApplyContext
from core.techniques.registry import apply

pytestmark = pytest.mark.skipif(not llama_cpp_speed.available(),
                                reason="needs the optional llama-cpp-python package")
PROTOCOL = MeasureConfig(eval_windows=1, seq_len=128, measure_speed=False)


def _bpe_model():
    """A tiny Llama with a byte-level BPE tokenizer trained here on the corpus (llama.cpp
    needs merges, which the tiny model's byte-only tokenizer has none of)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator([sample_text(PROTOCOL.corpus)[:20000]], trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        eos_token_id=tokenizer.eos_token_id)).eval()
    return model, tokenizer


def test_a_byte_only_vocabulary_is_named_as_why_llama_cpp_cannot_run_it(tmp_path):
    tiny = load_model("tiny")
    apply(tiny.model, build_config("rtn", {"bits": 4, "group_size": 32}),
          ApplyContext(torch.device("cpu")))
    exported = export_model(tiny.model, tiny.tokenizer, "gguf", tmp_path / "gguf",
                            name="test", measure=PROTOCOL, reference_ppl=None)
    assert "needs BPE merges" in exported.details["engine"]["error"]


def test_llama_cpp_reads_the_export_predicts_as_the_job_and_its_speed_is_kept(tmp_path):
    from llama_cpp import Llama

    model, tokenizer = _bpe_model()
    apply(model, build_config("rtn", {"bits": 8, "group_size": None, "symmetric": True}),
          ApplyContext(torch.device("cpu")))
    exported = export_model(model, tokenizer, "gguf", tmp_path / "gguf",
                            name="test", measure=PROTOCOL, reference_ppl=None)
    engine = exported.details["engine"]
    assert "error" not in engine, engine.get("error")
    assert engine["engine"] == "llama.cpp" and engine["decode_tok_s_b1"] > 0
    assert engine["prefill_ms"] > 0
    llm = Llama(model_path=str(exported.path), n_ctx=256, logits_all=True, verbose=False)
    ids = tokenizer(sample_text(PROTOCOL.corpus)[:400]).input_ids[:64]
    assert llm.tokenize(tokenizer.decode(ids).encode(), add_bos=False) == ids
    llm.eval(ids)
    theirs = torch.tensor(llm.scores[: len(ids)]).argmax(-1)
    with torch.no_grad():
        ours = model(torch.tensor([ids])).logits[0].argmax(-1)
    # Rotary layout, names and norms all have to be right for the two to agree.
    assert (theirs == ours).float().mean() > 0.9
