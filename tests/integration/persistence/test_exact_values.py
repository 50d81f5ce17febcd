"""Money, timestamps and JSON come back from the real databases exactly as written."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import URL

from agent.adapters.persistence import SqlStore, open_store

from . import builders as b

DATABASE_EXAMPLES = settings(
    max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
money = st.decimals(
    min_value=Decimal("-999999999999.999999"),
    max_value=Decimal("999999999999.999999"),
    places=6,
    allow_nan=False,
    allow_infinity=False,
)
instants = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.timezones(),
    allow_imaginary=False,
)
_ids = itertools.count()


@DATABASE_EXAMPLES
@given(pnl=money, capital=money, price=money)
def test_money_round_trips_exactly(
    store: SqlStore, pnl: Decimal, capital: Decimal, price: Decimal
) -> None:
    trade_id = f"T-{next(_ids)}"
    written = b.trade(trade_id, realized_pnl=pnl, capital_usd=capital, entry_net_price=price)
    with store.transaction() as tx:
        tx.trades.add(written)
    with store.transaction() as tx:
        stored = tx.trades.get(trade_id)
    assert stored is not None
    assert (stored.realized_pnl, stored.capital_usd, stored.entry_net_price) == (
        pnl,
        capital,
        price,
    )


@DATABASE_EXAMPLES
@given(opened_at=instants)
def test_timestamps_round_trip_as_utc_instants(store: SqlStore, opened_at: datetime) -> None:
    trade_id = f"T-{next(_ids)}"
    with store.transaction() as tx:
        tx.trades.add(b.trade(trade_id, opened_at=opened_at))
    with store.transaction() as tx:
        stored = tx.trades.get(trade_id)
    assert stored is not None
    assert stored.opened_at.tzinfo is UTC
    assert stored.opened_at == opened_at.astimezone(UTC)


def test_money_amounts_sort_numerically_in_sql(store: SqlStore) -> None:
    amounts = [
        Decimal("10"),
        Decimal("-2.5"),
        Decimal("9.999999"),
        Decimal("100.1"),
        Decimal("-100"),
    ]
    with store.transaction() as tx:
        for index, amount in enumerate(amounts):
            tx.trades.add(b.trade(f"T-{index}", realized_pnl=amount))
    with store.engine.connect() as connection:
        order = connection.execute(
            text("SELECT trade_id FROM trades ORDER BY realized_pnl")
        ).scalars()
        assert list(order) == ["T-4", "T-1", "T-2", "T-0", "T-3"]


@pytest.mark.postgres
def test_postgres_session_time_zone_does_not_leak(shared_postgres_url: URL) -> None:
    # A server or role configured for New York must still hand back UTC.
    url = shared_postgres_url.update_query_dict({"options": "-c timezone=America/New_York"})
    with open_store(url) as store:
        with store.engine.connect() as connection:
            zone = connection.execute(text("SHOW timezone")).scalar()
        assert zone == "America/New_York"
        with store.transaction() as tx:
            tx.events.add(b.event(f"E-tz-{next(_ids)}", occurred_at=b.at(0)))
        with store.transaction() as tx:
            stored = tx.events.list(limit=1)[0]
        assert stored.occurred_at.tzinfo is UTC
        assert stored.occurred_at == b.at(0)
