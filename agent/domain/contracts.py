"""Option contracts and OCC symbols.

Alpaca writes OCC symbols without the padding of the OCC standard: ``SPY250321P00500000`` is
root ``SPY``, expiry 2025-03-21, put, strike 500.000. The padded form
(``SPY   250321P00500000``) is accepted on parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from agent.domain.enums import OptionRight
from agent.errors import DataError

CONTRACT_MULTIPLIER = 100
"""Shares per standard US equity option contract."""

_OCC_RE = re.compile(r"^(?P<root>[A-Z0-9.]{1,6}) *(?P<date>\d{6})(?P<right>[CP])(?P<strike>\d{8})$")


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionContract:
    """One listed option: underlying root, expiry, right and strike (USD)."""

    underlying: str
    expiry: date
    right: OptionRight
    strike: Decimal

    def __post_init__(self) -> None:
        if not self.underlying or len(self.underlying) > 6:
            raise DataError(f"OCC root must be 1-6 characters (got {self.underlying!r})")
        if self.strike <= 0:
            raise DataError(f"strike must be > 0 (got {self.strike})")
        if (self.strike * 1000) != (self.strike * 1000).to_integral_value():
            raise DataError(f"strike {self.strike} has more than 3 decimals")
        if self.strike * 1000 >= Decimal(10) ** 8:
            raise DataError(f"strike {self.strike} does not fit the OCC 8-digit field")

    @property
    def symbol(self) -> str:
        """The OCC symbol in Alpaca's unpadded form."""
        return format_occ(self.underlying, self.expiry, self.right, self.strike)

    @property
    def is_call(self) -> bool:
        return self.right is OptionRight.CALL

    @classmethod
    def from_symbol(cls, symbol: str) -> OptionContract:
        return parse_occ(symbol)


def format_occ(underlying: str, expiry: date, right: OptionRight, strike: Decimal) -> str:
    milli = int((Decimal(strike) * 1000).to_integral_value())
    return f"{underlying}{expiry:%y%m%d}{right.occ_letter}{milli:08d}"


def parse_occ(symbol: str) -> OptionContract:
    """Parse an OCC option symbol; raises :class:`DataError` naming the symbol if malformed."""
    match = _OCC_RE.match(symbol.strip().upper()) if isinstance(symbol, str) else None
    if match is None:
        raise DataError(f"not an OCC option symbol: {symbol!r} (expected e.g. SPY250321P00500000)")
    raw_date = match["date"]
    try:
        expiry = date(2000 + int(raw_date[:2]), int(raw_date[2:4]), int(raw_date[4:]))
    except ValueError as exc:
        raise DataError(f"OCC symbol {symbol!r} has an invalid date {raw_date}") from exc
    right = OptionRight.CALL if match["right"] == "C" else OptionRight.PUT
    strike = (Decimal(int(match["strike"])) / 1000).normalize()
    if strike == strike.to_integral_value():
        strike = strike.quantize(Decimal(1))
    return OptionContract(underlying=match["root"], expiry=expiry, right=right, strike=strike)


def is_option_symbol(symbol: str) -> bool:
    return bool(_OCC_RE.match(symbol.strip().upper()))


def underlying_of(symbol: str) -> str:
    """The underlying of an OCC symbol, or the symbol itself for a stock."""
    return parse_occ(symbol).underlying if is_option_symbol(symbol) else symbol
