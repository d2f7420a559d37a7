"""The glossary: terms a newcomer may not know, each with a plain definition.

Node pages link a term's first mention to its entry (`term_pattern` finds mentions), so the
dense mechanism text stays readable for a workshop. The terms live in `glossary.yaml` beside
the data files; every spelling a term is written in is listed once, so a mention links to
exactly one entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from taxonomy.schema import SLUG_PATTERN

GLOSSARY_PATH = Path(__file__).parent / "glossary.yaml"


class GlossaryError(ValueError):
    """The glossary file is invalid; the message names the term and field."""


class Term(BaseModel):
    """One glossary entry."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    slug: str = Field(pattern=SLUG_PATTERN, max_length=80)
    term: str = Field(min_length=2, max_length=80)
    # Other spellings that link here: plurals, abbreviations ("KV cache", "key-value cache").
    aliases: list[str] = Field(default_factory=list)
    definition: str = Field(min_length=40)
    # Nodes where the term matters most, to read next.
    nodes: list[str] = Field(default_factory=list)

    @property
    def spellings(self) -> list[str]:
        """The term and its aliases, longest first so 'KV cache quantization' wins over
        'KV cache'."""
        return sorted({self.term, *self.aliases}, key=len, reverse=True)


class GlossaryFile(BaseModel):
    """The glossary file: a schema version and the terms in alphabetical order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1]
    terms: list[Term] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_entry_per_spelling(self) -> GlossaryFile:
        owner: dict[str, str] = {}
        for term in self.terms:
            for spelling in term.spellings:
                key = spelling.lower()
                if key in owner and owner[key] != term.slug:
                    raise ValueError(
                        f"{spelling!r} is a spelling of both {owner[key]!r} and {term.slug!r}"
                    )
                owner[key] = term.slug
        slugs = [t.slug for t in self.terms]
        repeated = sorted({s for s in slugs if slugs.count(s) > 1})
        if repeated:
            raise ValueError(f"terms listed twice: {', '.join(repeated)}")
        return self


@dataclass(frozen=True)
class Glossary:
    """The loaded glossary with the pattern that finds its terms in prose."""

    terms: tuple[Term, ...]
    by_slug: dict[str, Term]
    # Lower-cased spelling -> slug.
    by_spelling: dict[str, str]
    pattern: re.Pattern[str] | None

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, slug) of every mention in `text`, left to right, none overlapping."""
        if self.pattern is None:
            return []
        found = []
        for match in self.pattern.finditer(text):
            # Case-insensitive matching also accepts letters whose lower case is another
            # letter (the long s 'ſ' matches 's'): such a match names no spelling, and is
            # not a mention.
            slug = self.by_spelling.get(match.group(0).lower())
            if slug is not None:
                found.append((match.start(), match.end(), slug))
        return found


def term_pattern(spellings: list[str]) -> re.Pattern[str] | None:
    """A case-insensitive pattern for whole-word mentions, longest spelling first."""
    if not spellings:
        return None
    ordered = sorted(set(spellings), key=len, reverse=True)
    alternatives = "|".join(re.escape(s) for s in ordered)
    # Word edges by hand: `\b` fails beside a non-word character such as the '#' of 'QuIP#'.
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


def parse_glossary(raw: object, name: str = GLOSSARY_PATH.name) -> Glossary:
    """Validate the glossary's content (already parsed from YAML)."""
    try:
        content = GlossaryFile.model_validate(raw)
    except ValidationError as error:
        lines = [f"{name}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
        raise GlossaryError("\n".join(lines)) from None
    by_spelling = {s.lower(): t.slug for t in content.terms for s in t.spellings}
    return Glossary(
        terms=tuple(sorted(content.terms, key=lambda t: t.term.lower())),
        by_slug={t.slug: t for t in content.terms},
        by_spelling=by_spelling,
        pattern=term_pattern([s for t in content.terms for s in t.spellings]),
    )


@cache
def load_glossary(path: Path = GLOSSARY_PATH) -> Glossary:
    """The glossary file, validated (read once per process)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise GlossaryError(f"{path.name}: cannot be read: {error}") from error
    return parse_glossary(raw, path.name)


def unknown_nodes(glossary: Glossary, slugs: set[str]) -> list[str]:
    """'term -> node' for every node a term points to that the taxonomy lacks."""
    return [f"{t.slug} -> {n}" for t in glossary.terms for n in t.nodes if n not in slugs]
