"""What every technique config is: frozen, validated, versioned, JSON round-trippable, and
able to say what it needs (calibration data, a CUDA device, an optional package).

Torch-free (pydantic only): the app builds configs, validates settings and generates launch
forms from these classes without loading the engine. Keep torch out of this module.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from core.engine.model_shapes import ModelShape


_LAYER_NAME = re.compile(r"^[A-Za-z0-9_.:=+-]{1,100}$")


def _layer_name(value: str) -> str:
    # The characters module names use, short enough to show in a job's name: anything else
    # (markup, spaces, control characters) is a mistake, refused with what is allowed.
    if not _LAYER_NAME.match(value):
        from core.text import quoted

        raise ValueError(f"{quoted(value, 40)} is not a layer name: use 1 to 100 letters, "
                         "digits and _ . : = + -")
    return value


# A layer name or name part, as skip lists and targets take it ("lm_head", "down_proj=0.3").
LayerName = Annotated[str, AfterValidator(_layer_name)]
LayerNames = Annotated[tuple[LayerName, ...], Field(max_length=64)]


def validation_problems(error: ValidationError, *, whole: str) -> str:
    """pydantic's errors as one line a user can act on: each field's dotted name (or `whole`
    for the model itself) and its message, without pydantic's "Value error, " prefix."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or whole}: {e['msg'].removeprefix('Value error, ')}"
        for e in error.errors()
    )


class InvalidRecipeError(ValueError):
    """A recipe step that cannot be built or run; the message says what to change."""


class MissingPackageError(InvalidRecipeError):
    """A recipe step that needs an optional package this machine lacks."""

    def __init__(self, message: str, packages: tuple[str, ...]) -> None:
        super().__init__(message)
        self.packages = packages


@dataclass(frozen=True)
class Requirements:
    """What a technique needs to run; the UI explains a missing one instead of failing."""

    calibration: bool = False
    training: bool = False
    cuda: bool = False
    packages: tuple[str, ...] = ()

    def unmet(self, device) -> list[str]:
        """Why this technique cannot run on `device` (a torch.device or a name such as
        "cpu" or "cuda:0"); empty when it can."""
        # Read the kind by duck typing: the app names devices by string and has no torch.
        kind = getattr(device, "type", str(device).split(":")[0])
        reasons = []
        if self.cuda and kind != "cuda":
            reasons.append("needs a CUDA GPU")
        reasons += [
            f"needs the optional package {package!r}" for package in self.missing_packages()
        ]
        return reasons

    def missing_packages(self) -> tuple[str, ...]:
        """The optional packages this technique needs that are not installed here."""
        return tuple(p for p in self.packages if importlib.util.find_spec(p) is None)


class TechniqueConfig(BaseModel):
    """Base of every technique config. Subclasses set `recipe` (the taxonomy's slug) as a
    Literal default, their fields with defaults, bounds and descriptions, and `requirements`."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    recipe: str
    version: int = 1

    requirements: ClassVar[Requirements] = Requirements()
    # "real": packed weights and low-bit kernels run; "simulated": fake-quantized in float.
    execution: ClassVar[str] = "simulated"
    # True for techniques that change only how the model runs (decode loop, kernels): a job
    # that does not measure speed would show nothing of them.
    speed_only: ClassVar[bool] = False
    # The function (or class) in the handler's file, core/<family>/<slug>.py, that holds the
    # algorithm, shown on the technique's page; None: the registered handler itself.
    algorithm: ClassVar[str | None] = None

    @classmethod
    def recipe_name(cls) -> str:
        """The recipe slug this config type stands for (its `recipe` field's default)."""
        return cls.model_fields["recipe"].default

    def planned_execution(self) -> str:
        """How this step will run with these settings ("real" or "simulated"): the class's
        `execution`, unless a setting changes it (packing a simulated grid, say)."""
        return self.execution

    def shape_problems(self, shape: ModelShape) -> list[str]:
        """Why these settings cannot run on a model of this shape, known from its config
        alone (checked before a job is queued); empty when nothing rules them out."""
        return []

    def shape_after(self, shape: ModelShape) -> ModelShape | None:
        """The model's shape once this step has run (so later steps are checked against
        it); None when it cannot be told from the config."""
        return shape

    def to_json(self) -> str:
        """The config as JSON (the job table stores recipes this way)."""
        return self.model_dump_json()


def calibration_samples_field(default: int = 32, used_for: str = "") -> Any:
    """The one calibration-sample setting every calibrated recipe takes, named
    `calibration_samples` everywhere (the job runner loads the most any step asks for)."""
    return Field(
        default,
        ge=1,
        le=4096,
        description=f"calibration sequences used{used_for} (at most those supplied)",
    )


class CalibratedConfig(TechniqueConfig):
    """Base of the techniques that look at calibration activations. Listed first among a
    config's bases, so that its requirements apply and its field comes after the others."""

    calibration_samples: int = calibration_samples_field()

    requirements = Requirements(calibration=True)
