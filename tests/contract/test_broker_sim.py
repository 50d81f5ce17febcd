"""The Broker contract run against SimExchange over a scripted market."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

import pytest

from agent.adapters.sim.exchange import SimExchange
from agent.adapters.sim.exchange_fill import to_price
from agent.adapters.sim.exchange_scripted import ScriptedQuotes
from agent.calendar import et_datetime, market_calendar
from agent.clock import SimClock
from agent.ports import Broker
from tests.contract.broker_contract import BrokerContract, BrokerHarness

START = et_datetime(date(2026, 3, 2), time(10, 0))
"""Monday 10:00 ET: six hours of session ahead."""
EXPIRY = "260320"


class ScriptedSimHarness:
    """SimExchange + a scripted market: one underlying at 100 with a few listed puts."""

    def __init__(self, *, seed: int = 2026) -> None:
        self.quotes = ScriptedQuotes()
        self.quotes.set_underlying("XYZ", 100.0)
        self.quotes.set_quote("XYZ", 99.99, 100.01)
        for strike, bid, ask in ((95, 1.50, 1.60), (90, 0.40, 0.50), (85, 0.12, 0.18)):
            self.quotes.set_quote(self._put("XYZ", strike), bid, ask)
        self.clock = SimClock(START)
        self.exchange = SimExchange(
            quotes=self.quotes,
            clock=self.clock,
            calendar=market_calendar(),
            initial_cash_usd=Decimal(100_000),
            seed=seed,
        )

    @staticmethod
    def _put(underlying: str, strike: int) -> str:
        return f"{underlying}{EXPIRY}P{strike * 1000:08d}"

    @property
    def broker(self) -> Broker:
        return self.exchange

    def advance(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        self.exchange.advance_to(self.clock.now())

    def underlying(self) -> str:
        return "XYZ"

    def listed_put(self, underlying: str) -> str:
        return self._put(underlying, 85)

    def listed_put_spread(self, underlying: str) -> tuple[str, str]:
        return self._put(underlying, 95), self._put(underlying, 90)

    def nbbo(self, symbol: str) -> tuple[Decimal, Decimal]:
        book = self.quotes.top_of_book([symbol], self.clock.now())[symbol]
        return to_price(book.bid), to_price(book.ask)


class TestSimExchangeBroker(BrokerContract):
    @pytest.fixture
    def harness(self) -> BrokerHarness:
        return ScriptedSimHarness()


def test_the_harness_satisfies_the_protocol() -> None:
    harness: BrokerHarness = ScriptedSimHarness()
    assert harness.broker.get_account().options_level == 3


class RealMarketSimHarness:
    """SimExchange over the real seeded market model (the world `make run` trades in)."""

    def __init__(self) -> None:
        from tests.contract.test_broker_alpaca import UNDERLYING, _pick_contracts
        from tests.integration.alpaca.harness import market

        self.model = market()
        self.underlying_symbol = UNDERLYING
        self.single, self.spread = _pick_contracts()
        self.clock = SimClock(START)
        self.exchange = SimExchange(
            quotes=self.model,
            clock=self.clock,
            calendar=market_calendar(),
            initial_cash_usd=Decimal(100_000),
            seed=7,
        )

    @property
    def broker(self) -> Broker:
        return self.exchange

    def advance(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        self.exchange.advance_to(self.clock.now())

    def underlying(self) -> str:
        return self.underlying_symbol

    def listed_put(self, underlying: str) -> str:
        return self.single

    def listed_put_spread(self, underlying: str) -> tuple[str, str]:
        return self.spread

    def nbbo(self, symbol: str) -> tuple[Decimal, Decimal]:
        book = self.model.top_of_book([symbol], self.clock.now())[symbol]
        return to_price(book.bid), to_price(book.ask)


class TestSimExchangeOverTheMarketModel(BrokerContract):
    @pytest.fixture
    def harness(self) -> BrokerHarness:
        return RealMarketSimHarness()
