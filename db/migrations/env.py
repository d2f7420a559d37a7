"""Alembic environment: runs migrations against the engine that db.migrate hands over."""

from alembic import context

from db.engine import make_engine
from db.schema import metadata


def run_migrations() -> None:
    """Migrate online, in batch mode so SQLite can alter tables."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = make_engine(context.config.get_main_option("sqlalchemy.url"))
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
