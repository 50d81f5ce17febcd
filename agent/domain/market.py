"""Market data values: quotes, underlying snapshots, bars, events, and the option chain.

The option chain is a struct-of-arrays (one numpy column per field) so that whole chains
go through the pricing kernels in one call; it is the one domain type that uses numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from agent.errors import DataError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]
DateArray = npt.NDArray[np.datetime64]


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """Top of book for one instrument. Prices in USD per share; sizes in contracts/shares."""

    symbol: str
    bid: float
    ask: float
    bid_size: float = 0.0
    ask_size: float = 0.0
    quoted_at: datetime

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0

    @property
    def is_crossed(self) -> bool:
        return self.bid > self.ask


@dataclass(frozen=True, slots=True, kw_only=True)
class UnderlyingSnapshot:
    """Latest state of a stock or ETF. Prices in USD; volume in shares (today so far)."""

    symbol: str
    price: float
    bid: float
    ask: float
    day_volume: float
    prev_close: float
    avg_daily_volume: float
    """Average daily share volume over recent sessions (NaN if unknown)."""
    as_of: datetime

    @property
    def spread_pct(self) -> float:
        """Bid-ask spread as a percentage of mid (NaN when the quote is unusable)."""
        mid = (self.bid + self.ask) / 2.0
        if not (mid > 0 and self.ask >= self.bid):
            return float("nan")
        return (self.ask - self.bid) / mid * 100.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Bar:
    """One OHLCV bar; ``start_at`` is the bar's opening time (UTC)."""

    symbol: str
    start_at: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


class MarketEventKind(StrEnum):
    EARNINGS = "earnings"
    FOMC = "fomc"


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketEvent:
    """A scheduled event that moves prices (earnings for a symbol, or a market-wide FOMC day)."""

    kind: MarketEventKind
    on: date
    symbol: str | None = None
    """None for market-wide events."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketContext:
    """Market-wide inputs to a scan: the volatility index proxy and the event calendar."""

    as_of: datetime
    vol_index: float
    """Volatility-index proxy in VIX points (e.g. 18.5); NaN if unknown."""
    events: tuple[MarketEvent, ...] = ()

    def events_for(self, symbol: str) -> tuple[MarketEvent, ...]:
        return tuple(e for e in self.events if e.symbol in (None, symbol))


CHAIN_COLUMNS: tuple[str, ...] = (
    "symbol",
    "expiry",
    "strike",
    "is_call",
    "bid",
    "ask",
    "last",
    "bid_size",
    "ask_size",
    "volume",
    "open_interest",
    "quote_time_s",
    "vendor_iv",
    "vendor_delta",
    "vendor_gamma",
    "vendor_theta",
    "vendor_vega",
)


def _empty_float(n: int) -> FloatArray:
    return np.full(n, np.nan, dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionChain:
    """All quoted contracts of one underlying at one time, as numpy columns.

    Units: prices USD per share; ``strike`` USD; ``volume`` contracts today (NaN unknown);
    ``open_interest`` contracts (NaN unknown); ``quote_time_s`` seconds since the epoch
    (UTC); ``expiry`` ``datetime64[D]``. ``vendor_*`` columns hold the feed's own greeks and
    implied vol (NaN where the feed sent none) for cross-checking; vendor theta is per day,
    vendor vega per 1 vol point (Alpaca's convention).
    """

    underlying: str
    as_of: datetime
    symbol: StrArray
    expiry: DateArray
    strike: FloatArray
    is_call: BoolArray
    bid: FloatArray
    ask: FloatArray
    last: FloatArray
    bid_size: FloatArray
    ask_size: FloatArray
    volume: FloatArray
    open_interest: FloatArray
    quote_time_s: FloatArray
    vendor_iv: FloatArray = field(default_factory=lambda: _empty_float(0))
    vendor_delta: FloatArray = field(default_factory=lambda: _empty_float(0))
    vendor_gamma: FloatArray = field(default_factory=lambda: _empty_float(0))
    vendor_theta: FloatArray = field(default_factory=lambda: _empty_float(0))
    vendor_vega: FloatArray = field(default_factory=lambda: _empty_float(0))

    def __post_init__(self) -> None:
        n = len(self.symbol)
        for name in CHAIN_COLUMNS[1:]:
            column = getattr(self, name)
            if name.startswith("vendor_") and len(column) == 0 and n > 0:
                object.__setattr__(self, name, _empty_float(n))
                continue
            if len(column) != n:
                raise DataError(
                    f"chain {self.underlying}: column {name} has {len(column)} rows, expected {n}"
                )

    def __len__(self) -> int:
        return len(self.symbol)

    @classmethod
    def from_columns(cls, *, underlying: str, as_of: datetime, **columns: object) -> OptionChain:
        """Build a chain from array-likes, coercing dtypes; missing optional columns are NaN."""
        symbols = np.asarray(columns.pop("symbol", []), dtype=np.str_)
        n = len(symbols)

        def floats(name: str) -> FloatArray:
            raw = columns.pop(name, None)
            return _empty_float(n) if raw is None else np.asarray(raw, dtype=np.float64)

        expiry = np.asarray(columns.pop("expiry", []), dtype="datetime64[D]")
        is_call = np.asarray(columns.pop("is_call", []), dtype=np.bool_)
        chain = cls(
            underlying=underlying,
            as_of=as_of,
            symbol=symbols,
            expiry=expiry,
            strike=floats("strike"),
            is_call=is_call,
            bid=floats("bid"),
            ask=floats("ask"),
            last=floats("last"),
            bid_size=floats("bid_size"),
            ask_size=floats("ask_size"),
            volume=floats("volume"),
            open_interest=floats("open_interest"),
            quote_time_s=floats("quote_time_s"),
            vendor_iv=floats("vendor_iv"),
            vendor_delta=floats("vendor_delta"),
            vendor_gamma=floats("vendor_gamma"),
            vendor_theta=floats("vendor_theta"),
            vendor_vega=floats("vendor_vega"),
        )
        if columns:
            raise DataError(f"unknown chain columns: {sorted(columns)}")
        return chain

    def take(self, index: npt.NDArray[np.intp] | BoolArray) -> OptionChain:
        """A new chain with only the selected rows (boolean mask or integer index)."""
        return OptionChain(
            underlying=self.underlying,
            as_of=self.as_of,
            **{name: getattr(self, name)[index] for name in CHAIN_COLUMNS},
        )

    def expiries(self) -> list[date]:
        return [d.astype(date) for d in np.unique(self.expiry)]
