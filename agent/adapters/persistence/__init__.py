"""Persistence: SQLAlchemy models, repositories and Alembic migrations behind
:class:`agent.ports.Store`. The only package that imports SQLAlchemy or Alembic.

Use :func:`open_store` (it migrates) in each process; ``optagent db upgrade`` calls
:func:`upgrade`. See ``docs/persistence.md``.
"""

from agent.adapters.persistence.engine import create_database_engine, normalize_database_url
from agent.adapters.persistence.migrate import (
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from agent.adapters.persistence.store import SqlStore, SqlStoreSession, open_store
from agent.adapters.persistence.types import NaiveDatetimeError

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
