"""Backends for the persistence tests: a temporary SQLite file and the real PostgreSQL.

Every test that takes ``backend`` (directly or through ``store``/``empty_url``) runs twice.
PostgreSQL is the server on 127.0.0.1:5432 (trust auth, user ``postgres``); override with
``OPTAGENT_TEST_POSTGRES_URL``. Each test run creates its own ``optagent_test_*`` databases
and drops them at the end; if the server is unreachable the PostgreSQL params are skipped
with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from agent.adapters.persistence import SqlStore, open_store
from agent.adapters.persistence.models import Base

POSTGRES_ADMIN_URL = os.environ.get(
    "OPTAGENT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


class PostgresServer:
    """Creates and drops throwaway databases on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)
        self._engine = create_engine(
            self.admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
        )
        self._created: list[str] = []

    def ping(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def create_database(self) -> URL:
        name = f"optagent_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        with self._engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self._created.append(name)
        return self.admin_url.set(database=name)

    def drop_database(self, url: URL) -> None:
        name = url.database
        assert name is not None and name.startswith("optagent_test_")
        with self._engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self._created:
            self._created.remove(name)

    def close(self) -> None:
        for name in list(self._created):
            self.drop_database(self.admin_url.set(database=name))
        self._engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | str]:
    """The server, or the reason it cannot be used (a string)."""
    server = PostgresServer(POSTGRES_ADMIN_URL)
    try:
        server.ping()
    except OperationalError as error:
        yield f"PostgreSQL on 127.0.0.1:5432 unreachable: {str(error.orig).strip()}"
        return
    yield server
    server.close()


def _require(postgres_server: PostgresServer | str) -> PostgresServer:
    if isinstance(postgres_server, str):
        pytest.skip(postgres_server)
    return postgres_server


@pytest.fixture(scope="session")
def shared_postgres(postgres_server: PostgresServer | str) -> Iterator[tuple[URL, Engine]]:
    """One migrated database for the run, and an engine that empties it between tests."""
    server = _require(postgres_server)
    url = server.create_database()
    open_store(url).close()
    cleaner = create_engine(url)
    yield url, cleaner
    cleaner.dispose()
    server.drop_database(url)


@pytest.fixture(scope="session")
def shared_postgres_url(shared_postgres: tuple[URL, Engine]) -> URL:
    return shared_postgres[0]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[], URL]:
    """Makes new empty databases on the backend (dropped after the test)."""

    def make() -> URL:
        if backend == "sqlite":
            directory = tmp_path / uuid.uuid4().hex[:8]
            directory.mkdir()
            return make_url(f"sqlite:///{directory / 'optagent.db'}")
        server = _require(request.getfixturevalue("postgres_server"))
        url = server.create_database()
        request.addfinalizer(lambda: server.drop_database(url))
        return url

    return make


@pytest.fixture
def empty_url(empty_database: Callable[[], URL]) -> URL:
    """An empty database (no tables) on the backend."""
    return empty_database()


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> URL:
    """A migrated database with no rows."""
    if backend == "sqlite":
        url = make_url(f"sqlite:///{tmp_path / 'var' / 'optagent.db'}")
        open_store(url).close()
        return url
    url, cleaner = request.getfixturevalue("shared_postgres")
    # DELETE (children first) is much faster than TRUNCATE on tables this small.
    with cleaner.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    assert isinstance(url, URL)
    return url


@pytest.fixture
def store(store_url: URL) -> Iterator[SqlStore]:
    """An open store on an empty, migrated database of the backend."""
    opened = open_store(store_url)
    yield opened
    opened.close()
