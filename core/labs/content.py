"""A lab file: Markdown with YAML front matter, validated on load with messages that name the
file, the key and the fix.

    ---
    slug: outliers
    order: 1
    title: "Outliers: why naive W8A8 breaks this model"
    question: "Why does ...?"
    nodes: [smoothquant, llm-int8]          # taxonomy nodes the reading links
    prediction:
      prompt: "What happens to perplexity?"
      choices: ["barely changes", "worse", "breaks"]
    run:                                    # the one prepared run, settings fixed
      title: "W8A8, per-tensor activations"
      steps: [{recipe: w8a8, settings: {activations: per_tensor}}]
      measure: {eval_windows: 4, speed: none}
    metric: ppl                             # what the result is read by
    compare: [w8a8-per-tensor, w8a8-per-token]   # gallery runs shown beside it
    takeaway: "..."
    try_next:
      title: "..."
      steps: [...]
    ---
    ## Reading
    (two minutes of text)
    ## What happened and why
    (the explanation, shown once the run is done)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.engine.metrics import METRICS
from core.recipes import InvalidRecipeError, build_config

LABS_DIR = Path(__file__).resolve().parents[2] / "labs"
# A teacher's own labs folder (copies of these, edited) replaces the shipped one.
LABS_DIR_ENV = "OPTATLAS_LABS_DIR"
MAX_FILE_BYTES = 200_000
SECTIONS = ("Reading", "What happened and why")
FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.DOTALL)


class LabError(ValueError):
    """A lab file cannot be used; the message names the file, the key and the fix."""


class Prediction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=5, max_length=300)
    choices: tuple[str, ...] = Field(min_length=2, max_length=6)


class PreparedRun(BaseModel):
    """A run whose settings the lab fixes: one click."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=3, max_length=120)
    model: str = "default"
    steps: tuple[dict, ...] = Field(min_length=1, max_length=4)
    measure: dict = Field(default_factory=dict)

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: tuple[dict, ...]) -> tuple[dict, ...]:
        for n, step in enumerate(steps, 1):
            extra = set(step) - {"recipe", "settings"}
            if extra:
                raise ValueError(f"step {n}: unknown key(s) {sorted(extra)}; a step has "
                                 "recipe and settings")
            try:
                build_config(str(step.get("recipe")), step.get("settings") or {})
            except InvalidRecipeError as error:
                raise ValueError(f"step {n}: {error}") from None
        return steps

    def spec(self) -> dict:
        """The job spec this run is launched with."""
        return {"model": self.model, "steps": [dict(step) for step in self.steps],
                "measure": dict(self.measure), "label": self.title}


class Lab(BaseModel):
    """One lab, as its file describes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=60)
    order: int = Field(ge=1, le=999)
    title: str = Field(min_length=5, max_length=160)
    question: str = Field(min_length=10, max_length=400)
    nodes: tuple[str, ...] = Field(min_length=1, max_length=12)
    prediction: Prediction
    run: PreparedRun
    metric: str = "ppl"
    compare: tuple[str, ...] = Field(default=(), max_length=20)
    takeaway: str = Field(min_length=10, max_length=600)
    try_next: PreparedRun
    reading: str = ""  # from the body's "## Reading"
    explanation: str = ""  # from the body's "## What happened and why"
    path: str = ""

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; e.g. ppl, kl, top1_agreement, "
                             "stored_bytes, decode_tok_s_b1")
        return value


def _sections(body: str, path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for block in re.split(r"^## ", body, flags=re.MULTILINE)[1:]:
        heading, _, text = block.partition("\n")
        found[heading.strip()] = text.strip()
    missing = [name for name in SECTIONS if not found.get(name)]
    if missing:
        raise LabError(f"lab file {path}: the body needs the section(s) "
                       f"{', '.join('## ' + m for m in missing)}")
    return found


def load_lab(path: Path | str) -> Lab:
    """The lab in `path`; LabError saying what to change otherwise."""
    path = Path(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise LabError(f"lab file {path}: larger than {MAX_FILE_BYTES:,} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LabError(f"lab file {path}: not readable: {error}") from None
    match = FRONT_MATTER.match(text)
    if not match:
        raise LabError(f"lab file {path}: must start with YAML front matter between '---' "
                       "lines")
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        raise LabError(f"lab file {path}: front matter is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise LabError(f"lab file {path}: front matter must be keys such as slug and title")
    sections = _sections(match.group(2), path)
    try:
        return Lab.model_validate({**data, "reading": sections["Reading"],
                                   "explanation": sections["What happened and why"],
                                   "path": str(path)})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in error.errors()[:5])
        raise LabError(f"lab file {path}: {problems}") from None


def labs_folder() -> Path:
    """Where the labs are read from: OPTATLAS_LABS_DIR when set, the shipped labs/ else."""
    return Path(os.environ.get(LABS_DIR_ENV) or LABS_DIR)


def load_labs(folder: Path | str | None = None) -> list[Lab]:
    """Every lab in `folder` (labs_folder() by default), in their order; LabError for the
    first bad file or a slug or order used twice."""
    folder = Path(folder) if folder is not None else labs_folder()
    labs = [load_lab(path) for path in sorted(folder.glob("*.md"))]
    for key in ("slug", "order"):
        values = [getattr(lab, key) for lab in labs]
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise LabError(f"labs in {folder}: {key} used twice: {repeated}")
    return sorted(labs, key=lambda lab: lab.order)


def unknown_references(lab: Lab, node_slugs: set[str], gallery_runs: set[str]) -> list[str]:
    """What the lab names that the taxonomy or the gallery plan does not hold."""
    problems = [f"node {slug!r} is not in the taxonomy" for slug in lab.nodes
                if slug not in node_slugs]
    problems += [f"gallery run {name!r} is not planned" for name in lab.compare
                 if name not in gallery_runs]
    return problems
