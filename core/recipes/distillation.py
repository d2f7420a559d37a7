"""The knowledge-distillation config. Its handler lives in core/distillation. Torch-free."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from core.recipes.base import Requirements, TechniqueConfig


class LogitDistillationConfig(TechniqueConfig):
    """Train the (compressed) model to match the original model's next-token distributions."""

    recipe: Literal["logit-distillation"] = "logit-distillation"
    algorithm = "distillation_loss"
    steps: int = Field(100, ge=1, le=100_000, description="optimizer steps (at most)")
    time_budget_s: float | None = Field(
        540.0, gt=0, le=7 * 24 * 3600, description="stop after this many seconds of training "
        "even if steps remain (empty: no budget)",
        json_schema_extra={"value_label": "a time budget (s)", "none_label": "no time budget"},
    )
    learning_rate: float = Field(1e-4, gt=0, le=1.0, description="peak AdamW learning rate")
    warmup_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of the steps with a "
                                   "linear warm-up; a cosine decay to zero follows")
    temperature: float = Field(2.0, gt=0, le=20.0, description="softens both distributions; "
                               "the loss is scaled by its square, as in Hinton et al.")
    direction: Literal["forward", "reverse"] = Field(
        "forward", description="forward KL(teacher || student) covers every mode of the "
        "teacher; reverse KL(student || teacher) concentrates on its main ones"
    )
    batch_size: int = Field(2, ge=1, le=256, description="sequences per step")
    seq_len: int = Field(256, ge=16, le=8192, description="tokens per training sequence "
                         "(cut from the calibration windows)")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="AdamW weight decay")

    requirements = Requirements(calibration=True, training=True)
    execution = "real"
