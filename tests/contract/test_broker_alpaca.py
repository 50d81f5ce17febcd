"""The Broker contract run against AlpacaBroker over the Alpaca-compatible loopback server.

Real HTTP and the real alpaca-py TradingClient; behind the server, SimExchange trading the
seeded market model. Each test gets a fresh account at Monday 10:00 ET (``POST
/_admin/reset``) and a fresh adapter; time moves only through ``POST /_admin/advance``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from agent.adapters.alpaca import AlpacaBroker
from agent.adapters.sim.exchange_fill import to_price
from agent.ports import Broker
from tests.contract.broker_contract import BrokerContract, BrokerHarness
from tests.integration.alpaca.harness import (
    START,
    LoopbackServer,
    make_broker,
    market,
    start_server,
)

UNDERLYING = "SPY"


def _pick_contracts() -> tuple[str, tuple[str, str]]:
    """(a listed put, (short, long) of a put credit spread) of SPY at START, from the model."""
    model = market()
    spot = model.spot(UNDERLYING, START)
    today = START.date()
    chain = model.option_chain(
        UNDERLYING,
        START,
        min_expiry=today + timedelta(days=20),
        max_expiry=today + timedelta(days=45),
    )
    expiry = chain.expiry[0]
    puts = chain.take(
        np.flatnonzero((~chain.is_call) & (chain.expiry == expiry) & (chain.strike < spot))
    )
    order = np.argsort(-puts.strike)  # nearest the money first
    short = long = None
    for i in order:
        if puts.bid[i] < 1.0:
            continue
        for j in order:
            if puts.strike[j] <= puts.strike[i] - 5 and puts.bid[i] - puts.ask[j] >= 0.20:
                short, long = str(puts.symbol[i]), str(puts.symbol[j])
                break
        if short is not None:
            break
    assert short is not None and long is not None, "no put spread with a credit in the model"
    single = next(
        str(puts.symbol[k])
        for k in order
        if puts.bid[k] >= 0.10 and str(puts.symbol[k]) not in (short, long) and puts.bid[k] < 0.8
    )
    return single, (short, long)


class LoopbackHarness:
    def __init__(self, server: LoopbackServer, picks: tuple[str, tuple[str, str]]) -> None:
        self.server = server
        self._broker: AlpacaBroker = make_broker(server)
        self._single, self._spread = picks

    @property
    def broker(self) -> Broker:
        return self._broker

    def advance(self, minutes: int) -> None:
        self.server.advance(minutes)

    def underlying(self) -> str:
        return UNDERLYING

    def listed_put(self, underlying: str) -> str:
        return self._single

    def listed_put_spread(self, underlying: str) -> tuple[str, str]:
        return self._spread

    def nbbo(self, symbol: str) -> tuple[Decimal, Decimal]:
        book = market().top_of_book([symbol], self.server.now())[symbol]
        return to_price(book.bid), to_price(book.ask)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    running = start_server()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def picks() -> tuple[str, tuple[str, str]]:
    return _pick_contracts()


class TestAlpacaBrokerOverLoopback(BrokerContract):
    @pytest.fixture
    def harness(self, server: LoopbackServer, picks: tuple[str, tuple[str, str]]) -> BrokerHarness:
        server.reset(START)
        return LoopbackHarness(server, picks)


def test_every_request_went_through_the_sdk_over_http(server: LoopbackServer) -> None:
    """The suite above really talked HTTP: the server counted its order routes."""
    server.reset(START)
    broker = make_broker(server)
    broker.get_account()
    broker.get_order_by_client_id("nothing-here")
    stats = server.stats()
    assert stats["requests"]["GET /v2/account"] == 1
    assert stats["requests"]["GET /v2/orders:by_client_order_id"] == 1
    assert stats["statuses"]["404"] == 1
    assert broker.transport.stats.requests == 2
