"""Crash-only risk: a RiskService rebuilt from the database has the same risk state.

Trades today, realised P&L, the trading state and its breakers, the loss streak, the peak
equity, the marks, the approvals in flight and the view are identical in a new service
built on the same database (SQLite file, and PostgreSQL when the server is reachable).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from agent.adapters.persistence import open_store
from agent.clock import SimClock
from agent.domain import OrderPurpose, TradeStatus, TradingState
from agent.risk import APPROVALS_KEY, MARKS_KEY, STATE_KEY, RiskService
from agent.risk.codec import encode_mark
from tests.unit.risk.helpers import (
    NOW,
    WIDE,
    account,
    add_trades,
    candidate,
    make_service,
    make_settings,
    mark,
    trade,
)

POSTGRES_ADMIN_URL = os.environ.get(
    "OPTAGENT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'risk.db'}"
        return
    admin = create_engine(
        POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"optagent_test_risk_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {exc.orig}")
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _risk_state(service: RiskService, store) -> dict[str, object]:  # type: ignore[no-untyped-def]
    with store.transaction() as tx:
        documents = {key: tx.state.get(key) for key in (STATE_KEY, MARKS_KEY, APPROVALS_KEY)}
    view = service.view()
    return {
        "state": service.trading_state(),
        "flatten": service.flatten_requested(),
        "marks": [encode_mark(m) for m in service.latest_marks()],
        "view": view,
        "documents": documents,
    }


def test_risk_state_is_identical_after_a_rebuild(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, *WIDE)
    clock = SimClock(NOW)
    store = open_store(database_url)
    try:
        first = make_service(store, clock, settings)
        # A losing streak of three closed trades and a loss realised today.
        add_trades(
            store,
            *(
                trade(
                    f"old{i}",
                    underlying="OLD",
                    status=TradeStatus.CLOSED,
                    opened_at=NOW - timedelta(days=10),
                    closed_at=NOW - timedelta(days=3, minutes=-i),
                    realized_pnl=-150,
                )
                for i in range(2)
            ),
            trade(
                "today-loss",
                underlying="KO",
                status=TradeStatus.CLOSED,
                opened_at=NOW - timedelta(days=2),
                closed_at=NOW - timedelta(minutes=5),
                realized_pnl=Decimal("-312.50"),
            ),
        )
        # The peak, then a smaller equity; an approval that became a trade, one in flight.
        first.update(account=account(110_000, last_equity=110_000), marks=[], data_age_s=2.0)
        clock.advance(timedelta(minutes=1))
        opened = first.evaluate(candidate(underlying="AAPL"), account(104_000, last_equity=105_000))
        assert opened.approved
        add_trades(
            store,
            trade(
                "t1",
                underlying="AAPL",
                qty=opened.qty,
                max_loss_usd=400 * opened.qty,
                risk_decision_id=opened.decision_id,
                opened_at=clock.now(),
            ),
        )
        clock.advance(timedelta(minutes=1))
        first.update(
            account=account(104_000, last_equity=105_000),
            marks=[mark("t1", underlying="AAPL", qty=opened.qty, as_of=clock.now())],
            data_age_s=2.0,
        )
        in_flight = first.evaluate(
            candidate(underlying="KO"), account(104_000, last_equity=105_000)
        )
        assert in_flight.approved
        first.record_broker_error(kind="rejected", message="insufficient buying power")
        first.halt("restart test", flatten=True)
        assert not first.evaluate(
            candidate(underlying="XOM", purpose=OrderPurpose.OPEN), account(104_000)
        ).approved
        before = _risk_state(first, store)
        # The process dies here: nothing is closed or flushed on purpose.
        rebuilt_store = open_store(database_url)
        try:
            second = make_service(rebuilt_store, clock, settings)
            after = _risk_state(second, rebuilt_store)
        finally:
            rebuilt_store.close()
    finally:
        store.close()

    assert after == before
    view = after["view"]
    assert view.state is TradingState.HALTED and view.flatten_requested  # type: ignore[attr-defined]
    assert view.trades_today == 2  # type: ignore[attr-defined]
    assert view.realized_pnl_today_usd == Decimal("-312.50")  # type: ignore[attr-defined]
    assert view.consecutive_losses == 3  # type: ignore[attr-defined]
    assert view.peak_equity_usd == Decimal(110_000)  # type: ignore[attr-defined]
    assert view.broker_errors_today == 1  # type: ignore[attr-defined]
    assert view.approvals_in_flight == 1 and view.open_trades == 1  # type: ignore[attr-defined]
    assert [m["trade_id"] for m in after["marks"]] == ["t1"]  # type: ignore[index, union-attr]


def test_a_rebuilt_service_judges_like_the_first(database_url: str, tmp_path: Path) -> None:
    """The reservations made before a restart still bind the service after it."""
    settings = make_settings(tmp_path, *WIDE, "risk.max_trades_per_day=2")
    clock = SimClock(NOW)
    store = open_store(database_url)
    try:
        first = make_service(store, clock, settings)
        assert first.evaluate(candidate(underlying="AAPL"), account()).approved
        assert first.evaluate(candidate(underlying="KO"), account()).approved
        second = make_service(store, clock, settings)
        third = second.evaluate(candidate(underlying="XOM"), account())
        assert not third.approved
        assert {r.rule for r in third.denials} == {"max_trades_per_day"}
    finally:
        store.close()
