"""Database URLs and engines: SQLite (embedded default, WAL) and PostgreSQL (psycopg 3).

SQLite is shared by several Ray actor processes, so every connection gets
``journal_mode=WAL`` (readers never block the writer), ``foreign_keys=ON``,
``synchronous=FULL`` (an order intent must survive a power cut before the order is sent)
and a 30 s ``busy_timeout``. Write transactions start with ``BEGIN IMMEDIATE``: they take the
write lock up front and wait for it, instead of starting as readers and failing with
SQLITE_BUSY when they try to upgrade while another process writes (the busy handler cannot
help there). Read-only transactions use a plain ``BEGIN`` plus ``PRAGMA query_only``.

PostgreSQL URLs may be written ``postgres://``, ``postgresql://`` or
``postgresql+psycopg://``; all use the psycopg 3 driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from agent.errors import ConfigError

__all__ = [
    "READ_ONLY_OPTION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "create_database_engine",
    "is_memory_sqlite",
    "normalize_database_url",
    "redacted",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite connection waits for another process's lock before failing (ms)."""
READ_ONLY_OPTION = "optagent_read_only"
"""Connection execution option: begin the next transaction read-only."""
_QUERY_ONLY_INFO_KEY = "optagent_query_only"
_POSTGRES_DRIVER = "postgresql+psycopg"
_SQLITE_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite"})


def redacted(url: URL) -> str:
    """The URL with its password masked, for messages and logs."""
    return url.render_as_string(hide_password=True)


def normalize_database_url(url: str | URL) -> URL:
    """Parse ``url`` and pin the driver: psycopg 3 for PostgreSQL, pysqlite for SQLite.

    Raises :class:`ConfigError` for an unparsable URL or an unsupported backend or driver.
    """
    if isinstance(url, URL):
        parsed = url
    else:
        text = url.strip()
        for prefix in ("postgres://", "postgresql://"):
            if text.startswith(prefix):
                text = f"{_POSTGRES_DRIVER}://{text[len(prefix) :]}"
                break
        try:
            parsed = make_url(text)
        except ArgumentError:
            raise ConfigError(
                "database_url is not a database URL (expected sqlite:///path/to/file.db or "
                "postgresql://user@host:5432/dbname)"
            ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername != _POSTGRES_DRIVER:
            raise ConfigError(
                f"database_url {redacted(parsed)}: optagent talks to PostgreSQL through "
                f"psycopg 3; write it as {_POSTGRES_DRIVER}://... (or postgresql://...)"
            )
        return parsed
    if backend == "sqlite":
        if parsed.drivername not in _SQLITE_DRIVERS:
            raise ConfigError(
                f"database_url {redacted(parsed)}: use the standard sqlite:/// driver"
            )
        return parsed
    raise ConfigError(
        f"database_url {redacted(parsed)}: optagent supports SQLite and PostgreSQL only"
    )


def is_memory_sqlite(url: URL) -> bool:
    """True for a private in-memory SQLite database (``sqlite://``, ``sqlite:///:memory:``)."""
    if url.get_backend_name() != "sqlite":
        return False
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def create_database_engine(url: str | URL) -> Engine:
    """A configured engine for ``url`` (normalised first). Create one per process.

    A SQLite file's parent directory is created. An in-memory SQLite database lives on one
    shared connection (``StaticPool``) for the life of the engine.
    """
    parsed = normalize_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return _postgres_engine(parsed)


def _sqlite_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    if is_memory_sqlite(url):
        engine = create_engine(
            url,
            poolclass=StaticPool,
            connect_args={**connect_args, "check_same_thread": False},
        )
    else:
        database = url.database or ""
        if not url.query.get("uri"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args=connect_args)
    memory = is_memory_sqlite(url)

    @event.listens_for(engine, "connect")
    def _configure_connection(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module: it would start transactions lazily (and
        # never for SELECT), which defeats BEGIN IMMEDIATE and transactional DDL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not memory:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        read_only = bool(connection.get_execution_options().get(READ_ONLY_OPTION, False))
        # query_only is a connection setting: switch it only when the mode changes.
        if connection.info.get(_QUERY_ONLY_INFO_KEY, False) != read_only:
            connection.exec_driver_sql(f"PRAGMA query_only = {int(read_only)}")
            connection.info[_QUERY_ONLY_INFO_KEY] = read_only
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: URL) -> Engine:
    engine = create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"application_name": "optagent", "connect_timeout": 10},
    )

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY_OPTION, False):
            # psycopg opens the transaction on the first statement, so this one sets it up.
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")

    return engine
