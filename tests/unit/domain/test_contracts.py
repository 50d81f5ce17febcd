from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.domain import OptionContract, OptionRight, parse_occ, underlying_of
from agent.errors import DataError


def test_parse_alpaca_symbol() -> None:
    c = parse_occ("SPY250321P00500000")
    assert c == OptionContract(
        underlying="SPY", expiry=date(2025, 3, 21), right=OptionRight.PUT, strike=Decimal(500)
    )
    assert c.symbol == "SPY250321P00500000"


def test_parse_padded_standard_symbol_and_fractional_strike() -> None:
    c = parse_occ("AAPL  240119C00182500")
    assert (c.underlying, c.strike, c.right) == ("AAPL", Decimal("182.5"), OptionRight.CALL)
    assert c.symbol == "AAPL240119C00182500"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "SPY",
        "SPY250321X00500000",
        "SPY251321P00500000",
        "TOOLONGX250321P00500000",
        "SPY250321P0050000",
    ],
)
def test_malformed_symbols_raise_data_error_naming_the_symbol(bad: str) -> None:
    with pytest.raises(DataError, match="OCC"):
        parse_occ(bad)


def test_strike_must_fit_occ_precision() -> None:
    with pytest.raises(DataError, match="3 decimals"):
        OptionContract(
            underlying="SPY",
            expiry=date(2025, 1, 17),
            right=OptionRight.PUT,
            strike=Decimal("1.0005"),
        )


def test_underlying_of_stock_and_option() -> None:
    assert underlying_of("QQQ") == "QQQ"
    assert underlying_of("QQQ260116C00400000") == "QQQ"


roots = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=6)
strikes = st.integers(min_value=1, max_value=99_999_999).map(lambda m: Decimal(m) / 1000)
expiries = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@given(roots, expiries, st.sampled_from(list(OptionRight)), strikes)
def test_occ_round_trip(root: str, expiry: date, right: OptionRight, strike: Decimal) -> None:
    contract = OptionContract(underlying=root, expiry=expiry, right=right, strike=strike)
    parsed = parse_occ(contract.symbol)
    assert parsed.symbol == contract.symbol
    assert (parsed.underlying, parsed.expiry, parsed.right) == (root, expiry, right)
    assert parsed.strike == strike
