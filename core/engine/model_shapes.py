"""A model's shape read from its config alone (no weights, no torch): layer count, widths,
heads, and the Linear layers a technique would touch with their input and output sizes.

The web app checks a job against it before queueing (a group size that does not divide a
layer's input dimension, a layer drop that would remove nothing), and estimates its time
and memory from the parameter count."""

from __future__ import annotations

from dataclasses import dataclass

# Architectures whose decoder layers carry the Llama names (self_attn.q_proj ... mlp.down_proj)
# and widths read from the standard config keys. Others are not checked, and say so.
LLAMA_LIKE = frozenset({
    "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "granite",
    "olmo", "olmo2", "smollm3", "cohere", "stablelm", "helium", "glm",
})

# The tiny random test model (core/engine/tiny.py builds it from these); its byte-level
# tokenizer has 257 tokens.
TINY_CONFIG = {
    "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "max_position_embeddings": 1024, "tie_word_embeddings": False, "vocab_size": 257,
}

# The bundled SmolLM2-135M-Instruct, as its GGUF file's metadata describes it (checked
# against the file by tests/core/engine/test_model_shapes.py).
BUNDLED_CONFIG = {
    "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
    "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
    "max_position_embeddings": 8192, "tie_word_embeddings": True, "vocab_size": 49152,
}


@dataclass(frozen=True)
class LinearShape:
    """One Linear layer: a representative name (layer 0 stands for every decoder layer)."""

    name: str
    in_features: int
    out_features: int


@dataclass(frozen=True)
class ModelShape:
    """What a config.json says about a decoder-only transformer."""

    architecture: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool
    max_positions: int | None

    @classmethod
    def from_config(cls, config: dict) -> ModelShape | None:
        """The shape of a Llama-like config; None for an architecture not known here."""
        architecture = str(config.get("model_type", ""))
        if architecture not in LLAMA_LIKE:
            return None
        try:
            hidden = int(config["hidden_size"])
            heads = int(config.get("num_attention_heads", 1))
            return cls(
                architecture=architecture, hidden=hidden,
                intermediate=int(config.get("intermediate_size", 4 * hidden)),
                layers=int(config["num_hidden_layers"]), heads=heads,
                kv_heads=int(config.get("num_key_value_heads") or heads),
                head_dim=int(config.get("head_dim") or hidden // max(heads, 1)),
                vocab=int(config["vocab_size"]),
                tied_embeddings=bool(config.get("tie_word_embeddings", False)),
                max_positions=config.get("max_position_embeddings"),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def linears(self) -> list[LinearShape]:
        """The Linear layers of decoder layer 0 (every layer has the same) and the head."""
        prefix = "model.layers.0"
        attention = self.heads * self.head_dim
        kv = self.kv_heads * self.head_dim
        return [
            LinearShape(f"{prefix}.self_attn.q_proj", self.hidden, attention),
            LinearShape(f"{prefix}.self_attn.k_proj", self.hidden, kv),
            LinearShape(f"{prefix}.self_attn.v_proj", self.hidden, kv),
            LinearShape(f"{prefix}.self_attn.o_proj", attention, self.hidden),
            LinearShape(f"{prefix}.mlp.gate_proj", self.hidden, self.intermediate),
            LinearShape(f"{prefix}.mlp.up_proj", self.hidden, self.intermediate),
            LinearShape(f"{prefix}.mlp.down_proj", self.intermediate, self.hidden),
            LinearShape("lm_head", self.hidden, self.vocab),
        ]

    def parameters(self) -> int:
        """Parameters of the whole model: the Linears, embeddings and RMS norms (two per
        layer and a final one)."""
        per_layer = sum(linear.in_features * linear.out_features
                        for linear in self.linears() if linear.name != "lm_head")
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        norms = (2 * self.layers + 1) * self.hidden
        return self.layers * per_layer + embeddings + norms


def targets(shape: ModelShape, skip: tuple[str, ...] = ()) -> list[LinearShape]:
    """The Linear layers a technique that leaves `skip` names alone would change."""
    return [linear for linear in shape.linears()
            if not any(part in linear.name for part in skip)]
