"""Where the database lives and how OptAtlas connects to it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

# Seconds SQLite waits on a locked database before giving up: several workers and the UI
# share one file, and short waits are normal.
SQLITE_BUSY_TIMEOUT_S = 30


def optatlas_home() -> Path:
    """The data directory: `OPTATLAS_HOME`, default `~/.optatlas`."""
    return Path(os.environ.get("OPTATLAS_HOME", Path.home() / ".optatlas")).expanduser()


def database_url() -> str:
    """`OPTATLAS_DB_URL`, or a SQLite file in the data directory."""
    url = os.environ.get("OPTATLAS_DB_URL")
    if url:
        return url
    return f"sqlite:///{optatlas_home() / 'optatlas.db'}"


def _configure_sqlite(dbapi_connection, _record) -> None:
    # The driver's implicit transactions are turned off so that _begin_immediate decides
    # when a transaction starts and takes the write lock up front (no upgrade deadlocks).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_immediate(connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | None = None) -> Engine:
    """An engine for `url` (default `database_url()`), with SQLite tuned for concurrent use."""
    url = url or database_url()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session maker whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A short unit of work: commit on success, roll back on error."""
    with session_factory(engine)() as session, session.begin():
        yield session
