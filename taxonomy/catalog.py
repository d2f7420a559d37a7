"""A read-only, in-memory view of the seeded taxonomy: the tree, node details and search.

The UI loads one Catalog per database change and answers every question from memory, so
that a page render costs no queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from sqlalchemy import Engine, select
from sqlalchemy.orm import selectinload

from db import models
from db.engine import session_factory
from taxonomy.links import reference_link
from taxonomy.vocabulary import (
    GOAL_LABELS,
    HARDWARE_LABELS,
    in_canonical_order,
    search_terms,
    searchable_text,
)

# Where a query word is found says how well a node answers it, best first: its name, its
# slug and tags, its summary, then its longer text (mechanism, cited titles, libraries).
SEARCH_FIELDS = ("name", "tags", "summary", "body")


@dataclass(frozen=True)
class ReferenceView:
    """A cited work, ready to show."""

    key: str
    title: str
    authors: tuple[str, ...]
    et_al: bool
    year: int
    venue: str
    arxiv: str | None
    doi: str | None
    url: str | None

    @property
    def link(self) -> str:
        """The best URL for a reader (see `reference_link`)."""
        return reference_link(self.arxiv, self.doi, self.url)

    @property
    def author_line(self) -> str:
        """Authors as a reader expects them: 'A, B and C' or 'A, B, C et al.'."""
        names = list(self.authors)
        if self.et_al:
            return ", ".join(names) + " et al."
        if len(names) == 1:
            return names[0]
        return ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class ReportedResultView:
    """A number a paper reports (never an OptAtlas measurement)."""

    model: str
    metric: str
    baseline: float | None
    value: float
    unit: str
    lower_is_better: bool
    setting: str
    protocol: str
    note: str
    source: ReferenceView
    dataset: str | None = None
    context_tokens: int | None = None
    perplexity_level: str | None = None
    baseline_is: str = "the unmodified model"

    @property
    def comparison_key(self) -> tuple:
        """What must match for two reported numbers to sit side by side: model, metric,
        dataset, window, perplexity level and what the baseline is (case and spacing aside)."""
        return tuple(
            " ".join(str(part).lower().split()) if part is not None else None
            for part in (self.model, self.metric, self.dataset, self.context_tokens,
                         self.perplexity_level, self.baseline_is)
        )


@dataclass(frozen=True)
class ImplementationView:
    """A library that implements a technique."""

    name: str
    url: str
    note: str


@dataclass(frozen=True)
class RecipeLinkView:
    """An OptAtlas recipe that runs a node; `note` says how it departs from the method."""

    recipe: str
    note: str = ""


@dataclass(frozen=True)
class TechniqueView:
    """Everything the UI shows about one node."""

    slug: str
    name: str
    parent: str | None
    family: str
    kind: str
    summary: str
    mechanism: str | None
    saves: dict[str, str] | None
    costs: dict[str, str] | None
    practical: dict[str, str] | None
    challenges: tuple[str, ...]
    runnable_recipe: str | None
    not_runnable_reason: str | None
    needs_calibration: bool | None
    needs_training: bool | None
    goals: tuple[str, ...]
    hardware: tuple[str, ...]
    references: tuple[ReferenceView, ...]
    implementations: tuple[ImplementationView, ...]
    reported_results: tuple[ReportedResultView, ...]
    children: tuple[str, ...] = ()
    takeaway: str | None = None
    level: str | None = None
    # Every recipe that runs the node, the usual one (`runnable_recipe`) first.
    recipes: tuple[RecipeLinkView, ...] = ()

    @property
    def is_leaf(self) -> bool:
        """True for nodes with no children (the methods)."""
        return not self.children


@dataclass(frozen=True)
class SearchFilter:
    """What the user asked for: free text and facets. Empty means 'anything'."""

    text: str = ""
    goals: frozenset[str] = frozenset()
    hardware: frozenset[str] = frozenset()
    needs_calibration: bool | None = None
    needs_training: bool | None = None

    @property
    def is_empty(self) -> bool:
        """True when the filter lets every node through."""
        return self == SearchFilter()

    @property
    def has_facets(self) -> bool:
        """True when any facet (beyond free text) is set."""
        return bool(
            self.goals
            or self.hardware
            or self.needs_calibration is not None
            or self.needs_training is not None
        )


@dataclass(frozen=True)
class Catalog:
    """The whole taxonomy, indexed for the UI."""

    nodes: dict[str, TechniqueView]
    roots: tuple[str, ...]
    reference_count: int
    # Per node, the searchable text of each of SEARCH_FIELDS, in that order.
    _search_text: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    def get(self, slug: str) -> TechniqueView | None:
        """The node with this slug, or None."""
        return self.nodes.get(slug)

    def children(self, slug: str) -> list[TechniqueView]:
        """A node's children in content order."""
        return [self.nodes[child] for child in self.nodes[slug].children]

    def ancestors(self, slug: str) -> list[TechniqueView]:
        """From the family down to the node's parent."""
        chain: list[TechniqueView] = []
        parent = self.nodes[slug].parent
        while parent is not None:
            chain.append(self.nodes[parent])
            parent = self.nodes[parent].parent
        return chain[::-1]

    def walk(self) -> list[tuple[TechniqueView, int]]:
        """Every node with its depth, in tree order (depth first, content order)."""
        ordered: list[tuple[TechniqueView, int]] = []
        stack = [(slug, 0) for slug in reversed(self.roots)]
        while stack:
            slug, depth = stack.pop()
            ordered.append((self.nodes[slug], depth))
            stack.extend((child, depth + 1) for child in reversed(self.nodes[slug].children))
        return ordered

    def leaves(self) -> list[TechniqueView]:
        """The methods, in tree order."""
        return [node for node, _ in self.walk() if node.is_leaf]

    def reported_result_count(self) -> int:
        """How many reported numbers the taxonomy carries."""
        return sum(len(node.reported_results) for node in self.nodes.values())

    def matches(self, query: SearchFilter) -> list[TechniqueView]:
        """Nodes that satisfy the filter, best match first (ties in tree order)."""
        terms = search_terms(query.text)
        ranked = []
        for node, _ in self.walk():
            if query.has_facets and not _facets_hold(node, query):
                continue
            # A Catalog built by hand (tests) has no index: its text is read on demand.
            fields = self._search_text.get(node.slug) or _search_text(node)
            rank = _search_rank(fields, terms)
            if rank is not None:
                ranked.append((rank, node))
        # A stable sort: nodes that rank alike keep their tree order.
        ranked.sort(key=lambda pair: pair[0])
        return [node for _, node in ranked]

    def visible_slugs(self, query: SearchFilter) -> set[str]:
        """Matching nodes plus their ancestors: what the tree shows under a filter."""
        if query.is_empty:
            return set(self.nodes)
        visible: set[str] = set()
        for node in self.matches(query):
            visible.add(node.slug)
            visible.update(a.slug for a in self.ancestors(node.slug))
        return visible


def _search_rank(fields: tuple[str, ...], terms: list[tuple[str, ...]]) -> tuple[int, ...] | None:
    """How well `fields` answer `terms` (smaller is better), or None if a term is missing.

    Each term counts in the best field that holds it; a node with more terms in its name
    ranks first, then more in its tags, and so on. Every term must be found somewhere.
    """
    found_in = [0] * len(fields)
    for spellings in terms:
        best = next(
            (i for i, text in enumerate(fields) if any(s in text for s in spellings)), None
        )
        if best is None:
            return None
        found_in[best] += 1
    return tuple(-count for count in found_in)


def _facets_hold(node: TechniqueView, query: SearchFilter) -> bool:
    if query.goals and not query.goals & set(node.goals):
        return False
    if query.hardware and not query.hardware & set(node.hardware):
        return False
    if query.needs_calibration is not None and node.needs_calibration != query.needs_calibration:
        return False
    if query.needs_training is not None and node.needs_training != query.needs_training:
        return False
    return True


def _view(view_type, row, **computed):
    """A view dataclass from a database row: the fields the row has under the same name are
    copied, the others are given in `computed` (tuples, labels, related rows)."""
    copied = {f.name: getattr(row, f.name) for f in fields(view_type)
              if f.init and f.name not in computed}
    return view_type(**copied, **computed)


def _reference_view(row: models.Reference) -> ReferenceView:
    return _view(ReferenceView, row, authors=tuple(row.authors))


def _technique_view(row: models.Technique, refs: dict[int, ReferenceView]) -> TechniqueView:
    def tags(kind: str, labels: dict[str, str]) -> tuple[str, ...]:
        return in_canonical_order((t.value for t in row.tags if t.kind == kind), labels)

    return _view(
        TechniqueView, row,
        parent=row.parent.slug if row.parent else None,
        challenges=tuple(row.challenges or ()),
        goals=tags("goal", GOAL_LABELS),
        hardware=tags("hardware", HARDWARE_LABELS),
        references=tuple(refs[c.reference_id] for c in row.citations),
        implementations=tuple(_view(ImplementationView, i) for i in row.implementations),
        reported_results=tuple(_view(ReportedResultView, r, source=refs[r.reference_id])
                               for r in row.reported_results),
        children=tuple(child.slug for child in row.children),
        recipes=_recipe_links(row),
    )


def _recipe_links(row: models.Technique) -> tuple[RecipeLinkView, ...]:
    links = row.recipe_links
    # A row seeded before recipe_links existed names its one recipe only.
    if links is None and row.runnable_recipe:
        links = [{"recipe": row.runnable_recipe}]
    return tuple(RecipeLinkView(**link) for link in links or ())


def _search_text(node: TechniqueView) -> tuple[str, ...]:
    # One text per SEARCH_FIELDS entry, in its order.
    tags = [node.slug, node.family, *node.goals, *node.hardware]
    body = [node.mechanism or ""]
    body += [ref.title for ref in node.references]
    body += [impl.name for impl in node.implementations]
    return tuple(
        searchable_text(" ".join(parts)) for parts in ([node.name], tags, [node.summary], body)
    )


def load_catalog(engine: Engine) -> Catalog:
    """Read the whole taxonomy in a handful of queries."""
    with session_factory(engine)() as session:
        refs = {
            row.id: _reference_view(row) for row in session.scalars(select(models.Reference))
        }
        rows = session.scalars(
            select(models.Technique)
            .order_by(models.Technique.position)
            .options(
                selectinload(models.Technique.children),
                selectinload(models.Technique.parent),
                selectinload(models.Technique.citations),
                selectinload(models.Technique.implementations),
                selectinload(models.Technique.reported_results),
                selectinload(models.Technique.tags),
            )
        ).all()
        nodes = {row.slug: _technique_view(row, refs) for row in rows}
    roots = tuple(slug for slug, node in nodes.items() if node.parent is None)
    return Catalog(
        nodes=nodes,
        roots=roots,
        reference_count=len(refs),
        _search_text={slug: _search_text(node) for slug, node in nodes.items()},
    )
