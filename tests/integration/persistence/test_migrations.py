"""Migrations build the schema the models describe, and take it down again."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.config import main as alembic_main
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL

from agent.adapters.persistence import (
    current_revision,
    downgrade,
    head_revision,
    open_store,
    upgrade,
)
from agent.adapters.persistence.migrate import MIGRATIONS_DIR, render_plain_type
from agent.adapters.persistence.models import Base
from agent.errors import ConfigError

from . import builders as b
from .workers import open_and_report_revision

EXPECTED_TABLES = {
    "trades",
    "positions",
    "order_intents",
    "orders",
    "walk_steps",
    "fills",
    "decisions",
    "risk_decisions",
    "performance_metrics",
    "learning_logs",
    "iv_history",
    "account_snapshots",
    "events",
    "state",
}


def _tables(url: URL) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _differences(url: URL) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_builds_every_table_and_downgrade_removes_them(empty_url: URL) -> None:
    assert current_revision(empty_url) is None
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()
    assert _tables(empty_url) == EXPECTED_TABLES | {"alembic_version"}

    downgrade(empty_url)
    assert current_revision(empty_url) is None
    assert _tables(empty_url) <= {"alembic_version"}

    upgrade(empty_url)  # and back up again, cleanly
    assert current_revision(empty_url) == head_revision()


def test_models_and_migrations_agree(empty_url: URL) -> None:
    upgrade(empty_url)
    assert _differences(empty_url) == []


def test_indexes_the_queries_need_exist(empty_url: URL) -> None:
    upgrade(empty_url)
    engine = create_engine(empty_url)
    try:
        inspector = inspect(engine)
        indexes = {
            table: {
                tuple(index["column_names"]): bool(index["unique"])
                for index in inspector.get_indexes(table)
            }
            for table in EXPECTED_TABLES
        }
        primary_keys = {
            table: tuple(inspector.get_pk_constraint(table)["constrained_columns"])
            for table in EXPECTED_TABLES
        }
    finally:
        engine.dispose()
    assert indexes["orders"][("client_order_id",)] is True
    assert indexes["orders"][("order_id",)] is False
    assert indexes["fills"][("fill_id",)] is True
    assert ("trade_id",) in indexes["fills"]
    assert ("status", "underlying") in indexes["trades"]
    assert ("underlying",) in indexes["trades"]
    assert ("underlying", "decided_at") in indexes["decisions"]
    assert ("scan_id",) in indexes["decisions"]
    assert ("occurred_at",) in indexes["events"]
    assert indexes["positions"][("position_id",)] is True
    assert primary_keys["iv_history"] == ("symbol", "observed_on")
    assert primary_keys["state"] == ("key",)


def test_upgrade_is_idempotent_and_open_store_keeps_data(empty_url: URL) -> None:
    with open_store(empty_url) as store, store.transaction() as tx:
        tx.trades.add(b.trade())
    upgrade(empty_url)
    with open_store(empty_url) as store, store.transaction() as tx:
        assert tx.trades.get("T-1") == b.trade()


def test_open_store_without_upgrade_refuses_an_old_schema(empty_url: URL) -> None:
    with pytest.raises(ConfigError, match="optagent db upgrade"):
        open_store(empty_url, upgrade=False)
    upgrade(empty_url)
    with open_store(empty_url, upgrade=False) as store, store.transaction() as tx:
        assert tx.trades.list() == []


def test_processes_starting_together_migrate_once(empty_url: URL) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        revisions = pool.map(open_and_report_revision, [empty_url.render_as_string(False)] * 3)
    assert revisions == [head_revision()] * 3
    assert _differences(empty_url) == []


def test_alembic_command_line_uses_the_packaged_scripts(empty_url: URL) -> None:
    ini = str(MIGRATIONS_DIR / "alembic.ini")
    url = f"url={empty_url.render_as_string(hide_password=False)}"
    alembic_main(["-c", ini, "-x", url, "upgrade", "head"])
    assert current_revision(empty_url) == head_revision()
    # `alembic check` fails if autogenerate would produce a new revision
    alembic_main(["-c", ini, "-x", url, "check"])


def test_autogenerate_writes_plain_sqlalchemy_types(
    empty_database: Callable[[], URL], backend: str
) -> None:
    url = empty_database()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            script = produce_migrations(context, Base.metadata)
    finally:
        engine.dispose()
    code = render_python_code(script.upgrade_ops, render_item=render_plain_type)
    assert "agent." not in code
    assert "sa.Numeric(precision=18, scale=6).with_variant(sa.BigInteger(), 'sqlite')" in code
    assert "sa.DateTime(timezone=True)" in code


def test_functions_refuse_an_in_memory_database() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        upgrade("sqlite:///:memory:")


def test_unsupported_urls_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SQLite and PostgreSQL only"):
        open_store("mysql://root@localhost/optagent")
    with pytest.raises(ConfigError, match="not a database URL"):
        open_store("optagent.db")


def test_head_revision_constant_matches_the_migrations() -> None:
    from agent.adapters.persistence import head_revision
    from agent.adapters.persistence.store import HEAD_REVISION

    assert head_revision() == HEAD_REVISION


def test_opening_a_current_database_does_not_load_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'current.db'}"
    from agent.adapters.persistence import open_store

    open_store(url).close()  # migrates (loads Alembic in this process)
    probe = (
        "import sys; from agent.adapters.persistence import open_store; "
        f"open_store({url!r}).close(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
