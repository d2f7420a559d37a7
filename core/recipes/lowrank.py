"""The low-rank factorization config. Its handler lives in core/lowrank. Torch-free."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.recipes.base import LayerNames, TechniqueConfig


class SVDLowRankConfig(TechniqueConfig):
    """Truncated SVD: each chosen Linear becomes two smaller ones (a real parameter drop)."""

    recipe: Literal["svd-lowrank"] = "svd-lowrank"
    algorithm = "factorize"
    rank_ratio: float | None = Field(
        0.5, gt=0.0, lt=1.0, description="rank kept, as a share of the full rank "
        "min(out, in); leave empty to choose the rank by retained energy instead",
        json_schema_extra={"value_label": "a share of the full rank",
                           "none_label": "not used (rank by energy)"},
    )
    energy: float | None = Field(
        None, gt=0.0, le=1.0, description="smallest rank whose singular values keep this share "
        "of the squared Frobenius norm (used when rank_ratio is empty)",
        json_schema_extra={"value_label": "a share of the energy",
                           "none_label": "not used (rank by rank ratio)"},
    )
    targets: LayerNames = Field(
        ("mlp",), description="factorize Linear layers whose name contains an entry"
    )
    skip: LayerNames = Field(("lm_head",), description="layers never factorized")
    only_if_smaller: bool = Field(
        True, description="leave a layer whole when its two factors would not be smaller"
    )

    execution = "real"

    def shape_after(self, shape) -> None:
        """Unknown: each factorized layer's rank depends on its singular values."""
        return None

    @model_validator(mode="after")
    def _one_rule(self):
        if (self.rank_ratio is None) == (self.energy is None):
            raise ValueError("give either rank_ratio or energy (set the other to empty)")
        return self
