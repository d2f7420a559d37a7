"""The UI's one door to storage: a shared engine, the cached taxonomy catalog and glossary."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine, func, select

from db import models
from db.engine import database_url, make_engine
from db.schema_version import is_current
from taxonomy.catalog import Catalog, load_catalog
from taxonomy.glossary import Glossary, load_glossary


def prepare_database(engine: Engine) -> None:
    """Migrate to the newest schema and seed the taxonomy when the database has none."""
    # Migration and seeding tools load only when needed: most starts find both done.
    if not is_current(engine):
        from db.migrate import upgrade

        upgrade(engine)
    with engine.connect() as connection:
        empty = connection.scalar(select(func.count()).select_from(models.Technique)) == 0
    if empty:
        from taxonomy.loader import load_taxonomy
        from taxonomy.seed import seed

        seed(engine, load_taxonomy())


@st.cache_resource(show_spinner=False)
def get_engine(url: str) -> Engine:
    """One engine per database URL for the whole server, ready to read."""
    engine = make_engine(url)
    prepare_database(engine)
    return engine


def _content_version(engine: Engine) -> tuple[tuple[str, str], ...]:
    # The seeded files' hashes: a reseed with new content changes this, and so the cache key.
    with engine.connect() as connection:
        rows = connection.execute(
            select(models.TaxonomySource.file_name, models.TaxonomySource.sha256).order_by(
                models.TaxonomySource.file_name
            )
        )
        return tuple((name, digest) for name, digest in rows)


@st.cache_resource(show_spinner=False, max_entries=4)
def _catalog_for(url: str, version: tuple[tuple[str, str], ...]) -> Catalog:
    # cache_resource, not cache_data: the Catalog is immutable, so every session can share
    # one object instead of unpickling a copy on each rerun.
    return load_catalog(get_engine(url))


def get_catalog() -> Catalog:
    """The taxonomy as the database holds it now."""
    url = database_url()
    return _catalog_for(url, _content_version(get_engine(url)))


@st.cache_resource(show_spinner=False)
def get_glossary() -> Glossary:
    """The glossary file, shared by every session (it changes only with a release)."""
    return load_glossary()
