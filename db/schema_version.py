"""Which schema revision a database is at, read without importing Alembic.

Alembic costs a few hundred milliseconds to import; the UI checks the revision on every
server start and only needs Alembic when the database is actually behind.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

# The newest migration in db/migrations/versions; tests check it against Alembic's head.
HEAD_REVISION = "0009"


def stored_revision(engine: Engine) -> str | None:
    """The revision recorded in the database, or None when it was never migrated."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.scalar(text("SELECT version_num FROM alembic_version"))


def is_current(engine: Engine) -> bool:
    """True when the database's schema is the newest the code knows."""
    return stored_revision(engine) == HEAD_REVISION
