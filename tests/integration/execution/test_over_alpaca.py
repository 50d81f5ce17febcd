"""The ExecutionService through the real Alpaca adapter (alpaca-py over HTTP) against the
Alpaca-compatible loopback server: nothing in execution is simulator-specific.

Time moves only through the server's admin endpoint; the service reads the server's clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from agent.adapters.persistence import open_store
from agent.calendar import market_calendar
from agent.domain import (
    ExitAction,
    ExitReason,
    OrderClass,
    PositionIntent,
    TradeStatus,
)
from agent.execution import ExecutionService
from tests.integration.alpaca.harness import (
    START,
    LoopbackServer,
    ServerClock,
    make_broker,
    make_market_data,
    market,
    start_server,
)
from tests.integration.execution.harness import (
    RecordingAlerts,
    approve,
    candidate,
    cleg,
    make_settings,
)

UNDERLYING = "SPY"


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    running = start_server()
    yield running
    running.stop()


def put_spread_from_the_model() -> tuple[str, str, tuple[float, float], tuple[float, float]]:
    model = market()
    spot = model.spot(UNDERLYING, START)
    chain = model.option_chain(
        UNDERLYING,
        START,
        min_expiry=START.date() + timedelta(days=20),
        max_expiry=START.date() + timedelta(days=45),
    )
    expiry = chain.expiry[0]
    puts = chain.take(
        np.flatnonzero((~chain.is_call) & (chain.expiry == expiry) & (chain.strike < spot))
    )
    order = np.argsort(-puts.strike)
    for i in order:
        if puts.bid[i] < 1.0:
            continue
        for j in order:
            if puts.strike[j] <= puts.strike[i] - 5 and puts.bid[i] - puts.ask[j] >= 0.20:
                return (
                    str(puts.symbol[i]),
                    str(puts.symbol[j]),
                    (float(puts.bid[i]), float(puts.ask[i])),
                    (float(puts.bid[j]), float(puts.ask[j])),
                )
    raise AssertionError("no put spread with a credit in the model")


def test_a_spread_opens_and_closes_over_the_alpaca_adapter(
    server: LoopbackServer, tmp_path: Path
) -> None:
    server.reset(START)
    broker = make_broker(server)
    data = make_market_data(server)
    settings = make_settings(tmp_path)
    store = open_store(settings.database_url)
    service = ExecutionService(
        broker=broker,
        store=store,
        clock=ServerClock(server),
        settings=settings,
        alerts=RecordingAlerts(),
        quotes=data.get_option_quotes,
        calendar=market_calendar(),
        sleep=lambda s: None,
        seed=1,
    )
    service.reconcile()
    short, long, short_q, long_q = put_spread_from_the_model()
    cand = candidate(
        [
            cleg(short, PositionIntent.SELL_TO_OPEN, *short_q),
            cleg(long, PositionIntent.BUY_TO_OPEN, *long_q),
        ],
        underlying=UNDERLYING,
        as_of=START,
    )
    bound = cand.net_price_natural  # risk accepts down to the natural credit
    trade_id = service.open_trade(cand, approve(cand, qty=1, bound=str(bound)))
    assert trade_id is not None
    [order] = broker.list_orders(status="open")
    assert order.order_class is OrderClass.MLEG

    def until(done: object, limit_min: int = 60) -> None:
        for _ in range(limit_min * 2):
            if callable(done) and done():
                return
            server.advance(0.5)
            service.work()
        raise AssertionError("not done in time")

    def status() -> TradeStatus:
        with store.transaction() as tx:
            trade = tx.trades.get(trade_id)
        assert trade is not None
        return trade.status

    until(lambda: status() is TradeStatus.OPEN)
    action = ExitAction(trade_id=trade_id, reason=ExitReason.MANUAL, detail="over HTTP")
    assert service.close_trade(action) is not None
    until(lambda: status() is TradeStatus.CLOSED)
    report = service.reconcile()
    assert report.differences == ()
    assert {p.symbol: p.qty for p in broker.get_positions() if p.qty} == {}
    with store.transaction() as tx:
        trade = tx.trades.get(trade_id)
        fills = tx.fills.list(trade_id=trade_id)
    assert trade is not None and len(fills) == 4
    with store.transaction() as tx:
        outcomes = [
            s.outcome
            for intent in tx.orders.list_intents(trade_id=trade_id)
            for s in tx.orders.list_walk_steps(intent.intent_id)
        ]
    assert "replaced" in outcomes  # the walk went through the adapter's replace
    assert trade.realized_pnl == sum(
        (-f.side.sign * f.qty * f.price * 100 for f in fills), Decimal(0)
    )
    store.close()
