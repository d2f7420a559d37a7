"""The pruning configs: how much to prune, in which pattern, with which score. Their handlers
live in core/pruning. Torch-free, like every config module here."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from core.engine.model_shapes import ModelShape, targets
from core.recipes.base import (
    CalibratedConfig,
    LayerNames,
    TechniqueConfig,
    calibration_samples_field,
)
from core.recipes.shape_rules import (
    layers_dropped,
    pattern_problem,
    width_removed,
)

DEFAULT_SKIP = ("lm_head",)
SKIP_HELP = "layers left dense: any whose name contains an entry"
PATTERN_HELP = (
    "unstructured: any weight may go; N:M (2:4, 4:8): in every group of M consecutive input "
    "weights exactly N stay, the pattern sparse tensor cores accelerate (sparsity is then N/M)"
)
PATTERNS = ("unstructured", "2:4", "4:8")


def _pattern_problems(shape: ModelShape, pattern: str, skip: tuple[str, ...]) -> list[str]:
    problems = (pattern_problem(linear.in_features, pattern, linear.name)
                for linear in targets(shape, skip))
    return list(dict.fromkeys(p for p in problems if p))


def kept_per_group(pattern: str) -> tuple[int, int]:
    """(N kept, M group size) of an N:M pattern."""
    kept, group = pattern.split(":")
    return int(kept), int(group)


class PruningConfig(TechniqueConfig):
    """Settings shared by the unstructured and N:M pruners (simulated: zeros stored dense)."""

    sparsity: float = Field(0.5, ge=0.0, lt=1.0,
                            description="share of each layer's weights set to zero")
    pattern: Literal["unstructured", "2:4", "4:8"] = Field("unstructured", description=PATTERN_HELP)
    skip: LayerNames = Field(DEFAULT_SKIP, description=SKIP_HELP)
    per_layer: LayerNames = Field(
        (), description="sparsity overrides as NAME=SHARE, e.g. down_proj=0.3: layers whose "
        "name contains NAME get SHARE instead of sparsity (the first match wins; unstructured "
        "only)"
    )

    @model_validator(mode="after")
    def _pattern_fixes_sparsity(self):
        if self.pattern != "unstructured":
            kept, group = kept_per_group(self.pattern)
            implied = 1 - kept / group
            if abs(self.sparsity - implied) > 1e-9:
                raise ValueError(f"the {self.pattern} pattern prunes exactly {implied:g} of the "
                                 f"weights; set sparsity to {implied:g}")
            if self.per_layer:
                raise ValueError(f"the {self.pattern} pattern fixes every layer's sparsity; "
                                 "per_layer overrides need the unstructured pattern")
        self.overrides()  # refuse a malformed override now, not halfway through a model
        return self

    def overrides(self) -> list[tuple[str, float]]:
        """The per-layer overrides as (name part, share), in the order given."""
        parsed = []
        for entry in self.per_layer:
            name, separator, share = entry.partition("=")
            try:
                value = float(share)
            except ValueError:
                value = None
            if not separator or not name.strip() or value is None or not 0 <= value < 1:
                raise ValueError(f"per_layer entry {entry!r} is not NAME=SHARE with a share in "
                                 "[0, 1), e.g. down_proj=0.3")
            parsed.append((name.strip(), value))
        return parsed

    def shape_problems(self, shape: ModelShape) -> list[str]:
        """An N:M pattern whose M does not divide a target layer's input dimension."""
        return _pattern_problems(shape, self.pattern, self.skip)

    def sparsity_for(self, layer_name: str) -> float:
        """The share of `layer_name`'s weights to prune: its override, or `sparsity`."""
        for part, share in self.overrides():
            if part in layer_name:
                return share
        return self.sparsity


class MagnitudePruningConfig(PruningConfig):
    """Magnitude pruning: the smallest |w| of each layer go."""

    recipe: Literal["magnitude-pruning"] = "magnitude-pruning"


class CalibratedPruningConfig(CalibratedConfig, PruningConfig):
    """Pruners that look at calibration activations (Wanda, SparseGPT)."""


class WandaConfig(CalibratedPruningConfig):
    """Wanda: prune by |w| times the norm of its input channel, per output row; no update."""

    recipe: Literal["wanda"] = "wanda"


class SparseGPTConfig(CalibratedPruningConfig):
    """SparseGPT: second-order pruning, layer by layer, updating the remaining weights."""

    recipe: Literal["sparsegpt"] = "sparsegpt"
    algorithm = "sparsegpt_prune"
    damping: float = Field(0.01, gt=0, le=1, description="fraction of the mean Hessian "
                           "diagonal added to the diagonal, so its inverse stays stable")
    block_size: int = Field(128, ge=1, le=4096, description="columns whose mask is chosen "
                            "together before the error is spread to later columns")


class OWLConfig(CalibratedPruningConfig):
    """OWL: each decoder layer's own sparsity from its share of outlier weights (more outliers,
    fewer pruned), averaging `sparsity`; the weights then pruned by Wanda or SparseGPT."""

    recipe: Literal["owl"] = "owl"
    algorithm = "owl_layer_sparsities"
    sparsity: float = Field(0.7, ge=0.0, lt=1.0, description="average share of the weights "
                            "set to zero; each layer's share moves around it by its outliers")
    pruner: Literal["wanda", "sparsegpt"] = Field(
        "wanda", description="how each layer is pruned once its share is set: Wanda (|w| "
        "times input norm, no update) or SparseGPT (second order, with weight updates)")
    outlier_threshold: float = Field(
        5.0, ge=1.0, le=100.0, description="a weight is an outlier when its Wanda score "
        "exceeds this many times its layer's mean score (OWL's M; the paper tunes M and lambda "
        "per model, and the defaults are its LLaMA-7B values)")
    max_deviation: float = Field(
        0.08, ge=0.0, le=0.3, description="how far a layer's sparsity may move from the "
        "average, up or down (OWL's lambda)")

    @model_validator(mode="after")
    def _unstructured_only(self):
        if self.pattern != "unstructured":
            raise ValueError("OWL sets a share per layer, which an N:M pattern fixes; use "
                             "pattern unstructured")
        if self.per_layer:
            raise ValueError("OWL computes every layer's share itself; leave per_layer empty")
        if self.sparsity + self.max_deviation >= 1:
            raise ValueError(f"sparsity {self.sparsity:g} + max_deviation "
                             f"{self.max_deviation:g} would prune whole layers; keep their "
                             "sum below 1")
        return self


class NMSparsityConfig(CalibratedConfig):
    """Semi-structured N:M sparsity with a choice of pruner."""

    recipe: Literal["nm-sparsity"] = "nm-sparsity"
    pattern: Literal["2:4", "4:8"] = Field("2:4", description=PATTERN_HELP)
    method: Literal["magnitude", "wanda", "sparsegpt"] = Field(
        "wanda", description="how weights are scored: |w|, |w| times input norm, or "
        "second-order with weight updates"
    )
    calibration_samples: int = calibration_samples_field(32, " by Wanda and SparseGPT")
    skip: LayerNames = Field(DEFAULT_SKIP, description=SKIP_HELP)

    def shape_problems(self, shape: ModelShape) -> list[str]:
        """An N:M pattern whose M does not divide a target layer's input dimension."""
        return _pattern_problems(shape, self.pattern, self.skip)

    def pruner(self) -> PruningConfig:
        """The equivalent config of the chosen pruner."""
        kept, group = kept_per_group(self.pattern)
        common = {"sparsity": 1 - kept / group, "pattern": self.pattern, "skip": self.skip}
        if self.method == "magnitude":
            return MagnitudePruningConfig(**common)
        if self.method == "wanda":
            return WandaConfig(calibration_samples=self.calibration_samples, **common)
        return SparseGPTConfig(calibration_samples=self.calibration_samples, **common)


class LayerDropConfig(CalibratedConfig):
    """Remove whole decoder layers, the ones that change their input least (structured: the
    model really shrinks, and still saves, loads and generates)."""

    recipe: Literal["layer-drop"] = "layer-drop"
    algorithm = "layer_importance"
    fraction: float = Field(0.25, gt=0.0, lt=1.0,
                            description="share of the decoder layers removed (rounded)")
    keep_first_and_last: bool = Field(
        True, description="never remove the first and last layers (they reshape the "
        "embedding space, and removing them costs the most)"
    )
    calibration_samples: int = calibration_samples_field(8, " to score the layers")

    execution = "real"

    def shape_problems(self, shape: ModelShape) -> list[str]:
        """A fraction that would remove no layer, or more than may go."""
        _, problem = layers_dropped(shape.layers, self.fraction, self.keep_first_and_last)
        return [problem] if problem else []

    def shape_after(self, shape: ModelShape) -> ModelShape | None:
        """Fewer decoder layers."""
        count, problem = layers_dropped(shape.layers, self.fraction, self.keep_first_and_last)
        return None if problem else replace(shape, layers=shape.layers - count)


class StructuredWidthConfig(CalibratedConfig):
    """Settings shared by the pruners that narrow every decoder layer."""

    fraction: float = Field(0.25, gt=0.0, lt=1.0, description="share removed in every layer")
    calibration_samples: int = calibration_samples_field(8, " to score what is removed")

    execution = "real"
    removes: ClassVar[str] = ""  # what is removed, as messages name it

    def width(self, shape: ModelShape) -> int:
        """How many of what this pruner removes each layer has."""
        raise NotImplementedError

    def narrowed(self, shape: ModelShape, removed: int) -> ModelShape:
        """The shape once `removed` of them are gone from every layer."""
        raise NotImplementedError

    def shape_problems(self, shape: ModelShape) -> list[str]:
        """A fraction that would remove none of them, or all."""
        _, problem = width_removed(self.width(shape), self.fraction, self.removes)
        return [problem] if problem else []

    def shape_after(self, shape: ModelShape) -> ModelShape | None:
        """The narrower shape (None when the fraction cannot apply)."""
        removed, problem = width_removed(self.width(shape), self.fraction, self.removes)
        return None if problem else self.narrowed(shape, removed)


class MLPChannelPruningConfig(StructuredWidthConfig):
    """Remove the MLP's least important intermediate channels (rows of gate/up, columns of
    down): the matrices really shrink."""

    recipe: Literal["mlp-channel-pruning"] = "mlp-channel-pruning"
    removes = "MLP channels"

    def width(self, shape: ModelShape) -> int:
        """The MLP's intermediate channels."""
        return shape.intermediate

    def narrowed(self, shape: ModelShape, removed: int) -> ModelShape:
        """A narrower MLP."""
        return replace(shape, intermediate=shape.intermediate - removed)


class HeadPruningConfig(StructuredWidthConfig):
    """Remove the least important attention heads, a whole grouped-query group at a time (a
    key/value head with the query heads that share it), so the layout stays valid."""

    recipe: Literal["head-pruning"] = "head-pruning"
    removes = "key/value groups"

    def width(self, shape: ModelShape) -> int:
        """The key/value groups of each layer."""
        return shape.kv_heads

    def narrowed(self, shape: ModelShape, removed: int) -> ModelShape:
        """Fewer key/value groups, each with its query heads."""
        per_group = shape.heads // shape.kv_heads
        left = shape.kv_heads - removed
        return replace(shape, kv_heads=left, heads=left * per_group)
