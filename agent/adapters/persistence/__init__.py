"""Persistence: SQLAlchemy models, repositories and Alembic migrations behind
:class:`agent.ports.Store`. The only package that imports SQLAlchemy or Alembic.

Use :func:`open_store` (it migrates) in each process; ``optagent db upgrade`` calls
:func:`upgrade`. See ``docs/persistence.md``.
"""

from typing import TYPE_CHECKING, Any

from agent.adapters.persistence.engine import create_database_engine, normalize_database_url
from agent.adapters.persistence.store import SqlStore, SqlStoreSession, open_store
from agent.adapters.persistence.types import NaiveDatetimeError

if TYPE_CHECKING:
    from agent.adapters.persistence.migrate import (
        current_revision,
        downgrade,
        head_revision,
        upgrade,
    )

_MIGRATE_EXPORTS = ("current_revision", "downgrade", "head_revision", "upgrade")


def __getattr__(name: str) -> Any:
    # Alembic is imported only when a migration function is used: a process whose database
    # is already current never loads it (every Ray actor opens the store).
    if name in _MIGRATE_EXPORTS:
        from agent.adapters.persistence import migrate  # noqa: PLC0415

        return getattr(migrate, name)
    raise AttributeError(name)


__all__ = [
    "NaiveDatetimeError",
    "SqlStore",
    "SqlStoreSession",
    "create_database_engine",
    "current_revision",
    "downgrade",
    "head_revision",
    "normalize_database_url",
    "open_store",
    "upgrade",
]
