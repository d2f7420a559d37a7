"""Migrations build the schema the models describe, on an empty SQLite and PostgreSQL
database alike, with SQLite tuned for concurrent use."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from db.engine import make_engine
from db.migrate import current_revision, head_revision, upgrade
from db.schema import metadata
from db.schema_version import HEAD_REVISION, is_current, stored_revision


def test_upgrade_on_an_empty_database_reaches_head(backend_url):
    engine = make_engine(backend_url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())


def test_migrations_match_the_models(backend_url):
    engine = make_engine(backend_url)
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_head_constant_matches_alembic_head(backend_url):
    engine = make_engine(backend_url)
    assert stored_revision(engine) is None and not is_current(engine)
    upgrade(engine)
    assert HEAD_REVISION == head_revision() == stored_revision(engine)
    assert is_current(engine)


def test_upgrade_twice_is_harmless(backend_url):
    engine = make_engine(backend_url)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    with engine.connect() as connection:
        pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 30000


def test_database_url_comes_from_the_environment(monkeypatch, tmp_path):
    from db.engine import database_url

    monkeypatch.delenv("OPTATLAS_DB_URL")
    monkeypatch.setenv("OPTATLAS_HOME", str(tmp_path / "atlas"))
    assert database_url() == f"sqlite:///{tmp_path / 'atlas' / 'optatlas.db'}"
    monkeypatch.setenv("OPTATLAS_DB_URL", "postgresql://db.example/atlas")
    assert database_url() == "postgresql://db.example/atlas"
