"""The model side of the chooser's arithmetic: a decoder's shape from its config.json (no
weights loaded), or one of the size presets, with mixtures of experts counted by their
total and active experts.

Each preset is the config of a published model, named with it, so its figures can be
checked against the original: the parameters below are those configs' own values."""

from __future__ import annotations

from dataclasses import dataclass

from core.engine.model_shapes import ModelShape


@dataclass(frozen=True)
class ChooserModel:
    """A model as the chooser counts it: its decoder shape, and for a mixture of experts how
    many experts each layer holds and how many a token goes through."""

    name: str
    shape: ModelShape
    experts: int = 1
    active_experts: int = 1
    source: str = ""

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    def _mlp_parameters(self) -> int:
        return 3 * self.shape.hidden * self.shape.intermediate

    def _attention_parameters(self) -> int:
        shape = self.shape
        return 2 * shape.hidden * (shape.heads + shape.kv_heads) * shape.head_dim

    def parameters(self) -> int:
        """Every parameter: attention, each expert's MLP (and its router), embeddings, norms."""
        shape = self.shape
        router = shape.hidden * self.experts if self.is_moe else 0
        per_layer = self._attention_parameters() + self.experts * self._mlp_parameters() + router
        return shape.layers * per_layer + self._embedding_parameters() + self._norm_parameters()

    def active_parameters(self) -> int:
        """The parameters one token goes through (a mixture of experts uses only some)."""
        shape = self.shape
        router = shape.hidden * self.experts if self.is_moe else 0
        per_layer = (self._attention_parameters() + self.active_experts * self._mlp_parameters()
                     + router)
        return shape.layers * per_layer + self._embedding_parameters() + self._norm_parameters()

    def _embedding_parameters(self) -> int:
        return self.shape.vocab * self.shape.hidden * (1 if self.shape.tied_embeddings else 2)

    def _norm_parameters(self) -> int:
        return (2 * self.shape.layers + 1) * self.shape.hidden


def _shape(architecture: str, hidden: int, intermediate: int, layers: int, heads: int,
           kv_heads: int, vocab: int, tied: bool, positions: int,
           head_dim: int | None = None) -> ModelShape:
    return ModelShape(architecture=architecture, hidden=hidden, intermediate=intermediate,
                      layers=layers, heads=heads, kv_heads=kv_heads,
                      head_dim=head_dim or hidden // heads, vocab=vocab,
                      tied_embeddings=tied, max_positions=positions)


# The size presets, each the config.json of the published model it names.
PRESETS: dict[str, ChooserModel] = {
    "0.5B": ChooserModel("0.5B (Qwen2.5-0.5B)", _shape("qwen2", 896, 4864, 24, 14, 2, 151_936,
                                                       True, 32_768),
                         source="config.json of Qwen/Qwen2.5-0.5B"),
    "1B": ChooserModel("1B (Llama-3.2-1B)", _shape("llama", 2048, 8192, 16, 32, 8, 128_256,
                                                   True, 131_072, head_dim=64),
                       source="config.json of meta-llama/Llama-3.2-1B"),
    "3B": ChooserModel("3B (Llama-3.2-3B)", _shape("llama", 3072, 8192, 28, 24, 8, 128_256,
                                                   True, 131_072, head_dim=128),
                       source="config.json of meta-llama/Llama-3.2-3B"),
    "8B": ChooserModel("8B (Llama-3.1-8B)", _shape("llama", 4096, 14_336, 32, 32, 8, 128_256,
                                                   False, 131_072),
                       source="config.json of meta-llama/Llama-3.1-8B"),
    "14B": ChooserModel("14B (Qwen2.5-14B)", _shape("qwen2", 5120, 13_824, 48, 40, 8, 152_064,
                                                    False, 131_072),
                        source="config.json of Qwen/Qwen2.5-14B"),
    "32B": ChooserModel("32B (Qwen2.5-32B)", _shape("qwen2", 5120, 27_648, 64, 40, 8, 152_064,
                                                    False, 131_072),
                        source="config.json of Qwen/Qwen2.5-32B"),
    "70B": ChooserModel("70B (Llama-3.1-70B)", _shape("llama", 8192, 28_672, 80, 64, 8,
                                                      128_256, False, 131_072),
                        source="config.json of meta-llama/Llama-3.1-70B"),
    "47B-MoE": ChooserModel("47B total / 13B active mixture of experts (Mixtral-8x7B)",
                            _shape("mixtral", 4096, 14_336, 32, 32, 8, 32_000, False, 32_768),
                            experts=8, active_experts=2,
                            source="config.json of mistralai/Mixtral-8x7B-v0.1"),
}

# Config keys of mixtures of experts: experts per layer, and experts per token.
_EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")
_ACTIVE_KEYS = ("num_experts_per_tok", "num_experts_per_token", "moe_top_k")


class UnknownModelShape(ValueError):
    """A config the chooser cannot count (an architecture whose layers it does not know)."""


def model_from_config(name: str, config: dict) -> ChooserModel:
    """The chooser's model of a config.json (Llama-like decoders and their mixtures of
    experts); UnknownModelShape says what it could not read."""
    experts = next((int(config[k]) for k in _EXPERT_KEYS if config.get(k)), 1)
    active = next((int(config[k]) for k in _ACTIVE_KEYS if config.get(k)), 1)
    readable = dict(config)
    if experts > 1:
        # Read the attention and expert widths as a Llama-like layer's.
        readable["model_type"] = "llama"
        readable.setdefault("intermediate_size", config.get("moe_intermediate_size"))
    shape = ModelShape.from_config(readable)
    if shape is None:
        raise UnknownModelShape(
            f"{name}: its config ({config.get('model_type', 'no model_type')!s:.40}) is not a "
            "decoder whose layers the chooser knows (Llama-like, Qwen, Mistral, Gemma, "
            "Mixtral-like mixtures); choose a size preset instead")
    if experts > 1:
        shape = ModelShape(**{**shape.__dict__, "architecture": str(config.get("model_type"))})
    return ChooserModel(name, shape, experts=max(1, experts),
                        active_experts=max(1, min(active, experts)), source="its config.json")


# The names the chooser gives the models OptAtlas ships, which its measured runs carry.
_KNOWN_NAMES = {"default": "SmolLM2-135M-Instruct (the bundled model)",
                "tiny": "the tiny random test model"}


def resolve_model(ref: str, *, ask_hub: bool = True) -> ChooserModel:
    """The chooser's model for what a user typed: a size preset ("8B"), the bundled model
    ("default"), a local folder or a Hugging Face id whose config.json is read (never its
    weights). UnknownModelShape says what could not be had, and what to do instead."""
    from core.engine.model_configs import lookup_config
    from core.engine.model_refs import ModelNotFoundError, parse_model_ref

    ref = (ref or "").strip()
    if ref in PRESETS:
        return PRESETS[ref]
    try:
        spec = parse_model_ref(ref)
    except ModelNotFoundError as error:
        raise UnknownModelShape(f"{error}; or choose a size preset "
                                f"({', '.join(PRESETS)})") from None
    lookup = lookup_config(spec, ask_hub=ask_hub)
    if lookup.config is None:
        raise UnknownModelShape(
            f"the config.json of {spec.name[:120]} could not be read: {lookup.detail}; choose "
            f"a size preset ({', '.join(PRESETS)}) or a folder that holds its config.json")
    model = model_from_config(_KNOWN_NAMES.get(spec.kind, spec.name), lookup.config)
    source = {"default": "the bundled model's config", "tiny": "the tiny model's config"}
    return ChooserModel(model.name, model.shape, model.experts, model.active_experts,
                        source=source.get(spec.kind, lookup.detail))
