"""ScriptedQuotes: the scripted QuoteSource the exchange tests (and contract harness) use."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from agent.adapters.sim.exchange import SimExchange
from agent.adapters.sim.exchange_scripted import ScriptedQuotes
from agent.calendar import market_calendar
from agent.clock import SimClock
from tests.unit.sim.conftest import MONDAY, et


def test_quotes_are_step_functions_of_time() -> None:
    quotes = ScriptedQuotes()
    quotes.set_quote("XYZ", 9.0, 9.2)
    quotes.set_quote(
        "XYZ",
        10.0,
        10.2,
        at=et(
            MONDAY,
            10,
            5,
        ),
    )
    assert quotes.top_of_book(["XYZ"], et(MONDAY, 10, 4))["XYZ"].bid == 9.0
    assert quotes.top_of_book(["XYZ"], et(MONDAY, 10, 5))["XYZ"].bid == 10.0
    quotes.delist("XYZ", at=et(MONDAY, 11))
    assert quotes.top_of_book(["XYZ", "NOPE"], et(MONDAY, 11, 30)) == {}


def test_options_vanish_after_their_expiry_date() -> None:
    quotes = ScriptedQuotes()
    quotes.set_quote("XYZ260306P00095000", 1.0, 1.1)
    assert quotes.top_of_book(["XYZ260306P00095000"], et(date(2026, 3, 6), 15))
    assert not quotes.top_of_book(["XYZ260306P00095000"], et(date(2026, 3, 9), 10))


def test_underlying_price_falls_back_to_the_stock_mid() -> None:
    quotes = ScriptedQuotes()
    quotes.set_quote("ABC", 49.0, 51.0)
    assert quotes.underlying_price("ABC", et(MONDAY, 10)) == 50.0
    quotes.set_underlying("ABC", 52.5, at=et(MONDAY, 12))
    assert quotes.underlying_price("ABC", et(MONDAY, 12, 30)) == 52.5
    with pytest.raises(KeyError):
        quotes.underlying_price("NOPE", et(MONDAY, 10))


def test_float_cash_from_settings_stays_exact() -> None:
    exchange = SimExchange(
        quotes=ScriptedQuotes(),
        clock=SimClock(et(MONDAY, 10)),
        calendar=market_calendar(),
        initial_cash_usd=12_345.67,
        seed=1,
    )
    assert exchange.get_account().cash == Decimal("12345.67")
