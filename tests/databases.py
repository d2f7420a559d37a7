"""Test databases on both stores OptAtlas supports: a fresh SQLite file, or a fresh schema on
a PostgreSQL server, for each test.

The PostgreSQL server is `OPTATLAS_TEST_POSTGRES_URL` (default: the local one at
127.0.0.1:5432, database `test`, user `postgres`). Each test gets its own schema, named for
it and dropped afterwards; the URL carries the schema as the connection's search path, so
every process the test starts (workers, Ray actors, a server) lands in the same schema.
Where no server answers, PostgreSQL tests skip with a message; `OPTATLAS_REQUIRE_POSTGRES=1`
(set by .ci/run) turns that skip into a failure."""

from __future__ import annotations

import functools
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, make_url, text

POSTGRES_URL_ENV = "OPTATLAS_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "OPTATLAS_REQUIRE_POSTGRES"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")
# The store every other test uses (default sqlite): postgresql runs the whole suite there.
DEFAULT_BACKEND_ENV = "OPTATLAS_TEST_DATABASE"


def postgres_server_url() -> str:
    """The PostgreSQL server tests use."""
    return os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL


@functools.cache
def postgres_problem() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when the server answers."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    url = make_url(postgres_server_url())
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure to connect means: not here
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return f"no PostgreSQL server at {url.render_as_string(hide_password=True)}: {first_line}"
    return None


def require_postgres() -> None:
    """Skip the calling test when no PostgreSQL server is reachable (fail under
    OPTATLAS_REQUIRE_POSTGRES=1)."""
    problem = postgres_problem()
    if problem is None:
        return
    if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
        pytest.fail(f"{problem} ({REQUIRE_POSTGRES_ENV}=1: PostgreSQL tests must run)")
    pytest.skip(problem)


def _schema_name(hint: str) -> str:
    # Lower case letters, digits and underscores, unique, within PostgreSQL's 63 bytes.
    stem = re.sub(r"[^a-z0-9]+", "_", hint.lower()).strip("_")[:40] or "test"
    return f"t_{stem}_{uuid.uuid4().hex[:12]}"


@contextmanager
def fresh_postgres_url(hint: str = "test") -> Iterator[str]:
    """The URL of a new, empty schema on the test server; the schema is dropped afterwards."""
    require_postgres()
    server = make_url(postgres_server_url())
    schema = _schema_name(hint)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = server.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            # Sessions still open in this schema (a killed worker's) must not block the drop.
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def fresh_database_url(backend: str, folder, hint: str = "test") -> Iterator[str]:
    """A URL of an empty database on `backend` ("sqlite": a file in `folder`)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'test.db'}"
    elif backend == "postgresql":
        with fresh_postgres_url(hint) as url:
            yield url
    else:
        raise ValueError(f"unknown test database backend {backend!r}")


def suite_database_url(folder, hint: str = "test"):
    """A fresh database on the store the suite runs on (OPTATLAS_TEST_DATABASE, default
    SQLite), for fixtures that build their own (a context manager, as fresh_database_url)."""
    return fresh_database_url(os.environ.get(DEFAULT_BACKEND_ENV, "sqlite"), folder, hint)


@contextmanager
def seeded_database_url(folder, taxonomy, hint: str = "seeded") -> Iterator[str]:
    """A fresh database on the suite's store, migrated and seeded with `taxonomy`."""
    from db.engine import make_engine
    from db.migrate import upgrade
    from taxonomy.seed import seed

    with suite_database_url(folder, hint) as url:
        engine = make_engine(url)
        upgrade(engine)
        seed(engine, taxonomy)
        engine.dispose()
        yield url
