"""A scripted :class:`QuoteSource`: quotes set explicitly, per symbol, from a time onwards.

For tests of the exchange (and anything else that needs a market it fully controls, such as
contract tests and replays): the caller says "from 10:05 the put is 1.20 × 1.30" and the
source answers with the latest quote set at or before the asked minute. Nothing is random.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TypeVar

from agent.adapters.sim.interfaces import TopOfBook
from agent.calendar import ET
from agent.domain import is_option_symbol, parse_occ

_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
_T = TypeVar("_T")


def floor_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


class ScriptedQuotes:
    """Stock and option quotes and underlying prices, each a step function of time.

    An option symbol is absent from :meth:`top_of_book` once its expiry date has passed (New
    York date), like a delisted contract; a symbol never quoted is absent too.
    """

    def __init__(self, *, default_size: float = 50.0) -> None:
        self._default_size = default_size
        self._quotes: dict[str, tuple[list[datetime], list[TopOfBook | None]]] = {}
        self._prices: dict[str, tuple[list[datetime], list[float]]] = {}
        self.calls = 0
        """How many times :meth:`top_of_book` was asked (lets tests check idle minutes are free)."""

    # ------------------------------------------------------------------ scripting

    def set_quote(
        self,
        symbol: str,
        bid: float,
        ask: float,
        *,
        at: datetime | None = None,
        size: float | None = None,
    ) -> None:
        """Quote ``symbol`` at ``bid`` × ``ask`` (USD/share) from ``at`` (default: always)."""
        start = floor_minute(at) if at is not None else _BEGINNING
        book = TopOfBook(
            bid=bid,
            ask=ask,
            bid_size=size if size is not None else self._default_size,
            ask_size=size if size is not None else self._default_size,
            quoted_at=start,
        )
        _insert(self._quotes.setdefault(symbol, ([], [])), start, book)

    def delist(self, symbol: str, *, at: datetime | None = None) -> None:
        """Stop quoting ``symbol`` from ``at`` (default: always)."""
        start = floor_minute(at) if at is not None else _BEGINNING
        _insert(self._quotes.setdefault(symbol, ([], [])), start, None)

    def set_underlying(self, symbol: str, price: float, *, at: datetime | None = None) -> None:
        """The underlying's last trade price from ``at`` (default: always), USD."""
        start = floor_minute(at) if at is not None else _BEGINNING
        _insert(self._prices.setdefault(symbol, ([], [])), start, price)

    # ------------------------------------------------------------------ QuoteSource

    def top_of_book(self, symbols: Sequence[str], at: datetime) -> dict[str, TopOfBook]:
        self.calls += 1
        minute = floor_minute(at)
        today = minute.astimezone(ET).date()
        out: dict[str, TopOfBook] = {}
        for symbol in symbols:
            series = self._quotes.get(symbol)
            if series is None or _expired(symbol, today):
                continue
            book = _lookup(series, minute)
            if book is not None:
                out[symbol] = book
        return out

    def underlying_price(self, symbol: str, at: datetime) -> float:
        minute = floor_minute(at)
        series = self._prices.get(symbol)
        if series is not None:
            price = _lookup(series, minute)
            if price is not None:
                return price
        quote = self.top_of_book([symbol], minute).get(symbol)
        if quote is None:
            raise KeyError(f"no price for {symbol} at {minute.isoformat()}")
        return (quote.bid + quote.ask) / 2.0


def _expired(symbol: str, today: date) -> bool:
    return is_option_symbol(symbol) and parse_occ(symbol).expiry < today


def _insert(series: tuple[list[datetime], list[_T]], start: datetime, value: _T) -> None:
    times, values = series
    index = bisect.bisect_left(times, start)
    if index < len(times) and times[index] == start:
        values[index] = value
    else:
        times.insert(index, start)
        values.insert(index, value)


def _lookup(series: tuple[list[datetime], list[_T]], at: datetime) -> _T | None:
    times, values = series
    index = bisect.bisect_right(times, at)
    return values[index - 1] if index else None
