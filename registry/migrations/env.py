"""Alembic environment: runs on the connection `registry.migrations` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from registry.tables import registry_metadata

# Any constant works; it only has to be the same in every process migrating one database.
_POSTGRES_LOCK_KEY = 0x7863616473


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=registry_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several workers may start at once; the first migrates, the others then find head.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_LOCK_KEY}
            )
        context.run_migrations()


def _run_from_url() -> None:
    from registry.sql import create_registry_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or migrate through registry.migrations.upgrade()")
    engine = create_registry_engine(url)
    try:
        with engine.connect() as connection:
            connection.execution_options(xcads_write=True)
            with connection.begin():
                _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("xcads migrations run online only")

_connection = context.config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    _run_from_url()
