"""The gallery file: one JSON document, validated on every read, holding each measured run
with its whole record (steps, every metric and its spread, real or simulated, device and CPU,
library versions, commit, date, and the code version it was measured with)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.engine.metrics import EXECUTIONS, METRICS

SCHEMA_VERSION = 1
# Where `optatlas gallery build` writes and `optatlas seed` reads, in the repository.
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "gallery" / "runs.json"
# Kept to four significant figures: more than the measurements' own spread, and a smaller,
# readable file.
SIGNIFICANT = 4


class GalleryError(ValueError):
    """The gallery file cannot be used; the message names the file and what is wrong."""


class GalleryRun(BaseModel):
    """One measured run as the gallery keeps it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    title: str = Field(min_length=1, max_length=200)
    tags: tuple[str, ...] = ()
    steps: tuple[dict, ...] = ()  # the job spec's steps: [{"recipe", "settings"}]
    label: str = ""  # the run's label as a job names it, e.g. "rtn(bits=4,group_size=64)"
    model: str
    model_key: str
    device: str
    device_name: str  # the CPU (or GPU) model, with its threads
    dtype: str
    execution: str
    metrics: dict[str, float | None]
    spread: dict[str, float] = Field(default_factory=dict)
    protocol: dict
    environment: dict
    notes: tuple[str, ...] = ()
    diagnostics: list | None = None
    code_version: str = Field(min_length=8, max_length=64)
    commit: str = Field(max_length=64)
    measured_at: str = Field(min_length=10, max_length=40)  # ISO 8601, UTC
    wall_s: float = Field(ge=0)

    @field_validator("execution")
    @classmethod
    def _execution(cls, value: str) -> str:
        if value not in EXECUTIONS:
            raise ValueError(f"must be one of {EXECUTIONS}")
        return value

    @field_validator("metrics")
    @classmethod
    def _metric_names(cls, value: dict) -> dict:
        unknown = sorted(set(value) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metric names {unknown}")
        return value

    @property
    def is_baseline(self) -> bool:
        return not self.steps


class GalleryFile(BaseModel):
    """The whole file: its schema version and the runs, the baseline first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    about: str = ("OptAtlas's own measured runs on its bundled model; written by "
                  "`optatlas gallery build`, never by hand.")
    runs: tuple[GalleryRun, ...] = ()

    @field_validator("runs")
    @classmethod
    def _unique(cls, runs: tuple[GalleryRun, ...]) -> tuple[GalleryRun, ...]:
        names = [run.name for run in runs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"run names must be unique; repeated: {repeated}")
        return runs

    def run(self, name: str) -> GalleryRun | None:
        return next((run for run in self.runs if run.name == name), None)

    def with_run(self, new: GalleryRun) -> GalleryFile:
        """This file with `new` in place of the run of its name (appended when new)."""
        runs = [new if run.name == new.name else run for run in self.runs]
        if self.run(new.name) is None:
            runs.append(new)
        return GalleryFile(schema_version=self.schema_version, about=self.about, runs=runs)


def rounded(value):
    """`value` with its floats at SIGNIFICANT figures, through lists and dicts."""
    if isinstance(value, float):
        if not math.isfinite(value) or value == 0:
            return value
        return float(f"{value:.{SIGNIFICANT}g}")
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item) for item in value]
    return value


def read_gallery(path: Path | str = DEFAULT_PATH) -> GalleryFile:
    """The gallery at `path` (an empty one when there is no file); GalleryError saying what
    is wrong otherwise."""
    path = Path(path)
    if not path.exists():
        return GalleryFile()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GalleryError(f"gallery file {path}: not readable JSON: {error}") from None
    try:
        gallery = GalleryFile.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in error.errors()[:5])
        raise GalleryError(f"gallery file {path}: {problems}") from None
    if gallery.schema_version != SCHEMA_VERSION:
        raise GalleryError(f"gallery file {path}: schema version {gallery.schema_version}, "
                           f"this OptAtlas reads {SCHEMA_VERSION}")
    return gallery


def write_gallery(gallery: GalleryFile, path: Path | str = DEFAULT_PATH) -> None:
    """Write `gallery` (validated again) to `path` atomically: a stopped build leaves the
    previous file whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checked = GalleryFile.model_validate(gallery.model_dump())
    text = json.dumps(checked.model_dump(mode="json"), indent=1, sort_keys=False,
                      ensure_ascii=False) + "\n"
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
