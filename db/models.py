"""The taxonomy's tables: techniques (a tree), references, implementations, reported results
and tags."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    """The declarative base of every OptAtlas table."""


technique_tags = Table(
    "technique_tags",
    Base.metadata,
    Column("technique_id", ForeignKey("techniques.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class Technique(Base):
    """A node of the taxonomy: a family, a category or a method."""

    __tablename__ = "techniques"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("techniques.id", ondelete="RESTRICT"), index=True
    )
    family: Mapped[str] = mapped_column(String(80), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # Order among siblings, as in the data files.
    position: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text)
    # One sentence shown first, and who the node is written for (introductory / advanced).
    takeaway: Mapped[str | None] = mapped_column(Text)
    level: Mapped[str | None] = mapped_column(String(20))
    mechanism: Mapped[str | None] = mapped_column(Text)
    # Structured prose sections (savings, costs, practical notes) as JSON objects of text.
    saves: Mapped[dict | None] = mapped_column(JSON)
    costs: Mapped[dict | None] = mapped_column(JSON)
    practical: Mapped[dict | None] = mapped_column(JSON)
    challenges: Mapped[list] = mapped_column(JSON, default=list)
    # The usual recipe (the first of recipe_links), kept as a column for the tree's icon.
    runnable_recipe: Mapped[str | None] = mapped_column(String(80))
    # Every recipe that runs the node, in order: [{"recipe": slug, "note": text}, ...].
    recipe_links: Mapped[list | None] = mapped_column(JSON)
    not_runnable_reason: Mapped[str | None] = mapped_column(Text)
    needs_calibration: Mapped[bool | None] = mapped_column(Boolean)
    needs_training: Mapped[bool | None] = mapped_column(Boolean)
    # sha256 of the node's content as seeded: a reseed skips nodes whose hash is unchanged.
    content_hash: Mapped[str] = mapped_column(String(64))

    parent: Mapped[Technique | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Technique]] = relationship(
        back_populates="parent", order_by="Technique.position"
    )
    citations: Mapped[list[Citation]] = relationship(
        back_populates="technique", cascade="all, delete-orphan", order_by="Citation.position"
    )
    implementations: Mapped[list[Implementation]] = relationship(
        back_populates="technique",
        cascade="all, delete-orphan",
        order_by="Implementation.position",
    )
    reported_results: Mapped[list[ReportedResult]] = relationship(
        back_populates="technique",
        cascade="all, delete-orphan",
        order_by="ReportedResult.position",
    )
    tags: Mapped[list[Tag]] = relationship(secondary=technique_tags, order_by="Tag.id")


class Reference(Base):
    """A paper, report or documentation page."""

    __tablename__ = "references"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(Text)
    authors: Mapped[list] = mapped_column(JSON)
    et_al: Mapped[bool] = mapped_column(Boolean, default=False)
    year: Mapped[int] = mapped_column(Integer)
    venue: Mapped[str] = mapped_column(String(200))
    arxiv: Mapped[str | None] = mapped_column(String(20), unique=True)
    doi: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))


class Citation(Base):
    """A technique citing a reference, in the order the content lists them."""

    __tablename__ = "citations"

    technique_id: Mapped[int] = mapped_column(
        ForeignKey("techniques.id", ondelete="CASCADE"), primary_key=True
    )
    reference_id: Mapped[int] = mapped_column(
        ForeignKey("references.id", ondelete="RESTRICT"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)

    technique: Mapped[Technique] = relationship(back_populates="citations")
    reference: Mapped[Reference] = relationship()


class Implementation(Base):
    """A library or engine that implements a technique."""

    __tablename__ = "implementations"

    id: Mapped[int] = mapped_column(primary_key=True)
    technique_id: Mapped[int] = mapped_column(
        ForeignKey("techniques.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")

    technique: Mapped[Technique] = relationship(back_populates="implementations")


class ReportedResult(Base):
    """A number as a paper reports it: literature, never an OptAtlas measurement."""

    __tablename__ = "reported_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    technique_id: Mapped[int] = mapped_column(
        ForeignKey("techniques.id", ondelete="CASCADE"), index=True
    )
    reference_id: Mapped[int] = mapped_column(ForeignKey("references.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(200))
    baseline: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(40), default="")
    lower_is_better: Mapped[bool] = mapped_column(Boolean)
    setting: Mapped[str] = mapped_column(Text)
    protocol: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")
    # What the number is comparable with (taxonomy.schema.ReportedResult).
    dataset: Mapped[str | None] = mapped_column(String(200))
    context_tokens: Mapped[int | None] = mapped_column(Integer)
    perplexity_level: Mapped[str | None] = mapped_column(String(10))
    baseline_is: Mapped[str] = mapped_column(
        String(200), default="the unmodified model", server_default="the unmodified model"
    )

    technique: Mapped[Technique] = relationship(back_populates="reported_results")
    reference: Mapped[Reference] = relationship()


class Tag(Base):
    """A filter facet: `goal` (memory, latency, ...) or `hardware` (cpu, ...)."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(80))


class TaxonomySource(Base):
    """Which data file content the database was seeded from."""

    __tablename__ = "taxonomy_sources"

    file_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
