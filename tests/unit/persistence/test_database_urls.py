"""Database URL normalisation: PostgreSQL spellings, SQLite forms and refusals."""

from __future__ import annotations

import pytest

from agent.adapters.persistence.engine import is_memory_sqlite, normalize_database_url, redacted
from agent.errors import ConfigError


@pytest.mark.parametrize(
    "given",
    [
        "postgres://postgres@127.0.0.1:5432/optagent",
        "postgresql://postgres@127.0.0.1:5432/optagent",
        "postgresql+psycopg://postgres@127.0.0.1:5432/optagent",
        "  postgresql://postgres@127.0.0.1:5432/optagent\n",
    ],
)
def test_postgres_spellings_use_psycopg3(given: str) -> None:
    url = normalize_database_url(given)
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.host, url.port, url.database) == (
        "postgres",
        "127.0.0.1",
        5432,
        "optagent",
    )


def test_postgres_query_and_password_survive() -> None:
    url = normalize_database_url("postgres://bot:s3cret@db:5433/agent?sslmode=require")
    assert url.password == "s3cret" and url.query["sslmode"] == "require"
    assert "s3cret" not in redacted(url)


@pytest.mark.parametrize(
    ("given", "memory"),
    [
        ("sqlite:///var/optagent.db", False),
        ("sqlite:////abs/path/optagent.db", False),
        ("sqlite+pysqlite:///var/optagent.db", False),
        ("sqlite:///:memory:", True),
        ("sqlite://", True),
    ],
)
def test_sqlite_forms(given: str, memory: bool) -> None:
    url = normalize_database_url(given)
    assert url.get_backend_name() == "sqlite"
    assert is_memory_sqlite(url) is memory


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("mysql://root@localhost/optagent", "SQLite and PostgreSQL only"),
        ("postgresql+psycopg2://u@h/db", "psycopg 3"),
        ("sqlite+aiosqlite:///x.db", "standard sqlite"),
        ("var/optagent.db", "not a database URL"),
        ("", "not a database URL"),
    ],
)
def test_unsupported_urls_are_config_errors(given: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        normalize_database_url(given)


def test_config_error_does_not_leak_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        normalize_database_url("mysql://root:hunter2@localhost/optagent")
    assert "hunter2" not in str(caught.value)
