"""Read the taxonomy's data files into validated, cross-checked content.

Errors name the file and the field, so that whoever edits the content can fix it at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from taxonomy.recipes import RECIPE_SLUGS
from taxonomy.schema import (
    LEAF_REQUIRED_FIELDS,
    NODE_REQUIRED_FIELDS,
    Node,
    Reference,
    ReportedResult,
    TaxonomyFile,
)

DATA_DIR = Path(__file__).parent / "data"
# The survey's order of its four families; the tree and the chart follow it.
FAMILY_ORDER = ("quantization", "pruning", "distillation", "architecture")


# Content with a gap (no takeaway, no dataset, ...) does not load; an author lists every gap
# at once with `scripts/check_taxonomy.py --gaps`, which loads with allow_gaps=True.
ALLOW_GAPS = False


class TaxonomyError(ValueError):
    """The taxonomy's data files are invalid; the message names file and field."""


@dataclass(frozen=True)
class Taxonomy:
    """The whole validated taxonomy: nodes in file order, references by key."""

    nodes: tuple[Node, ...]
    references: dict[str, Reference]
    family_of: dict[str, str]
    # sha256 of each data file's bytes, so a seed can say which content it came from.
    file_hashes: dict[str, str] = field(default_factory=dict)

    def children(self, slug: str | None) -> list[Node]:
        """The nodes whose parent is `slug` (the families when `slug` is None)."""
        return [node for node in self.nodes if node.parent == slug]


def _format_location(loc: tuple, nodes: list) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]"
            # Name the node by slug, which is easier to find than its index.
            if i == 1 and loc[0] == "nodes" and item < len(nodes):
                slug = nodes[item].get("slug") if isinstance(nodes[item], dict) else None
                if slug:
                    parts[-1] += f" ({slug})"
        else:
            parts.append(str(item))
    return ".".join(parts)


def load_file(path: Path) -> TaxonomyFile:
    """Parse and validate one data file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise TaxonomyError(f"{path.name}: not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{path.name}: expected a mapping at the top level")
    try:
        return TaxonomyFile.model_validate(raw)
    except ValidationError as error:
        nodes = raw.get("nodes") if isinstance(raw.get("nodes"), list) else []
        lines = [
            f"{path.name}: {_format_location(e['loc'], nodes)}: {e['msg']}"
            for e in error.errors()
        ]
        raise TaxonomyError("\n".join(lines)) from None


def _merge_references(files: dict[str, TaxonomyFile]) -> dict[str, Reference]:
    references: dict[str, Reference] = {}
    origin: dict[str, str] = {}
    by_arxiv: dict[str, str] = {}
    for name, content in files.items():
        for ref in content.references:
            if ref.key in references and references[ref.key] != ref:
                raise TaxonomyError(
                    f"{name}: reference {ref.key!r} differs from its entry in {origin[ref.key]}"
                )
            if ref.arxiv and by_arxiv.setdefault(ref.arxiv, ref.key) != ref.key:
                raise TaxonomyError(
                    f"{name}: reference {ref.key!r} repeats arXiv id {ref.arxiv} "
                    f"of reference {by_arxiv[ref.arxiv]!r}"
                )
            references[ref.key] = ref
            origin.setdefault(ref.key, name)
    return references


def _check_tree(files: dict[str, TaxonomyFile], references: dict[str, Reference]) -> dict[str, str]:
    node_file: dict[str, str] = {}
    nodes: dict[str, Node] = {}
    for name, content in files.items():
        for node in content.nodes:
            if node.slug in node_file:
                raise TaxonomyError(
                    f"{name}: slug {node.slug!r} is also used in {node_file[node.slug]}"
                )
            node_file[node.slug] = name
            nodes[node.slug] = node
    # Dangling parents first: every later check walks the tree.
    for slug, node in nodes.items():
        if node.parent is not None and node.parent not in nodes:
            raise TaxonomyError(
                f"{node_file[slug]}: node {slug!r}: parent {node.parent!r} does not exist"
            )
    has_children = {node.parent for node in nodes.values() if node.parent}
    family_of: dict[str, str] = {}
    for slug, node in nodes.items():
        name = node_file[slug]
        family = files[name].family
        where = f"{name}: node {slug!r}"
        if node.kind == "family":
            if node.parent is not None or slug != family:
                raise TaxonomyError(f"{where}: a family node must be the file's root, '{family}'")
        elif node.parent is None:
            raise TaxonomyError(f"{where}: only the family node may lack a parent")
        elif files[node_file[node.parent]].family != family:
            raise TaxonomyError(f"{where}: parent {node.parent!r} belongs to another family")
        # Walk up to the root: catches cycles and nodes not hanging under their family.
        seen, current = {slug}, node
        while current.parent is not None:
            if current.parent in seen:
                raise TaxonomyError(f"{where}: its parents form a cycle")
            seen.add(current.parent)
            current = nodes[current.parent]
        if current.slug != family:
            raise TaxonomyError(f"{where}: not reachable from family {family!r}")
        family_of[slug] = family
        if node.kind == "method" and slug in has_children:
            raise TaxonomyError(f"{where}: a method is a leaf; make it a category to nest nodes")
        if node.kind == "category" and slug not in has_children:
            raise TaxonomyError(f"{where}: a category needs at least one child")
        if slug not in has_children:
            missing = [f for f in LEAF_REQUIRED_FIELDS if not getattr(node, f)]
            if missing:
                raise TaxonomyError(f"{where}: a leaf must fill {', '.join(missing)}")
        for link in node.runnable.links if node.runnable else ():
            if link.recipe not in RECIPE_SLUGS:
                raise TaxonomyError(f"{where}: unknown recipe {link.recipe!r}")
        for key in node.references:
            if key not in references:
                raise TaxonomyError(f"{where}: cites unknown reference {key!r}")
        for i, result in enumerate(node.reported_results):
            if result.source not in node.references:
                raise TaxonomyError(
                    f"{where}: reported_results[{i}].source {result.source!r} "
                    "is not among the node's references"
                )
    return family_of


def _result_gaps(result: ReportedResult) -> list[str]:
    # What a reader needs to know before comparing the number with another.
    gaps = []
    if result.dataset is None:
        gaps.append("name the dataset or benchmark it was measured on")
    if result.is_perplexity and result.perplexity_level is None:
        gaps.append("a perplexity needs its perplexity_level: token, word or byte")
    if result.is_perplexity and result.context_tokens is None:
        gaps.append("a perplexity needs its context_tokens (window length)")
    if result.baseline is None and not result.note:
        gaps.append("give the baseline, or a note saying why there is none")
    return gaps


def content_gaps(files: dict[str, TaxonomyFile]) -> list[str]:
    """What the teaching layer and the comparable evidence still lack, one line per gap.

    Separate from the structural checks so that an author can list every gap at once
    (`scripts/check_taxonomy.py --gaps`); loading refuses content with any gap.
    """
    gaps: list[str] = []
    for name, content in files.items():
        for node in content.nodes:
            where = f"{name}: node {node.slug!r}"
            missing = [f for f in NODE_REQUIRED_FIELDS if not getattr(node, f)]
            if missing:
                gaps.append(f"{where}: every node must fill {', '.join(missing)}")
            for i, result in enumerate(node.reported_results):
                gaps += [f"{where}: reported_results[{i}]: {gap}" for gap in _result_gaps(result)]
    return gaps


def load_taxonomy(data_dir: Path = DATA_DIR, *, allow_gaps: bool = ALLOW_GAPS) -> Taxonomy:
    """Load every `*.yaml` file under `data_dir` and check the whole tree."""
    paths = sorted(data_dir.glob("*.yaml"))
    if not paths:
        raise TaxonomyError(f"no taxonomy data files in {data_dir}")
    return load_paths(paths, allow_gaps=allow_gaps)


def load_paths(paths: list[Path], *, allow_gaps: bool = ALLOW_GAPS) -> Taxonomy:
    """Load the given data files and check the tree they form together.

    With `allow_gaps`, content that passes every structural check loads even where
    `content_gaps` lists something missing.
    """
    loaded = [(path.name, load_file(path)) for path in paths]
    rank = {family: i for i, family in enumerate(FAMILY_ORDER)}
    # Families in the survey's order; within one, the file named after the family first (its
    # root and the survey's own nodes), then the others by name: a sibling added in a later
    # file comes after the established ones in the tree.
    loaded.sort(key=lambda item: (rank.get(item[1].family, len(rank)),
                                  item[0] != f"{item[1].family}.yaml", item[0]))
    files = dict(loaded)
    references = _merge_references(files)
    family_of = _check_tree(files, references)
    gaps = [] if allow_gaps else content_gaps(files)
    if gaps:
        raise TaxonomyError("\n".join(gaps))
    nodes = tuple(node for content in files.values() for node in content.nodes)
    hashes = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}
    return Taxonomy(nodes=nodes, references=references, family_of=family_of, file_hashes=hashes)
