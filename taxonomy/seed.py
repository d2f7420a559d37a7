"""Write the taxonomy into the database: idempotent, and only what changed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db import models
from db.engine import transaction
from taxonomy.loader import Taxonomy
from taxonomy.schema import Node, Reference


@dataclass(frozen=True)
class SeedReport:
    """What one seed changed."""

    created: int
    updated: int
    deleted: int
    unchanged: int
    references_changed: int

    @property
    def changed(self) -> bool:
        """True when the seed wrote anything."""
        return bool(self.created or self.updated or self.deleted or self.references_changed)

    def __str__(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.deleted} deleted, "
            f"{self.unchanged} unchanged techniques; {self.references_changed} references changed"
        )


def _hash(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _sync_references(
    session: Session, taxonomy: Taxonomy
) -> tuple[dict[str, models.Reference], int]:
    existing = {ref.key: ref for ref in session.scalars(select(models.Reference))}
    changed = 0
    for key, ref in taxonomy.references.items():
        digest = _hash(ref.model_dump())
        row = existing.get(key)
        if row is not None and row.content_hash == digest:
            continue
        if row is None:
            row = existing[key] = models.Reference(key=key)
            session.add(row)
        _fill_reference(row, ref, digest)
        changed += 1
    return existing, changed


def _fill_reference(row: models.Reference, ref: Reference, digest: str) -> None:
    row.title, row.authors, row.et_al = ref.title, list(ref.authors), ref.et_al
    row.year, row.venue = ref.year, ref.venue
    row.arxiv, row.doi, row.url = ref.arxiv, ref.doi, ref.url
    row.content_hash = digest


def _tag_rows(session: Session, taxonomy: Taxonomy) -> dict[tuple[str, str], models.Tag]:
    tags = {(tag.kind, tag.value): tag for tag in session.scalars(select(models.Tag))}
    for node in taxonomy.nodes:
        if node.tags:
            wanted = [("goal", g) for g in node.tags.goals] + [
                ("hardware", h) for h in node.tags.hardware
            ]
            for kind, value in wanted:
                if (kind, value) not in tags:
                    tags[(kind, value)] = models.Tag(kind=kind, value=value)
                    session.add(tags[(kind, value)])
    return tags


def _node_payload(node: Node, family: str, position: int) -> dict:
    return {"node": node.model_dump(), "family": family, "position": position}


def _fill_technique(
    row: models.Technique,
    node: Node,
    *,
    family: str,
    position: int,
    parent: models.Technique | None,
    references: dict[str, models.Reference],
    tags: dict[tuple[str, str], models.Tag],
    digest: str,
) -> None:
    row.name, row.kind, row.family, row.position = node.name, node.kind, family, position
    row.parent = parent
    row.summary, row.mechanism = node.summary, node.mechanism
    row.takeaway, row.level = node.takeaway, node.level
    row.saves = node.saves.model_dump() if node.saves else None
    row.costs = node.costs.model_dump() if node.costs else None
    row.practical = node.practical.model_dump() if node.practical else None
    row.challenges = list(node.challenges)
    links = node.runnable.links if node.runnable else []
    row.runnable_recipe = links[0].recipe if links else None
    row.recipe_links = [link.model_dump() for link in links]
    row.not_runnable_reason = node.runnable.reason if node.runnable else None
    row.needs_calibration = node.tags.needs_calibration if node.tags else None
    row.needs_training = node.tags.needs_training if node.tags else None
    row.citations = [
        models.Citation(reference=references[key], position=i)
        for i, key in enumerate(node.references)
    ]
    row.implementations = [
        models.Implementation(name=impl.name, url=impl.url, note=impl.note, position=i)
        for i, impl in enumerate(node.implementations)
    ]
    row.reported_results = [
        models.ReportedResult(
            reference=references[result.source],
            position=i,
            **result.model_dump(exclude={"source"}),
        )
        for i, result in enumerate(node.reported_results)
    ]
    row.tags = (
        [tags[("goal", g)] for g in node.tags.goals]
        + [tags[("hardware", h)] for h in node.tags.hardware]
        if node.tags
        else []
    )
    row.content_hash = digest


def _depth(node: Node, by_slug: dict[str, Node]) -> int:
    depth = 0
    while node.parent:
        node, depth = by_slug[node.parent], depth + 1
    return depth


def seed(engine: Engine, taxonomy: Taxonomy) -> SeedReport:
    """Make the database's taxonomy equal to `taxonomy`, in one transaction."""
    by_slug = {node.slug: node for node in taxonomy.nodes}
    position = {node.slug: i for i, node in enumerate(taxonomy.nodes)}
    with transaction(engine) as session:
        references, references_changed = _sync_references(session, taxonomy)
        tags = _tag_rows(session, taxonomy)
        rows = {row.slug: row for row in session.scalars(select(models.Technique))}
        created = updated = unchanged = 0
        # Parents first, so each node's parent row exists when the node is written.
        for node in sorted(taxonomy.nodes, key=lambda n: _depth(n, by_slug)):
            family = taxonomy.family_of[node.slug]
            digest = _hash(_node_payload(node, family, position[node.slug]))
            row = rows.get(node.slug)
            if row is not None and row.content_hash == digest:
                unchanged += 1
                continue
            if row is None:
                row = rows[node.slug] = models.Technique(slug=node.slug)
                session.add(row)
                created += 1
            else:
                updated += 1
            _fill_technique(
                row,
                node,
                family=family,
                position=position[node.slug],
                parent=rows[node.parent] if node.parent else None,
                references=references,
                tags=tags,
                digest=digest,
            )
        session.flush()
        # Removed nodes go deepest first: a parent may not be deleted before its children.
        removed = [row for slug, row in rows.items() if slug not in by_slug]
        removed.sort(key=lambda row: -_row_depth(row))
        for row in removed:
            session.delete(row)
            session.flush()
        for key, row in references.items():
            if key not in taxonomy.references:
                session.delete(row)
                references_changed += 1
        used_tags = set().union(*(_node_tags(node) for node in taxonomy.nodes))
        for kind_value, tag in tags.items():
            if kind_value not in used_tags:
                session.delete(tag)
        _record_sources(session, taxonomy)
    return SeedReport(created, updated, len(removed), unchanged, references_changed)


def _row_depth(row: models.Technique) -> int:
    depth = 0
    while row.parent is not None:
        row, depth = row.parent, depth + 1
    return depth


def _node_tags(node: Node) -> set[tuple[str, str]]:
    if not node.tags:
        return set()
    return {("goal", g) for g in node.tags.goals} | {("hardware", h) for h in node.tags.hardware}


def _record_sources(session: Session, taxonomy: Taxonomy) -> None:
    sources = {row.file_name: row for row in session.scalars(select(models.TaxonomySource))}
    for name, digest in taxonomy.file_hashes.items():
        if name not in sources:
            session.add(models.TaxonomySource(file_name=name, sha256=digest))
        elif sources[name].sha256 != digest:
            sources[name].sha256 = digest
    for name, row in sources.items():
        if name not in taxonomy.file_hashes:
            session.delete(row)
