"""The chooser's rules as typed data: candidates, engines, risk levels, tolerances and goals,
read from core/chooser/data/rules.yaml and validated strictly (a typo is an error that names
the candidate and the field, never a silently ignored key).

`rules_problems` adds the checks that need the rest of OptAtlas (every recipe step builds,
every taxonomy node exists); `optatlas check` runs both."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.chooser.hardware import CAPABILITIES, DTYPES, KINDS
from core.chooser.strict_yaml import load_unique
from core.recipes.base import validation_problems

RULES_PATH = Path(__file__).resolve().parent / "data" / "rules.yaml"
RISKS = ("negligible", "small", "moderate", "high")
BANDS = ("small", "medium", "large")
GOALS = ("fit", "latency", "throughput", "energy")
ENGINES = ("transformers", "vllm", "sglang", "llama.cpp", "tensorrt-llm")

Risk = Literal["negligible", "small", "moderate", "high"]


class RulesError(ValueError):
    """The rules file cannot be used; the message names the file and what is wrong."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    title: str
    url: str = Field(pattern=r"^https://")


class Engine(_Strict):
    name: str
    kinds: tuple[Literal["gpu", "cpu", "apple"], ...]
    architectures: tuple[str, ...] | None = None


class Weights(_Strict):
    bits: int = Field(ge=1, le=16)
    group_size: int | None = Field(None, ge=8)
    symmetric: bool = False
    sparse_2_4: bool = False


class Step(_Strict):
    recipe: str
    settings: dict = {}


class Candidate(_Strict):
    """One thing the chooser may recommend: a format, a method, or a stack of them."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    summary: str
    nodes: tuple[str, ...]
    steps: tuple[Step, ...]
    verify_note: str = ""
    weights: Weights
    compute: Literal[DTYPES]  # type: ignore[valid-type]
    kv_bits: int = Field(16, ge=2, le=16)
    needs: tuple[Literal[CAPABILITIES], ...] = ()  # type: ignore[valid-type]
    kinds: tuple[Literal[KINDS], ...] = KINDS  # type: ignore[valid-type]
    calibration: bool = False
    training: bool = False
    gpu_hours_per_b: float = Field(0.0, ge=0)
    cost_note: str = ""
    offload: bool = False
    layers_kept: float = Field(1.0, gt=0, le=1)
    draft_fraction: float = Field(0.0, ge=0, lt=1)
    decode_speedup: float = Field(1.0, ge=1)
    max_batch: int | None = Field(None, ge=1)
    speed_factor: float = Field(1.0, gt=0, le=1)
    speed_note: str = ""
    reported_setting: str = ""
    risk: dict[Literal[BANDS], Risk]  # type: ignore[valid-type]
    risk_reason: str
    risk_source: str | None = None
    engines: dict[Literal[ENGINES], str]  # type: ignore[valid-type]
    library: str

    @model_validator(mode="after")
    def _complete(self) -> Candidate:
        missing = [band for band in BANDS if band not in self.risk]
        if missing:
            raise ValueError(f"risk has no prior for the size band(s) {', '.join(missing)}")
        if not self.engines:
            raise ValueError("engines lists no engine that runs it")
        return self


class Goal(_Strict):
    name: str
    ranks_by: str


class Rules(_Strict):
    """The whole rules file."""

    schema_version: Literal[1]
    version: str
    sources: dict[str, Source]
    risk_levels: dict[Literal["negligible", "small", "moderate"], float]
    tolerances: dict[Literal["lossless", "small", "some"], Risk]
    size_bands: dict[Literal[BANDS], float | None]  # type: ignore[valid-type]
    free_gpu_hours: float = Field(ge=0)
    evidence_size_factor: float = Field(gt=1)
    engines: dict[Literal[ENGINES], Engine]  # type: ignore[valid-type]
    candidates: tuple[Candidate, ...]
    goals: dict[Literal[GOALS], Goal]  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _consistent(self) -> Rules:
        keys = [candidate.key for candidate in self.candidates]
        doubles = sorted({key for key in keys if keys.count(key) > 1})
        if doubles:
            raise ValueError(f"candidate keys appear twice: {', '.join(doubles)}")
        for candidate in self.candidates:
            if candidate.risk_source and candidate.risk_source not in self.sources:
                raise ValueError(f"candidate {candidate.key}: risk_source "
                                 f"{candidate.risk_source!r} is not listed under sources")
        bounds = [self.risk_levels[level] for level in ("negligible", "small", "moderate")]
        if bounds != sorted(bounds):
            raise ValueError("risk_levels must grow: negligible < small < moderate")
        return self

    def candidate(self, key: str) -> Candidate | None:
        return next((c for c in self.candidates if c.key == key), None)

    def band(self, parameters: float) -> str:
        """The size band of a model with `parameters` parameters."""
        billions = parameters / 1e9
        for band in BANDS:
            bound = self.size_bands.get(band)
            if bound is None or billions < bound:
                return band
        return BANDS[-1]

    def risk_of(self, relative_ppl_increase: float) -> str:
        """The risk level a relative perplexity increase stands for."""
        for level in ("negligible", "small", "moderate"):
            if relative_ppl_increase <= self.risk_levels[level]:
                return level
        return "high"


def load_rules(path: Path = RULES_PATH) -> Rules:
    """The rules in `path`; RulesError says what is wrong."""
    try:
        data = load_unique(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise RulesError(f"{path.name}: cannot be read: {error}") from error
    if isinstance(data, dict):
        # Name a bad candidate by its key rather than by its position in the list.
        for index, candidate in enumerate(data.get("candidates") or []):
            if isinstance(candidate, dict):
                try:
                    Candidate.model_validate(candidate)
                except ValidationError as error:
                    name = candidate.get("key", f"number {index + 1}")
                    problems = validation_problems(error, whole="the candidate")
                    raise RulesError(f"{path.name}: candidate {name}: {problems}") from error
    try:
        return Rules.model_validate(data)
    except ValidationError as error:
        raise RulesError(f"{path.name}: {validation_problems(error, whole='the file')}") from error


@functools.lru_cache(maxsize=1)
def default_rules() -> Rules:
    """The shipped rules, parsed once per process (the page asks on every rerun)."""
    return load_rules(RULES_PATH)


def rules_problems(rules: Rules, node_slugs: set[str]) -> list[str]:
    """What the rules name that OptAtlas does not have: unknown recipes, settings a recipe
    refuses, taxonomy nodes that do not exist."""
    from core.recipes import build_config
    from core.recipes.base import InvalidRecipeError

    problems = []
    for candidate in rules.candidates:
        for node in candidate.nodes:
            if node not in node_slugs:
                problems.append(f"candidate {candidate.key}: no taxonomy node is called {node!r}")
        for step in candidate.steps:
            try:
                build_config(step.recipe, dict(step.settings))
            except InvalidRecipeError as error:
                problems.append(f"candidate {candidate.key}: step {step.recipe}: {error}")
    return problems
