"""Alembic migrations, run programmatically from the installed package.

The scripts live in :mod:`agent.adapters.persistence.migrations`; nothing depends on an
``alembic.ini`` at the repository root. ``optagent db upgrade`` calls :func:`upgrade`.

Several processes may start at once and all try to upgrade: on SQLite the migration runs
inside ``BEGIN IMMEDIATE`` (one writer at a time), on PostgreSQL under a transaction-scoped
advisory lock (see ``migrations/env.py``), so the second process finds the schema current.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from alembic import command
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from agent.adapters.persistence.engine import (
    READ_ONLY_OPTION,
    create_database_engine,
    is_memory_sqlite,
)
from agent.adapters.persistence.types import Float64, JsonDocument, Money, UtcDateTime

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "current_revision_of",
    "downgrade",
    "downgrade_engine",
    "head_revision",
    "render_plain_type",
    "upgrade",
    "upgrade_engine",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory shipped inside the package."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the packaged scripts; ``connection`` is handed to ``env.py``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def render_plain_type(type_: str, obj: object, _context: AutogenContext) -> str | Literal[False]:
    """Autogenerate hook: write this package's column types as plain SQLAlchemy types, so a
    generated revision stays valid whatever later happens to :mod:`.types`."""
    if type_ != "type":
        return False
    if isinstance(obj, Money):
        return "sa.Numeric(precision=18, scale=6).with_variant(sa.BigInteger(), 'sqlite')"
    if isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, Float64):
        return "sa.Double()"
    if isinstance(obj, JsonDocument):
        return "sa.JSON()"
    return False


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise RuntimeError(f"no Alembic revision in {MIGRATIONS_DIR}")
    return head


def _refuse_memory(url: str | URL) -> Engine:
    engine = create_database_engine(url)
    if is_memory_sqlite(engine.url):
        engine.dispose()
        raise ValueError(
            "an in-memory SQLite database exists only inside its engine; open it with "
            "open_store(url), which migrates its own engine"
        )
    return engine


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` in one transaction."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade_engine(engine: Engine, revision: str = "base") -> None:
    """Downgrade the database behind ``engine`` to ``revision`` in one transaction."""
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def current_revision_of(engine: Engine) -> str | None:
    """The revision of the database behind ``engine``; None if it was never migrated."""
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY_OPTION: True})
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Apply migrations to the database at ``url`` up to ``revision`` (default: the newest)."""
    engine = _refuse_memory(url)
    try:
        upgrade_engine(engine, revision)
    finally:
        engine.dispose()


def downgrade(url: str | URL, revision: str = "base") -> None:
    """Revert migrations at ``url`` down to ``revision`` (default: drop every table)."""
    engine = _refuse_memory(url)
    try:
        downgrade_engine(engine, revision)
    finally:
        engine.dispose()


def current_revision(url: str | URL) -> str | None:
    """The revision the database at ``url`` is at; None for an empty (unmigrated) database."""
    engine = _refuse_memory(url)
    try:
        return current_revision_of(engine)
    finally:
        engine.dispose()
