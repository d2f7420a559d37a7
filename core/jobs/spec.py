"""What a user asks a job to do, typed and validated before anything is queued: the model,
the ordered technique steps, the device, what to measure, and the job's limits.

Torch-free, so the web app validates a launch form with the same code the worker trusts."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.engine.measure_config import MeasureConfig
from core.engine.metrics import SIMULATED
from core.engine.model_refs import ModelNotFoundError, parse_model_ref
from core.export.formats import FORMATS as EXPORT_FORMATS
from core.recipes import build_config
from core.recipes.base import InvalidRecipeError, TechniqueConfig, validation_problems
from core.text import has_control_characters, shortened

# cuda@TYPE: a GPU of one type on a Ray cluster (Ray's accelerator type: H100, A100-80G, L4).
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d{1,2})?|cuda@[A-Za-z0-9][A-Za-z0-9_.-]{0,30})$")
MAX_STEPS = 8
# How much speed a measurement times: everything, batch-1 decode only, or nothing.
SpeedScope = Literal["full", "decode_b1", "none"]
# Settings that say which variant of a technique ran; names always show them.
DEFINING_SETTINGS = ("bits", "group_size", "weights", "activations", "backend")
# What jobs.label and results.name hold (db/job_models.py): a job's name, given or derived,
# must fit them, since PostgreSQL refuses a longer value where SQLite stored it.
MAX_LABEL_CHARS = 200


class InvalidJobError(ValueError):
    """A job that must not be queued; the message names the field and what to change."""


class StepSpec(BaseModel):
    """One technique step: a recipe slug and its settings (validated by its config)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    recipe: str
    settings: dict = Field(default_factory=dict)


class MeasureSettings(BaseModel):
    """How much to measure after the steps. The defaults are the engine's default protocol."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    eval_windows: int = Field(
        16, ge=1, le=512, description="512-token evaluation windows for perplexity, KL and "
        "agreement (16 = 8,192 tokens; fewer is faster and noisier)"
    )
    speed: Literal["auto", "full", "decode_b1", "none"] = Field(
        "auto", description="auto: full for a real run, none for a simulated one (its speed "
        "is the float model's, which says nothing of the technique); full: prefill, time to "
        "first token, decode at batch 1 and 8; decode_b1: batch-1 decode only; none: quality "
        "and size only"
    )
    diagnostics: bool = Field(
        True, description="per-layer quantization error and activation outliers (a few "
        "extra float passes)"
    )
    compile: bool = Field(
        True, description="compile the decode step that speed is timed on (sharper figures; "
        "the one-off compile, about 10-60 s on a CPU, is reported apart, not in tokens/s)"
    )

    def baseline_scope(self) -> SpeedScope:
        """How much speed the baseline is measured with: what the result may be compared
        with (full under auto, since the steps' execution is known only once they ran)."""
        return "full" if self.speed == "auto" else self.speed

    def result_scope(self, execution: str) -> SpeedScope:
        """How much speed the result is measured with, once its execution is known."""
        if self.speed == "auto":
            return "none" if execution == SIMULATED else "full"
        return self.speed

    def engine_config(self, scope: SpeedScope) -> MeasureConfig:
        """The engine's MeasureConfig for these settings at a speed scope."""
        return MeasureConfig(
            eval_windows=self.eval_windows, measure_speed=scope != "none",
            speed_scope="decode_b1" if scope == "decode_b1" else "full",
            compile_decode=self.compile,
        )


class ExportRequest(BaseModel):
    """An export job: rebuild job `of_job`'s model (its steps, on its model) and write it in
    `format`, read it back and score it against the job's own perplexity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    of_job: int = Field(ge=1)
    format: str = Field(description="one of " + ", ".join(EXPORT_FORMATS))
    reference_ppl: float | None = Field(None, gt=0)

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in EXPORT_FORMATS:
            raise ValueError(f"unknown export format {value!r}: choose one of "
                             f"{', '.join(EXPORT_FORMATS)}")
        return value


class JobSpec(BaseModel):
    """A whole job as submitted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field("default", description="'default' (the bundled model), a Hugging "
                       "Face id (optionally @revision), a local folder, or 'tiny'")
    steps: tuple[StepSpec, ...] = Field(
        (), max_length=MAX_STEPS, description="technique steps applied in order; none "
        "measures the model as it is"
    )
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N, or cuda@TYPE (a GPU "
                        "type on a Ray cluster, e.g. cuda@H100)")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    measure: MeasureSettings = Field(default_factory=MeasureSettings)
    save_model: bool = Field(False, description="save the compressed model as safetensors "
                             "under the data directory, with a model card of its figures")
    time_limit_s: float | None = Field(None, gt=0, le=7 * 24 * 3600,
                                       description="fail the job after this many seconds")
    label: str = Field("", max_length=MAX_LABEL_CHARS)
    technique_slug: str | None = Field(None, max_length=80)
    export: ExportRequest | None = Field(None, description="set for an export job")

    @field_validator("label", "technique_slug")
    @classmethod
    def _one_line_text(cls, value: str | None) -> str | None:
        # Shown on one line in lists and legends; and PostgreSQL refuses a NUL in text that
        # SQLite stored, so the same job must be refused on both stores, here.
        if value is not None and has_control_characters(value):
            raise ValueError("cannot contain control characters (line breaks, tabs, NUL, "
                             "escapes)")
        return value

    def configs(self) -> list[TechniqueConfig]:
        """The steps as validated technique configs."""
        return [build_config(step.recipe, step.settings) for step in self.steps]

    def name(self) -> str:
        """A short name for the job's result: its label, or its steps."""
        if self.label:
            return self.label
        if self.export is not None:
            return f"export of job {self.export.of_job} to {self.export.format}"
        # Eight steps with their settings run past what the column holds; the steps stay
        # whole in the job's recipe, so the name may end in an ellipsis.
        return shortened(" + ".join(self.step_names()), MAX_LABEL_CHARS) or "baseline"

    def step_names(self) -> list[str]:
        """Each step as recipe(settings), for lists and legends: the settings given, and the
        defining ones (bits, group size, format) even when left at their defaults, so that
        "gptq" on a plot always says which GPTQ."""
        names = []
        for step in self.steps:
            shown = dict(step.settings)
            try:
                config = build_config(step.recipe, step.settings)
            except InvalidRecipeError:
                config = None
            for key in DEFINING_SETTINGS:
                if config is not None and key not in shown and hasattr(config, key):
                    shown[key] = getattr(config, key)
            settings = ",".join(f"{k}={v}" for k, v in sorted(shown.items()))
            names.append(f"{step.recipe}({settings})" if settings else step.recipe)
        return names


def validate_spec(data: dict | JobSpec) -> JobSpec:
    """A checked JobSpec, or InvalidJobError saying what is wrong: unknown fields or recipes,
    settings out of range, a malformed model reference, an unknown device."""
    try:
        spec = data if isinstance(data, JobSpec) else JobSpec.model_validate(data)
    except ValidationError as error:
        problems = validation_problems(error, whole="job")
        raise InvalidJobError(f"invalid job: {problems}") from None
    if not DEVICE.fullmatch(spec.device):
        raise InvalidJobError(f"device {spec.device[:40]!r} is not auto, cpu, cuda, cuda:N or "
                              "cuda@TYPE")
    try:
        parse_model_ref(spec.model)
    except ModelNotFoundError as error:
        raise InvalidJobError(f"model: {error}") from None
    for index, step in enumerate(spec.steps, start=1):
        try:
            config = build_config(step.recipe, step.settings)
        except InvalidRecipeError as error:
            raise InvalidJobError(f"step {index}: {error}") from None
        if config.speed_only and spec.measure.speed == "none":
            raise InvalidJobError(
                f"step {index}: {step.recipe} changes only how the model "
                "runs, not its weights; measure speed (decode_b1 or full) "
                "to see its effect"
            )
        if config.requirements.cuda and spec.device == "cpu":
            raise InvalidJobError(
                f"step {index}: {step.recipe} needs a CUDA GPU; choose a "
                "cuda device (or auto, where a GPU worker is running)"
            )
    return spec
