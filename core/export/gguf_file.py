"""GGUF for llama.cpp, written with the `gguf` package: Llama-family models, their quantized
layers in the GGML block type that holds the job's own grid where one does, and the
tokenizer, so llama.cpp and transformers' GGUF loader can both read the file.

GGML's 4-bit blocks hold 32 weights with a float16 scale: Q4_0 stores (q - 8) * d (a
symmetric grid), Q4_1 stores q * d + m (an asymmetric one), Q8_0 stores q * d (symmetric,
8-bit). A grid of groups that are multiples of 32 (or one group a row) maps onto these
blocks exactly, only its scales rounded to float16. A grid they cannot hold (a column order
of its own, as GPTQ's act_order makes; another bit width; groups that split a block) is
re-quantized from the job's rounded weights by gguf's own quantizer, and the export says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from gguf import GGMLQuantizationType, GGUFWriter
from gguf.quants import quantize

from core.export.layer_grids import GridLayer

BLOCK = 32
ARCHITECTURE = "llama"
# transformers' model types that llama.cpp runs as its "llama" architecture.
LLAMA_TYPES = ("llama", "mistral")
# GGUF's file types (llama.cpp's LLAMA_FTYPE), by the type most weights take.
FILE_TYPES = {GGMLQuantizationType.Q4_0: 2, GGMLQuantizationType.Q4_1: 3,
              GGMLQuantizationType.Q8_0: 7, GGMLQuantizationType.F16: 1}
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3

LAYER_NAMES = {
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
TOP_NAMES = {"model.embed_tokens": "token_embd", "model.norm": "output_norm",
             "lm_head": "output"}


class GGUFExportError(ValueError):
    """The model cannot be written as GGUF here; the message says why."""


@dataclass
class GGUFReport:
    """What the file holds: each tensor's GGML type, and which layers were re-quantized."""

    types: dict[str, str] = field(default_factory=dict)
    requantized: dict[str, str] = field(default_factory=dict)  # layer -> why

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for kind in self.types.values():
            counts[kind] = counts.get(kind, 0) + 1
        return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))


def gguf_name(hf_name: str) -> str:
    """The GGUF tensor name of a transformers Llama parameter."""
    module, _, kind = hf_name.rpartition(".")
    if module in TOP_NAMES:
        return f"{TOP_NAMES[module]}.{kind}"
    parts = module.split(".")
    if len(parts) >= 4 and parts[:2] == ["model", "layers"]:
        inner = ".".join(parts[3:])
        if inner in LAYER_NAMES:
            return f"blk.{parts[2]}.{LAYER_NAMES[inner]}.{kind}"
    raise GGUFExportError(f"no GGUF name for the tensor {hf_name}")


def rope_rows(rows: np.ndarray, heads: int) -> np.ndarray:
    """Llama's q and k rows in GGUF's order: llama.cpp applies rotary embeddings to adjacent
    pairs, transformers to the two halves of each head, so each head's rows interleave its
    halves (transformers' GGUF loader undoes this on reading)."""
    head_rows = rows.shape[0] // heads
    shaped = rows.reshape(heads, 2, head_rows // 2, *rows.shape[1:])
    return shaped.swapaxes(1, 2).reshape(rows.shape)


def _check_weight_only(layers: dict[str, GridLayer]) -> None:
    quantized_inputs = [name for name, layer in layers.items() if layer.activations]
    if quantized_inputs:
        raise GGUFExportError(
            "GGUF holds weights only: this run also rounded its activations to int8 (W8A8), "
            "which llama.cpp does its own way, so the read-back could not check the run; "
            "export it as compressed-tensors")


def _exact_blocks(layer: GridLayer) -> tuple[GGMLQuantizationType, str | None]:
    """The block type that holds `layer`'s grid as it is, or the type to re-quantize to and
    why."""
    fallback = (GGMLQuantizationType.Q8_0 if layer.bits > 4 else GGMLQuantizationType.Q4_0
                if layer.symmetric else GGMLQuantizationType.Q4_1)
    columns = layer.shape[1]
    size = layer.group_size or columns
    if layer.order is not None:
        return fallback, "its groups follow a column order of their own (act_order), which " \
            "GGML blocks cannot hold"
    if size % BLOCK or columns % BLOCK:
        return fallback, f"groups of {size} split GGML's blocks of {BLOCK}"
    if layer.bits == 4:
        return (GGMLQuantizationType.Q4_0 if layer.symmetric else GGMLQuantizationType.Q4_1), None
    if layer.bits == 8 and layer.symmetric:
        return GGMLQuantizationType.Q8_0, None
    return fallback, f"GGML has no block type for a {layer.bits}-bit " \
        f"{'symmetric' if layer.symmetric else 'asymmetric'} grid"


def _nibbles(levels: np.ndarray) -> np.ndarray:
    # GGML's 4-bit blocks: byte i holds weight i in its low half and weight i + 16 in its high.
    halves = levels.reshape(-1, 2, BLOCK // 2).astype(np.uint8)
    return halves[:, 0, :] | (halves[:, 1, :] << np.uint8(4))


def _f16_bytes(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float16).reshape(-1, 1).view(np.uint8)


def encode_exact(layer: GridLayer, kind: GGMLQuantizationType, rows_order=None) -> np.ndarray:
    """The layer's own levels and grid as GGML blocks of `kind` ([rows, bytes] uint8)."""
    rows, columns = layer.shape
    per_block = np.repeat(np.arange(columns // (layer.group_size or columns)),
                          (layer.group_size or columns) // BLOCK)
    scale = layer.scale.numpy()[:, per_block].reshape(-1)
    zero = layer.zero.numpy()[:, per_block].reshape(-1)
    levels = layer.levels.numpy()
    if rows_order is not None:
        levels, scale = rows_order(levels), rows_order(scale.reshape(rows, -1)).reshape(-1)
        zero = rows_order(zero.reshape(rows, -1)).reshape(-1)
    if kind == GGMLQuantizationType.Q8_0:
        signed = (levels.astype(np.int32) - 128).astype(np.int8).reshape(-1, BLOCK)
        blocks = np.concatenate([_f16_bytes(scale), signed.view(np.uint8)], axis=1)
    elif kind == GGMLQuantizationType.Q4_0:
        blocks = np.concatenate([_f16_bytes(scale), _nibbles(levels)], axis=1)
    else:  # Q4_1: value = q * d + m, with m the value at level 0
        blocks = np.concatenate([_f16_bytes(scale), _f16_bytes(-zero * scale),
                                 _nibbles(levels)], axis=1)
    return blocks.reshape(rows, -1)


def pre_tokenizer_name(pre: dict | None) -> str:
    """llama.cpp's name for how a transformers pre-tokenizer splits text before BPE:
    "gpt-2" for GPT-2's byte-level split, "smollm" for that with digits split one by one;
    "default" (llama.cpp's own) for anything else."""
    def byte_level(part: dict) -> bool:
        return part.get("type") == "ByteLevel" and part.get("use_regex", True)

    if not pre:
        return "default"
    if byte_level(pre):
        return "gpt-2"
    parts = pre.get("pretokenizers") or []
    if pre.get("type") == "Sequence" and len(parts) == 2 and byte_level(parts[1]) and \
            parts[0].get("type") == "Digits" and parts[0].get("individual_digits"):
        return "smollm"
    return "default"


def _tokenizer_fields(writer: GGUFWriter, tokenizer) -> None:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    model = None if backend is None else backend.model
    if model is None or type(model).__name__ != "BPE":
        raise GGUFExportError("GGUF export writes byte-level BPE tokenizers (GPT-2 style); "
                              f"this model's is {type(model).__name__ if model else 'not fast'}")
    whole = json.loads(backend.to_str())
    state = whole["model"]
    vocab = tokenizer.get_vocab()
    tokens = [None] * len(vocab)
    for token, index in vocab.items():
        if index < len(tokens):
            tokens[index] = token
    if any(t is None for t in tokens):
        raise GGUFExportError("the tokenizer's vocabulary has gaps in its token ids")
    special = set(tokenizer.all_special_tokens)
    merges = [m if isinstance(m, str) else " ".join(m) for m in state.get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre_tokenizer_name(whole.get("pre_tokenizer")))
    writer.add_token_list(tokens)
    writer.add_token_types([TOKEN_CONTROL if t in special else TOKEN_NORMAL for t in tokens])
    # Scores: a reader derives merges from them when the list of merges is empty (a
    # byte-only vocabulary); earlier tokens rank first, as BPE vocabularies are ordered.
    writer.add_token_scores([-float(i) for i in range(len(tokens))])
    if merges:
        writer.add_token_merges(merges)
    for kind in ("bos", "eos", "pad", "unk"):
        index = getattr(tokenizer, f"{kind}_token_id", None)
        if index is not None:
            getattr(writer, f"add_{'unk' if kind == 'unk' else kind}_token_id")(int(index))
    writer.add_add_bos_token(False)
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, str):
        writer.add_chat_template(template)


def _rope_theta(config) -> float:
    parameters = getattr(config, "rope_parameters", None) or {}
    return float(parameters.get("rope_theta", getattr(config, "rope_theta", 10000.0)))


def _check_architecture(config) -> None:
    if config.model_type not in LLAMA_TYPES:
        raise GGUFExportError(f"GGUF export writes Llama-family models ({', '.join(LLAMA_TYPES)}); "
                              f"this one is {config.model_type}")
    parameters = getattr(config, "rope_parameters", None) or {}
    scaling = parameters.get("rope_type", "default") if parameters else \
        (getattr(config, "rope_scaling", None) or {}).get("rope_type", "default")
    if scaling not in ("default", None):
        raise GGUFExportError(f"GGUF export does not write {scaling} rope scaling")
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise GGUFExportError("GGUF export writes Llama layers without biases")


def write_gguf(config, tokenizer, state: dict[str, torch.Tensor],
               layers: dict[str, GridLayer], path: Path, *, name: str) -> GGUFReport:
    """Write a GGUF file of the model whose float tensors are `state` and whose quantized
    layers are `layers` (their own grids where a block type holds them)."""
    _check_architecture(config)
    _check_weight_only(layers)
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    writer = GGUFWriter(str(path), ARCHITECTURE)
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(config.vocab_size)
    _tokenizer_fields(writer, tokenizer)
    report = GGUFReport()
    tied = getattr(config, "tie_word_embeddings", False)
    for key, tensor in state.items():
        module = key.rpartition(".")[0]
        if tied and module == "lm_head":
            continue  # llama.cpp reads a tied head from token_embd
        target = gguf_name(key)
        heads_of = heads if ".attn_q." in target else kv_heads if ".attn_k." in target else None
        reorder = (lambda rows, h=heads_of: rope_rows(rows, h)) if heads_of else None
        if module in layers:
            data, kind = _quantized(layers[module], module, report, reorder)
        elif tensor.dim() == 1:
            data, kind = tensor.float().numpy(), GGMLQuantizationType.F32
        else:
            values = tensor.float().numpy()
            data, kind = (reorder(values) if reorder else values).astype(np.float16), \
                GGMLQuantizationType.F16
        report.types[target] = kind.name
        if kind in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
            writer.add_tensor(target, data)
        else:
            writer.add_tensor(target, data, raw_dtype=kind)
    quantized = [GGMLQuantizationType[k] for k in report.types.values()
                 if k not in ("F32", "F16")]
    main = max(set(quantized), key=quantized.count) if quantized else GGMLQuantizationType.F16
    writer.add_file_type(FILE_TYPES.get(main, 1))
    writer.add_quantization_version(2)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return report


def _quantized(layer: GridLayer, module: str, report: GGUFReport, reorder):
    kind, why = _exact_blocks(layer)
    if why is None:
        return encode_exact(layer, kind, reorder), kind
    report.requantized[module] = why
    values = layer.weight().numpy()
    return quantize(reorder(values) if reorder else values, kind), kind
