"""Alembic environment: runs the revisions on the connection it is given.

:mod:`agent.adapters.persistence.migrate` passes an open connection (already inside a
transaction) in ``config.attributes["connection"]``. The ``alembic`` command line instead
names the database with ``-x url=...`` or ``DATABASE_URL``. ``--sql`` (offline) renders the
DDL for a DBA without connecting.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, text

from agent.adapters.persistence.engine import create_database_engine, normalize_database_url
from agent.adapters.persistence.migrate import render_plain_type
from agent.adapters.persistence.models import Base

MIGRATION_LOCK_KEY = 0x6F70_7461_6765_6E74
"""PostgreSQL advisory lock id ("optagent" in ASCII) held while migrating, so processes
starting together migrate one after the other."""


def _database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or os.environ.get("OPTAGENT_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("name the database: alembic -x url=sqlite:///var/optagent.db ...")
    return url


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_plain_type,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


def _run_offline() -> None:
    context.configure(
        url=normalize_database_url(_database_url()),
        target_metadata=Base.metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        _run_on(given)
        return
    engine = create_database_engine(_database_url())
    try:
        with engine.connect() as connection:
            _run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
