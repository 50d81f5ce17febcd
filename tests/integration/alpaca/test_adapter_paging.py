"""Paging, URLs and secrets: activities over many pages, the contracts listing followed by
page token, paper/live base URLs from settings, and no key ever in a log line."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from loguru import logger

from agent.adapters.alpaca import marketdata as alpaca_marketdata
from agent.adapters.alpaca.broker import trading_client
from agent.adapters.sim.server import FaultPlan
from agent.adapters.sim.server_faults import FaultAction, FaultRule
from agent.config import load_settings
from agent.domain import ActivityType, OrderLeg, OrderRequest, OrderStatus, PositionIntent
from agent.errors import TransientBrokerError
from tests.integration.alpaca.harness import (
    API_KEY,
    SECRET_KEY,
    START,
    LoopbackServer,
    make_broker,
    make_market_data,
    market,
    start_server,
)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    running = start_server()
    yield running
    running.stop()


def _marketable(symbol: str) -> Decimal:
    ask = market().top_of_book([symbol], START)[symbol].ask
    return (Decimal(str(ask)) + Decimal("0.10")).quantize(Decimal("0.01"))


def _puts(count: int) -> list[str]:
    today = START.date()
    chain = market().option_chain(
        "SPY", START, min_expiry=today + timedelta(days=25), max_expiry=today + timedelta(days=40)
    )
    mask = (~chain.is_call) & (chain.expiry == chain.expiry[0]) & (chain.bid >= 0.10)
    return [str(s) for s in chain.symbol[np.flatnonzero(mask)]][:count]


def test_activities_span_pages_and_follow_the_cursor(server: LoopbackServer) -> None:
    server.reset(START)
    broker = make_broker(server)
    puts = _puts(30)
    for i in range(60):
        leg = OrderLeg(symbol=puts[i % len(puts)], side=PositionIntent.BUY_TO_OPEN.side,
                       position_intent=PositionIntent.BUY_TO_OPEN)  # fmt: skip
        broker.submit_order(
            OrderRequest(
                client_order_id=f"page-{i}", legs=(leg,), qty=2, limit_price=_marketable(leg.symbol)
            )
        )
    server.admin("POST", "stats/reset")
    server.advance(2)
    orders = broker.list_orders(status="closed")
    assert len(orders) == 60 and all(o.status is OrderStatus.FILLED for o in orders)
    everything = broker.get_activities()
    assert len(everything) == 60  # one FILL per order (qty 2 in one go: no partial model)
    server.admin("POST", "stats/reset")
    # From a cursor in the middle: strictly after it, one request.
    cursor = everything[9].activity_id
    tail = broker.get_activities(after_id=cursor, types=[ActivityType.FILL])
    assert [a.activity_id for a in tail] == [a.activity_id for a in everything[10:]]
    assert server.stats()["requests"]["GET /v2/account/activities"] == 1


def test_more_than_a_page_of_activities(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.adapters.alpaca import broker as broker_module

    server.reset(START)
    broker = make_broker(server)
    puts = _puts(12)
    for i in range(25):
        leg = OrderLeg(symbol=puts[i % len(puts)], side=PositionIntent.BUY_TO_OPEN.side,
                       position_intent=PositionIntent.BUY_TO_OPEN)  # fmt: skip
        broker.submit_order(
            OrderRequest(
                client_order_id=f"act-{i}", legs=(leg,), qty=1, limit_price=_marketable(leg.symbol)
            )
        )
    server.advance(2)
    every = broker.get_activities()
    monkeypatch.setattr(broker_module, "ACTIVITY_PAGE_SIZE", 10)
    server.admin("POST", "stats/reset")
    paged = broker.get_activities()
    assert [a.activity_id for a in paged] == [a.activity_id for a in every] and len(every) == 25
    assert server.stats()["requests"]["GET /v2/account/activities"] == 3  # 10 + 10 + 5


def test_contract_listing_is_paged_by_the_adapter(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.reset(START)
    today = START.date()
    whole = make_market_data(server).get_option_chain(
        "QQQ", min_expiry=today, max_expiry=today + timedelta(days=30)
    )
    monkeypatch.setattr(alpaca_marketdata, "CONTRACTS_PAGE_LIMIT", 250)
    server.admin("POST", "stats/reset")
    paged = make_market_data(server).get_option_chain(
        "QQQ", min_expiry=today, max_expiry=today + timedelta(days=30)
    )
    pages = server.stats()["requests"]["GET /v2/options/contracts"]
    assert pages == -(-len(whole) // 250) and pages > 2
    np.testing.assert_array_equal(paged.open_interest, whole.open_interest)
    assert np.isfinite(paged.open_interest).all()


def test_paper_and_live_urls_come_from_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.yaml"
    config.touch()
    keys = {"ALPACA_API_KEY": "k", "ALPACA_SECRET_KEY": "s"}
    paper = load_settings(config, [], env_file=None, environ={**keys, "OPTAGENT_MODE": "paper"})
    live = load_settings(
        config, [], env_file=None,
        environ={**keys, "OPTAGENT_MODE": "live", "OPTAGENT_LIVE_TRADING_CONFIRMED": "true"},
    )  # fmt: skip
    other = load_settings(
        config, [], env_file=None,
        environ={**keys, "OPTAGENT_MODE": "paper", "APCA_API_BASE_URL": "http://127.0.0.1:9/v2/"},
    )  # fmt: skip
    assert trading_client(paper)._base_url == "https://paper-api.alpaca.markets"
    assert trading_client(live)._base_url == "https://api.alpaca.markets"
    assert trading_client(other)._base_url == "http://127.0.0.1:9"


def test_no_key_in_any_log_line(server: LoopbackServer) -> None:
    server.reset(START)
    server.faults(FaultPlan(seed=3, rules=(
        FaultRule(action=FaultAction.DROP_AFTER, method="POST", path="/v2/orders", times=None,
                  probability=0.5),
        FaultRule(action=FaultAction.STATUS, path="/v2/orders:by", status=503, times=None,
                  probability=0.3),
    )))  # fmt: skip
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG")
    try:
        broker = make_broker(server, sleep=lambda _s: None)
        leg = OrderLeg(symbol=_puts(1)[0], side=PositionIntent.BUY_TO_OPEN.side,
                       position_intent=PositionIntent.BUY_TO_OPEN)  # fmt: skip
        for i in range(8):
            with contextlib.suppress(TransientBrokerError):
                broker.submit_order(OrderRequest(client_order_id=f"log-{i}", legs=(leg,), qty=1,
                                                 limit_price=Decimal("0.01")))  # fmt: skip
    finally:
        logger.remove(sink)
        server.admin("DELETE", "faults")
    assert lines, "the faults should have been logged"
    assert not any(API_KEY in line or SECRET_KEY in line for line in lines)
