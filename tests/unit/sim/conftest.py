"""Fixtures for the SimExchange tests: a scripted market, a stepped clock, order builders.

The market is a test double (:class:`ScriptedQuotes`: the test says what the NBBO is and
when); the exchange under test is the real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from agent.adapters.sim.exchange import SimExchange
from agent.adapters.sim.exchange_scripted import ScriptedQuotes
from agent.calendar import et_datetime, market_calendar
from agent.clock import SimClock
from agent.domain import OrderLeg, OrderRequest, PositionIntent, TimeInForce

MONDAY = date(2026, 3, 2)
FRIDAY = date(2026, 3, 6)
EXPIRY = date(2026, 3, 20)
"""The monthly expiry of the scripted chain (a Friday)."""

# XYZ at 100: a 95/90 put spread quoted so its natural credit is exactly 1.00.
XYZ = "XYZ"
XYZ_P95 = "XYZ260320P00095000"
XYZ_P90 = "XYZ260320P00090000"
XYZ_C105 = "XYZ260320C00105000"
XYZ_C110 = "XYZ260320C00110000"
# ABC at 55: a 50 put for a cash-secured put at 1.00.
ABC = "ABC"
ABC_P50 = "ABC260320P00050000"
# Same-day expiries on Friday 2026-03-06 (AAPL and the broad ETF SPY).
AAPL_0DTE_P = "AAPL260306P00200000"
SPY_0DTE_P = "SPY260306P00500000"


def et(day: date, hour: int, minute: int = 0) -> datetime:
    return et_datetime(day, time(hour, minute))


def script_default_market(quotes: ScriptedQuotes) -> None:
    quotes.set_underlying(XYZ, 100.0)
    quotes.set_quote(XYZ, 99.99, 100.01)
    quotes.set_quote(XYZ_P95, 1.50, 1.60)
    quotes.set_quote(XYZ_P90, 0.40, 0.50)
    quotes.set_quote(XYZ_C105, 1.20, 1.30)
    quotes.set_quote(XYZ_C110, 0.30, 0.40)
    quotes.set_underlying(ABC, 55.0)
    quotes.set_quote(ABC, 54.99, 55.01)
    quotes.set_quote(ABC_P50, 1.00, 1.10)
    quotes.set_underlying("AAPL", 210.0)
    quotes.set_quote(AAPL_0DTE_P, 0.10, 0.15)
    quotes.set_underlying("SPY", 510.0)
    quotes.set_quote(SPY_0DTE_P, 0.10, 0.15)


@dataclass
class World:
    """A scripted market, a stepped clock and the exchange, moved together."""

    quotes: ScriptedQuotes
    clock: SimClock
    exchange: SimExchange

    def step(self, minutes: int = 1) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        self.exchange.advance_to(self.clock.now())

    def go(self, at: datetime) -> None:
        self.clock.set(at)
        self.exchange.advance_to(at)


def make_world(
    *,
    start: datetime | None = None,
    seed: int = 7,
    cash: Decimal = Decimal(100_000),
    quotes: ScriptedQuotes | None = None,
    **knobs: Any,
) -> World:
    if quotes is None:
        quotes = ScriptedQuotes()
        script_default_market(quotes)
    clock = SimClock(start or et(MONDAY, 10))
    exchange = SimExchange(
        quotes=quotes,
        clock=clock,
        calendar=market_calendar(),
        initial_cash_usd=cash,
        seed=seed,
        **knobs,
    )
    return World(quotes=quotes, clock=clock, exchange=exchange)


@pytest.fixture
def world() -> World:
    return make_world()


def leg(symbol: str, intent: PositionIntent, ratio: int = 1) -> OrderLeg:
    return OrderLeg(symbol=symbol, side=intent.side, position_intent=intent, ratio_qty=ratio)


def single(
    cid: str, symbol: str, intent: PositionIntent, limit: str | Decimal, qty: int = 1
) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid, legs=(leg(symbol, intent),), qty=qty, limit_price=Decimal(limit)
    )


def put_spread(cid: str, *, limit: str = "-1.00", qty: int = 1, open_: bool = True) -> OrderRequest:
    """Sell the 95 put, buy the 90 put (or the reverse closing order with ``open_=False``)."""
    if open_:
        legs = (leg(XYZ_P95, PositionIntent.SELL_TO_OPEN), leg(XYZ_P90, PositionIntent.BUY_TO_OPEN))
    else:
        legs = (
            leg(XYZ_P95, PositionIntent.BUY_TO_CLOSE),
            leg(XYZ_P90, PositionIntent.SELL_TO_CLOSE),
        )
    return OrderRequest(client_order_id=cid, legs=legs, qty=qty, limit_price=Decimal(limit))


def unchecked_request(**fields: Any) -> OrderRequest:
    """An OrderRequest that skips the domain's own checks (as a foreign caller might build)."""
    request = object.__new__(OrderRequest)
    defaults: dict[str, Any] = {"time_in_force": TimeInForce.DAY}
    for name, value in {**defaults, **fields}.items():
        object.__setattr__(request, name, value)
    return request
