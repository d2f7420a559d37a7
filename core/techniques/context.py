"""What a handler works with: calibration data, the context it may use, and the report it
returns. The configs themselves live in the torch-free core.recipes."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class CalibrationData:
    """Token batches from the calibration split, never the evaluation split."""

    input_ids: torch.Tensor  # [samples, seq_len]
    protocol: dict = field(default_factory=dict)


@dataclass
class ApplyContext:
    """What a handler may use besides the model and its config."""

    device: torch.device
    calibration: CalibrationData | None = None
    progress: object = None  # callable(stage: str, fraction: float) or None
    # The unmodified model, for techniques that learn from it (distillation's teacher):
    # a callable returning it, so it is only loaded when a step asks.
    original: object = None
    # The model's tokenizer, for libraries that insist on one even when given token ids
    # (auto-round); the calibration text itself comes as `calibration`.
    tokenizer: object = None

    def original_model(self) -> torch.nn.Module:
        """The model as it was before any step of this recipe."""
        if self.original is None:
            raise ValueError("this step needs the original model as a teacher, and the caller "
                             "did not provide one")
        return self.original()

    def report(self, stage: str, fraction: float) -> None:
        """Tell the caller how far the step is."""
        if self.progress:
            self.progress(stage, fraction)


@dataclass
class ApplyReport:
    """What applying a config did: how many modules it changed, and any per-layer details."""

    recipe: str
    execution: str
    modules: int
    details: dict = field(default_factory=dict)
    # Function-preserving rescalings the recipe folded in (SmoothQuant, AWQ), in order:
    # diagnostics replay them on the float model to compare layers in the same coordinates.
    # In memory only; not part of any stored result.
    rescales: list = field(default_factory=list, repr=False)
