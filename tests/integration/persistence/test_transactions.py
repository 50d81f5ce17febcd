"""Transactions: commit on success, roll back on an exception, one at a time per thread."""

from __future__ import annotations

import pickle
import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from agent.adapters.persistence import NaiveDatetimeError, SqlStore, open_store
from agent.errors import InvariantViolation

from . import builders as b


class Boom(Exception):
    pass


def test_everything_in_a_failed_block_is_rolled_back(store: SqlStore) -> None:
    with pytest.raises(Boom), store.transaction() as tx:
        tx.trades.add(b.trade())
        tx.positions.upsert(b.leg())
        tx.fills.add(b.fill(), trade_id="T-1")
        tx.state.put("risk", {"trading_state": "halted"})
        tx.events.add(b.event())
        raise Boom
    with store.transaction() as tx:
        assert tx.trades.get("T-1") is None
        assert tx.positions.list() == []
        assert tx.fills.list() == []
        assert tx.state.get("risk") is None
        assert tx.events.list() == []
        # the fill id was not consumed by the rolled-back insert
        tx.trades.add(b.trade())
        assert tx.fills.add(b.fill(), trade_id="T-1") is True


def test_a_failed_statement_rolls_back_the_earlier_writes_of_its_block(store: SqlStore) -> None:
    with pytest.raises(InvariantViolation), store.transaction() as tx:
        tx.trades.add(b.trade("T-1"))
        tx.events.add(b.event("E-1"))
        tx.trades.add(b.trade("T-1"))  # duplicate: the whole block goes
    with store.transaction() as tx:
        assert tx.trades.list() == []
        assert tx.events.list() == []


def test_committed_work_is_visible_to_another_store(store: SqlStore, store_url: URL) -> None:
    with store.transaction() as tx:
        tx.trades.add(b.trade())
    with open_store(store_url) as other, other.transaction() as tx:
        assert tx.trades.get("T-1") == b.trade()


def test_uncommitted_work_is_invisible_to_a_reader(store: SqlStore, store_url: URL) -> None:
    with open_store(store_url) as reader:
        with store.transaction() as tx:
            tx.events.add(b.event())
            with reader.transaction(read_only=True) as peek:
                assert peek.events.list() == []
        with reader.transaction(read_only=True) as peek:
            assert peek.events.list() == [b.event()]


def test_read_only_transactions_refuse_writes(store: SqlStore) -> None:
    with (
        pytest.raises(DBAPIError, match=r"(?i)read.only|readonly"),
        store.transaction(read_only=True) as tx,
    ):
        tx.events.add(b.event())
    # the connection goes back to read-write for the next ordinary transaction
    with store.transaction() as tx:
        tx.events.add(b.event())
    with store.transaction(read_only=True) as tx:
        assert tx.events.list() == [b.event()]


def test_nested_transactions_are_refused(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.events.add(b.event())
        with pytest.raises(InvariantViolation, match="already open"), store.transaction():
            pass
    # the outer block committed; the store is usable again
    with store.transaction() as tx:
        assert len(tx.events.list()) == 1


def test_naive_datetimes_are_refused_with_a_clear_error(store: SqlStore) -> None:
    naive = datetime(2026, 3, 2, 15, 0)
    with pytest.raises(NaiveDatetimeError, match="timezone-naive"), store.transaction() as tx:
        tx.trades.add(b.trade(opened_at=naive))
    with pytest.raises(NaiveDatetimeError), store.transaction() as tx:
        tx.events.list(since=naive)
    with pytest.raises(NaiveDatetimeError, match=r"\$.when"), store.transaction() as tx:
        tx.state.put("clock", {"when": naive})
    with store.transaction() as tx:
        assert tx.trades.list() == []


def test_float_money_is_refused(store: SqlStore) -> None:
    with pytest.raises(TypeError, match="Decimal"), store.transaction() as tx:
        tx.trades.add(b.trade(realized_pnl=1.5))


def test_closed_store_refuses_transactions(store_url: URL) -> None:
    opened = open_store(store_url)
    opened.close()
    with pytest.raises(InvariantViolation, match="closed"), opened.transaction():
        pass


def test_store_is_not_picklable(store: SqlStore) -> None:
    with pytest.raises(TypeError, match="inside each process"):
        pickle.dumps(store)
    assert "password" not in repr(store)


def test_threads_share_one_store(store: SqlStore) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for index in range(15):
                with store.transaction() as tx:
                    tx.events.add(b.event(f"E-{worker}-{index}"))
                    counter = tx.state.get("counter") or {"n": 0}
                    tx.state.put("counter", {"n": counter["n"] + 1})
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with store.transaction() as tx:
        assert len(tx.events.list()) == 60
        assert tx.state.get("counter") == {"n": 60}


def test_in_memory_sqlite_store_works_and_is_private() -> None:
    with open_store("sqlite:///:memory:") as memory:
        with memory.transaction() as tx:
            tx.trades.add(b.trade())
            tx.fills.add(b.fill(), trade_id="T-1")
        with memory.transaction() as tx:
            assert tx.trades.get("T-1") == b.trade()
            assert tx.fills.add(b.fill(), trade_id="T-1") is False
    with open_store("sqlite://") as other, other.transaction() as tx:
        assert tx.trades.list() == []


def test_sqlite_file_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'optagent.db'}"
    with open_store(url) as opened, opened.engine.connect() as connection:
        assert (tmp_path / "deep" / "er" / "optagent.db").exists()
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_sqlite_money_is_stored_as_exact_micro_units(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'm.db'}") as opened:
        big = Decimal("987654321012.345678")  # 18 significant digits: a double would round
        with opened.transaction() as tx:
            tx.trades.add(b.trade(realized_pnl=big))
        with opened.engine.connect() as connection:
            raw = connection.execute(text("SELECT realized_pnl FROM trades")).scalar()
        assert raw == 987654321012345678
        with opened.transaction() as tx:
            stored = tx.trades.get("T-1")
        assert stored is not None
        assert stored.realized_pnl == big
