"""The schema of the taxonomy's data files: what a node, a reference and a reported result hold.

Every model forbids unknown keys, so a typo in a data file is an error naming the field,
not a silently dropped value.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from taxonomy.links import reference_link
from taxonomy.vocabulary import (
    GOAL_LABELS,
    HARDWARE_LABELS,
    LEVELS,
    NODE_KINDS,
    PERPLEXITY_LEVELS,
)

SCHEMA_VERSION = 1

Goal = Literal[tuple(GOAL_LABELS)]  # type: ignore[valid-type]
Hardware = Literal[tuple(HARDWARE_LABELS)]  # type: ignore[valid-type]
NodeKind = Literal[NODE_KINDS]  # type: ignore[valid-type]
Level = Literal[LEVELS]  # type: ignore[valid-type]
PerplexityLevel = Literal[PERPLEXITY_LEVELS]  # type: ignore[valid-type]

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
REFERENCE_KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
# New-style arXiv identifiers (April 2007 on): YYMM.NNNN (to 2014) or YYMM.NNNNN (2015 on).
ARXIV_PATTERN = re.compile(r"^(?P<yy>\d{2})(?P<mm>\d{2})\.(?P<num>\d{4,5})$")
# The widths of the columns these fields are seeded into (db/models.py). PostgreSQL refuses
# a longer value where SQLite stores it; checked here, content too long is an error naming
# its file and field on every store, not a failed seed on one.
SLUG_CHARS = 80
NAME_CHARS = 200
UNIT_CHARS = 40
# A takeaway is one sentence a newcomer reads first: long enough to say what the technique
# does, what it buys and what it costs, short enough to stay one sentence.
TAKEAWAY_CHARS = (40, 320)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Reference(_Strict):
    """A paper, report or documentation page that a node cites."""

    key: str = Field(pattern=REFERENCE_KEY_PATTERN, max_length=SLUG_CHARS)
    title: str = Field(min_length=3)
    authors: list[str] = Field(min_length=1)
    # True when `authors` lists only the first authors of a long author list.
    et_al: bool = False
    year: int = Field(ge=1950, le=2030)
    venue: str = Field(min_length=2, max_length=NAME_CHARS)
    arxiv: str | None = None
    doi: str | None = Field(default=None, pattern=r"^10\.\d{4,9}/\S+$", max_length=NAME_CHARS)
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")

    @field_validator("arxiv")
    @classmethod
    def _arxiv_is_well_formed(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = ARXIV_PATTERN.match(value)
        if not match:
            raise ValueError(f"arXiv id {value!r} is not of the form YYMM.NNNNN")
        yy, mm, num = int(match["yy"]), int(match["mm"]), match["num"]
        if not 1 <= mm <= 12:
            raise ValueError(f"arXiv id {value!r} names month {mm:02d}")
        if (yy >= 15) != (len(num) == 5):
            raise ValueError(f"arXiv id {value!r}: ids from 2015 on have five digits, before four")
        return value

    @model_validator(mode="after")
    def _locatable_and_consistent(self) -> Reference:
        if not (self.arxiv or self.doi or self.url):
            raise ValueError(f"reference {self.key!r} needs an arxiv id, a doi or a url")
        # The year is the year of first public appearance, so it must match the arXiv id's.
        if self.arxiv and 2000 + int(self.arxiv[:2]) != self.year:
            raise ValueError(
                f"reference {self.key!r}: year {self.year} disagrees with arXiv id {self.arxiv}"
            )
        return self

    @property
    def link(self) -> str:
        """The best URL for a reader (see `reference_link`)."""
        return reference_link(self.arxiv, self.doi, self.url)


class Savings(_Strict):
    """What a technique saves, in words, per resource."""

    memory: str
    prefill_latency: str
    decode_latency: str
    throughput: str
    energy: str


class Costs(_Strict):
    """What a technique costs to apply."""

    calibration_data: str
    training_compute: str
    accuracy_risk: str


class Practical(_Strict):
    """Practical considerations for a practitioner choosing a technique."""

    hardware: str
    when_to_use: str
    when_not_to_use: str


class Implementation(_Strict):
    """A library or engine that implements a technique."""

    name: str = Field(max_length=NAME_CHARS)
    url: str = Field(pattern=r"^https?://\S+$")
    note: str = ""


class ReportedResult(_Strict):
    """A number as a paper reports it; never an OptAtlas measurement.

    `model`, `metric`, `dataset`, `context_tokens`, `perplexity_level` and `baseline_is`
    together say what the number is comparable with: two reported numbers sit side by side
    only when all of them match (`comparison_key`).
    """

    model: str = Field(max_length=NAME_CHARS)
    metric: str = Field(max_length=NAME_CHARS)
    baseline: float | None = None
    value: float
    unit: str = Field("", max_length=UNIT_CHARS)
    lower_is_better: bool
    setting: str = Field(min_length=1, description="bits, sparsity or configuration")
    protocol: str = Field(min_length=3, description="dataset, split, sequence length, ...")
    source: str = Field(pattern=REFERENCE_KEY_PATTERN, description="key of the citing reference")
    note: str = ""
    # What the number was measured on: a corpus and split, a benchmark, or a hardware setup.
    dataset: str | None = Field(default=None, min_length=2, max_length=NAME_CHARS)
    # The evaluation window in tokens (perplexity and other language-model scores).
    context_tokens: int | None = Field(default=None, ge=1)
    # Perplexity per token of the model's own tokenizer, per word or per byte: the same model
    # scores very differently on each, so they are never compared with each other.
    perplexity_level: PerplexityLevel | None = None
    # What `baseline` is when it is not the unmodified model: for distillation, the same
    # student trained without distillation; for a draft model, the target alone.
    baseline_is: str = Field("the unmodified model", min_length=3, max_length=NAME_CHARS)

    @property
    def is_perplexity(self) -> bool:
        """True for a perplexity, whose level and window decide what it compares with."""
        return "perplexity" in self.metric.lower()

    @model_validator(mode="after")
    def _says_what_it_is(self) -> ReportedResult:
        if not self.is_perplexity and self.perplexity_level is not None:
            raise ValueError("perplexity_level is for perplexities only")
        return self


class RecipeLink(_Strict):
    """An OptAtlas recipe that runs a node, and how closely it follows the method."""

    recipe: str = Field(pattern=SLUG_PATTERN, max_length=SLUG_CHARS)
    # Empty when the recipe is the method; otherwise what it leaves out or does differently
    # ("runs a simplified variant: ..."), shown beside the recipe wherever it is offered.
    note: str = ""


class Runnable(_Strict):
    """The OptAtlas recipes that run a node, or why none does.

    `recipe: gptq` is short for `recipes: [gptq]`; a node that several recipes run (RTN:
    simulated, optimum-quanto, torchao) lists them, the usual one first.
    """

    recipe: str | None = Field(default=None, pattern=SLUG_PATTERN, max_length=SLUG_CHARS)
    recipes: list[RecipeLink] = Field(default_factory=list)
    reason: str | None = None

    @field_validator("recipes", mode="before")
    @classmethod
    def _bare_slugs(cls, value: object) -> object:
        # A bare slug in the list is a link without a note.
        if isinstance(value, list):
            return [{"recipe": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Runnable:
        given = [self.recipe is not None, bool(self.recipes), self.reason is not None]
        if sum(given) != 1:
            raise ValueError("runnable needs exactly one of 'recipe', 'recipes' or 'reason'")
        slugs = [link.recipe for link in self.links]
        if len(set(slugs)) != len(slugs):
            raise ValueError(f"runnable lists a recipe twice: {slugs}")
        return self

    @property
    def links(self) -> list[RecipeLink]:
        """Every recipe that runs the node, the usual one first (empty with a reason)."""
        if self.recipe is not None:
            return [RecipeLink(recipe=self.recipe)]
        return list(self.recipes)


class Tags(_Strict):
    """Filterable facets of a node."""

    goals: list[Goal] = Field(min_length=1)
    needs_calibration: bool
    needs_training: bool
    hardware: list[Hardware] = Field(min_length=1)


class Node(_Strict):
    """One node of the taxonomy: a family, a category or a method."""

    slug: str = Field(pattern=SLUG_PATTERN, max_length=SLUG_CHARS)
    name: str = Field(min_length=2, max_length=NAME_CHARS)
    parent: str | None = Field(default=None, pattern=SLUG_PATTERN, max_length=SLUG_CHARS)
    kind: NodeKind
    summary: str = Field(min_length=40)
    # One sentence shown first: what it does, what it buys, its price.
    takeaway: str | None = Field(
        default=None, min_length=TAKEAWAY_CHARS[0], max_length=TAKEAWAY_CHARS[1]
    )
    level: Level | None = None
    mechanism: str | None = None
    saves: Savings | None = None
    costs: Costs | None = None
    challenges: list[str] = Field(default_factory=list)
    practical: Practical | None = None
    implementations: list[Implementation] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    reported_results: list[ReportedResult] = Field(default_factory=list)
    runnable: Runnable | None = None
    tags: Tags | None = None


class TaxonomyFile(_Strict):
    """One data file: a family's nodes and the references they cite."""

    schema_version: Literal[1]
    family: str = Field(pattern=SLUG_PATTERN, max_length=SLUG_CHARS)
    references: list[Reference] = Field(default_factory=list)
    nodes: list[Node] = Field(min_length=1)


# Fields every node must carry, the families and categories too.
NODE_REQUIRED_FIELDS = ("takeaway", "level")

# Fields every leaf must carry (TAXONOMY.md, "What each node holds").
LEAF_REQUIRED_FIELDS = (
    "mechanism",
    "saves",
    "costs",
    "challenges",
    "practical",
    "implementations",
    "references",
    "runnable",
    "tags",
)
