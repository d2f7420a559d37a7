"""What every technique config is: frozen, validated, versioned, JSON round-trippable, and
able to say what it needs (calibration data, a CUDA device, an optional package)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class Requirements:
    """What a technique needs to run; the UI explains a missing one instead of failing."""

    calibration: bool = False
    training: bool = False
    cuda: bool = False
    packages: tuple[str, ...] = ()

    def unmet(self, device: torch.device) -> list[str]:
        """Why this technique cannot run here (empty when it can)."""
        reasons = []
        if self.cuda and device.type != "cuda":
            reasons.append("needs a CUDA GPU")
        for package in self.packages:
            if importlib.util.find_spec(package) is None:
                reasons.append(f"needs the optional package {package!r}")
        return reasons


class TechniqueConfig(BaseModel):
    """Base of every technique config. Subclasses set `recipe` (the taxonomy's slug) as a
    Literal default, their fields with defaults, bounds and descriptions, and `requirements`."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    recipe: str
    version: int = 1

    requirements: ClassVar[Requirements] = Requirements()
    # "real": packed weights and low-bit kernels run; "simulated": fake-quantized in float.
    execution: ClassVar[str] = "simulated"

    def to_json(self) -> str:
        """The config as JSON (the job table stores recipes this way)."""
        return self.model_dump_json()


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
