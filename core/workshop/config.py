"""A workshop room's file: who may enter, what they may run, and how much. YAML, validated
on load with messages that name the key and what to write instead; unknown keys are
errors, so a misspelt cap is never silently ignored.

    room_passcode: "owl-17"            # optional: attendees type it once
    teacher_passcode_hash: "scrypt$…"  # from `optatlas workshop hash`
    models: [default, tiny]            # 'default', 'tiny' or Hugging Face ids
    recipes: [rtn, gptq, awq]          # omitted: every recipe that can run on the server
    caps:
      jobs_per_attendee: 3             # queued + running
      queue_length: 100                # all attendees together
      eval_windows: 8                  # most evaluation windows a job may ask for
      time_limit_s: 900                # each job
    allow_save: false                  # whether attendees may save compressed models
    job_nice: 10                       # jobs' CPU priority, 0-19: pages stay quick
    job_threads: 1                     # CPU threads per job; omitted: all cores but one
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.engine.model_refs import ModelNotFoundError, is_path_like, parse_model_ref
from core.recipes import config_types
from core.recipes.base import validation_problems
from core.workshop.passcodes import is_passcode_hash

MAX_FILE_BYTES = 1_000_000


class WorkshopConfigError(ValueError):
    """The workshop file cannot be used; the message names the file, the key and the fix."""


class Caps(BaseModel):
    """How much one attendee, and the room, may ask of the server."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    jobs_per_attendee: int = Field(3, ge=1, le=100, description="queued and running at once")
    queue_length: int = Field(100, ge=1, le=10_000, description="queued jobs of the whole room")
    eval_windows: int = Field(8, ge=1, le=256, description="most evaluation windows a job takes")
    time_limit_s: float = Field(900, gt=0, le=24 * 3600, description="each job's time limit")


class WorkshopConfig(BaseModel):
    """One room, as its file describes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    room_passcode: str | None = Field(None, min_length=1, max_length=200)
    teacher_passcode_hash: str = Field(description="from `optatlas workshop hash`")
    models: tuple[str, ...] = Field(("default", "tiny"), min_length=1, max_length=100)
    recipes: tuple[str, ...] | None = Field(None, max_length=200)
    caps: Caps = Field(default_factory=Caps)
    allow_save: bool = False
    # A room's thirty pages are what people wait on. A job's quality numbers do not depend
    # on its pace, and its timings, contended by those pages either way, come as medians
    # with their spread.
    job_nice: int = Field(10, ge=0, le=19, description="the workers' CPU priority")
    job_threads: int | None = Field(None, ge=1, le=1024, description="CPU threads per job "
                                    "(omitted: all cores but one)")

    def threads_per_job(self, cores: int | None = None) -> int:
        """The CPU threads a room's job computes with: as set, else every core but one,
        which the web server keeps for the room's pages."""
        if self.job_threads is not None:
            return self.job_threads
        return max(1, (cores or os.cpu_count() or 1) - 1)

    @field_validator("teacher_passcode_hash")
    @classmethod
    def _hashed(cls, value: str) -> str:
        if not is_passcode_hash(value):
            raise ValueError("must be a hash from `optatlas workshop hash`, never the "
                             "passcode itself")
        return value

    @field_validator("models")
    @classmethod
    def _models(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if is_path_like(value):
                raise ValueError(f"{value!r} is a local folder; a room's models are "
                                 "'default', 'tiny' or Hugging Face ids")
            try:
                spec = parse_model_ref(value)
            except ModelNotFoundError as error:
                raise ValueError(str(error)) from None
            if spec.kind == "local":
                raise ValueError(f"{value!r} is a local folder; a room's models are "
                                 "'default', 'tiny' or Hugging Face ids")
        return values

    @field_validator("recipes")
    @classmethod
    def _recipes(cls, values: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if values is None:
            return None
        known = config_types()
        unknown = [v for v in values if v not in known]
        if unknown:
            raise ValueError(f"unknown recipe(s) {', '.join(map(repr, unknown))}; known: "
                             f"{', '.join(sorted(known))}")
        return values

    def allows_model(self, model: str) -> bool:
        """Whether an attendee may run `model` (as typed, 'default' for the bundled one)."""
        return (model.strip() or "default") in self.models

    def allows_recipe(self, recipe: str) -> bool:
        """Whether an attendee may run `recipe` (all recipes when the file names none)."""
        return self.recipes is None or recipe in self.recipes


def load_workshop(path: Path | str) -> WorkshopConfig:
    """The room described by the YAML file at `path`; WorkshopConfigError saying what to
    change otherwise."""
    path = Path(path)
    if not path.is_file():
        raise WorkshopConfigError(f"workshop file {path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise WorkshopConfigError(f"workshop file {path}: larger than {MAX_FILE_BYTES:,} bytes")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise WorkshopConfigError(f"workshop file {path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise WorkshopConfigError(f"workshop file {path}: expected keys such as "
                                  "teacher_passcode_hash and models, found "
                                  f"{type(data).__name__}")
    try:
        return WorkshopConfig.model_validate(data)
    except ValidationError as error:
        raise WorkshopConfigError(f"workshop file {path}: {_problems(error)}") from None


def _problems(error: ValidationError) -> str:
    # An unknown key names the keys that are known where it stands (a misspelt cap, say).
    unknown = [e for e in error.errors() if e["type"] == "extra_forbidden"]
    if not unknown:
        return validation_problems(error, whole="workshop file")
    found = []
    for e in unknown:
        section = Caps if e["loc"][:1] == ("caps",) else WorkshopConfig
        known = ", ".join(section.model_fields)
        found.append(f"{'.'.join(map(str, e['loc']))}: unknown key (known here: {known})")
    return "; ".join(found)
