"""Shared fixtures: an isolated data directory and databases seeded from real or test content."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from db.engine import make_engine
from db.migrate import upgrade
from taxonomy.loader import load_taxonomy
from tests.databases import (
    BACKENDS,
    fresh_database_url,
    seeded_database_url,
    suite_database_url,
)

FIXTURES = Path(__file__).parent / "fixtures"
MINI_TAXONOMY = FIXTURES / "mini_taxonomy"


@pytest.fixture(autouse=True)
def isolated_home(request, tmp_path, monkeypatch):
    """Every test gets its own OPTATLAS_HOME and database, never the user's: a SQLite file,
    or with OPTATLAS_TEST_DATABASE=postgresql a fresh PostgreSQL schema (to run the whole
    suite on PostgreSQL: `OPTATLAS_TEST_DATABASE=postgresql make test`)."""
    home = tmp_path / "home"
    monkeypatch.setenv("OPTATLAS_HOME", str(home))
    with suite_database_url(home, request.node.name) as url:
        monkeypatch.setenv("OPTATLAS_DB_URL", url)
        yield home


@pytest.fixture
def mini_data_dir(tmp_path) -> Path:
    """A writable copy of the small test taxonomy."""
    target = tmp_path / "taxonomy"
    shutil.copytree(MINI_TAXONOMY, target)
    return target


@pytest.fixture
def engine(isolated_home):
    """A migrated, empty database."""
    engine = make_engine()
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend_url(request, isolated_home, monkeypatch):
    """An empty database on each store OptAtlas supports, SQLite and PostgreSQL (a fresh
    schema; skipped where no server is reachable), set as OPTATLAS_DB_URL for the test and
    every process it starts."""
    with fresh_database_url(request.param, isolated_home, request.node.name) as url:
        monkeypatch.setenv("OPTATLAS_DB_URL", url)
        yield url


@pytest.fixture
def backend_engine(backend_url):
    """A migrated, empty database on each store. A module whose every test must hold on both
    overrides `engine` with it (tests/core/jobs/test_store.py)."""
    engine = make_engine(backend_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def bundled_home(tmp_path_factory) -> Path:
    """One data directory for every test that loads the bundled model in this process, so
    its GGUF is converted to a float checkpoint once per run (about 30 s), not per module."""
    return tmp_path_factory.mktemp("bundled-home")


@pytest.fixture(scope="session")
def full_taxonomy():
    """The project's real taxonomy content."""
    return load_taxonomy()


@pytest.fixture(scope="session")
def seeded_db_url(tmp_path_factory, full_taxonomy) -> str:
    """A database seeded once with the real taxonomy, shared read-only by UI tests (on the
    store OPTATLAS_TEST_DATABASE names, like every test's own database)."""
    with seeded_database_url(tmp_path_factory.mktemp("seeded"), full_taxonomy) as url:
        yield url
