"""The UI's service layer prepares a fresh database by itself."""

from __future__ import annotations

from app.services import prepare_database
from db.engine import make_engine
from db.schema_version import is_current
from taxonomy.catalog import load_catalog


def test_a_fresh_database_is_migrated_and_seeded(tmp_path, full_taxonomy):
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    prepare_database(engine)
    assert is_current(engine)
    assert len(load_catalog(engine).nodes) == len(full_taxonomy.nodes)
    prepare_database(engine)  # a second start finds everything in place
    assert len(load_catalog(engine).nodes) == len(full_taxonomy.nodes)
