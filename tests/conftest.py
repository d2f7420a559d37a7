"""Shared fixtures: an isolated data directory and databases seeded from real or test content."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from db.engine import make_engine
from db.migrate import upgrade
from taxonomy.loader import load_taxonomy
from taxonomy.seed import seed

FIXTURES = Path(__file__).parent / "fixtures"
MINI_TAXONOMY = FIXTURES / "mini_taxonomy"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own OPTATLAS_HOME and database, never the user's."""
    home = tmp_path / "home"
    monkeypatch.setenv("OPTATLAS_HOME", str(home))
    monkeypatch.setenv("OPTATLAS_DB_URL", f"sqlite:///{home / 'test.db'}")
    return home


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


@pytest.fixture(scope="session")
def full_taxonomy():
    """The project's real taxonomy content."""
    return load_taxonomy()


@pytest.fixture(scope="session")
def seeded_db_url(tmp_path_factory, full_taxonomy) -> str:
    """A database seeded once with the real taxonomy, shared read-only by UI tests."""
    url = f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'optatlas.db'}"
    engine = make_engine(url)
    upgrade(engine)
    seed(engine, full_taxonomy)
    engine.dispose()
    return url
