"""AlpacaMarketData: the :class:`agent.ports.MarketData` port on alpaca-py's data clients.

Two request budgets (Alpaca counts them separately): the data API (snapshots, bars, quotes)
goes through ``limiter``; the option contracts listing, which lives on the trading API, goes
through ``trading_limiter``. Everything is fetched as raw JSON and parsed tolerantly: greeks,
implied vol, latest trade and daily bar may be missing for any contract (ALPACA_NOTES §1.2).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import yaml
from alpaca.data.enums import DataFeed, OptionsFeed
from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import (
    OptionChainRequest,
    OptionLatestQuoteRequest,
    StockBarsRequest,
    StockSnapshotRequest,
)
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import GetOptionContractsRequest
from loguru import logger

from agent.adapters.alpaca.broker import policy_from_settings, trading_client
from agent.adapters.alpaca.parse import Json, number, timestamp
from agent.adapters.alpaca.transport import Domain, RetryPolicy, Transport, harden_client
from agent.calendar import ET
from agent.clock import Clock, SystemClock
from agent.config import AgentSettings
from agent.domain import (
    Bar,
    MarketContext,
    MarketEvent,
    MarketEventKind,
    OptionChain,
    Quote,
    UnderlyingSnapshot,
    parse_occ,
)
from agent.errors import ConfigError, DataError
from agent.marketdata.governor import Priority, RequestLimiter
from agent.ports import MarketData

SYMBOLS_PER_REQUEST = 100
"""Symbols per multi-symbol data request (keeps URLs short)."""
CONTRACTS_PAGE_LIMIT = 10_000
"""Alpaca's maximum page size for /v2/options/contracts."""
AVG_VOLUME_SESSIONS = 20
AVG_VOLUME_LOOKBACK_DAYS = 45
"""Calendar days of daily bars fetched to average the last 20 sessions' volume."""


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _et_midnight(on: date) -> datetime:
    return datetime(on.year, on.month, on.day, tzinfo=ET)


def load_events(path: Path | None) -> tuple[MarketEvent, ...]:
    """Events from ``universe.events_file``: ``earnings: {SYM: [dates]}``, ``fomc: [dates]``."""
    if path is None:
        return ()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"universe.events_file {path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"universe.events_file {path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"universe.events_file {path}: expected a mapping (earnings, fomc)")

    def as_date(value: Any, where: str) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError as exc:
            raise ConfigError(
                f"universe.events_file {path}: {where}: {value!r} is not a date"
            ) from exc

    events: list[MarketEvent] = []
    earnings = data.get("earnings") or {}
    if not isinstance(earnings, dict):
        raise ConfigError(f"universe.events_file {path}: earnings must map symbols to dates")
    for symbol, dates in earnings.items():
        for value in dates or []:
            events.append(
                MarketEvent(
                    kind=MarketEventKind.EARNINGS,
                    on=as_date(value, f"earnings.{symbol}"),
                    symbol=str(symbol).upper(),
                )
            )
    for value in data.get("fomc") or []:
        events.append(MarketEvent(kind=MarketEventKind.FOMC, on=as_date(value, "fomc")))
    return tuple(sorted(events, key=lambda e: (e.on, e.kind.value, e.symbol or "")))


class AlpacaMarketData:
    """Implements :class:`agent.ports.MarketData` over Alpaca's market data API."""

    def __init__(
        self,
        *,
        trading: TradingClient,
        stocks: StockHistoricalDataClient,
        options: OptionHistoricalDataClient,
        limiter: RequestLimiter,
        trading_limiter: RequestLimiter | None = None,
        clock: Clock | None = None,
        option_feed: str = "indicative",
        stock_feed: str = "iex",
        events: Sequence[MarketEvent] = (),
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int = 0,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.transport = Transport(policy=self.policy, sleep=sleep, seed=seed)
        stats = self.transport.stats
        harden_client(stocks, limiter=limiter, policy=self.policy, stats=stats)
        harden_client(options, limiter=limiter, policy=self.policy, stats=stats)
        harden_client(trading, limiter=trading_limiter or limiter, policy=self.policy, stats=stats)
        self._trading = trading
        self._stocks = stocks
        self._options = options
        self._clock: Clock = clock or SystemClock()
        self._option_feed = OptionsFeed(option_feed)
        self._stock_feed = DataFeed(stock_feed)
        self._events = tuple(events)
        self._lock = threading.Lock()
        self._avg_volume: dict[tuple[str, date], float] = {}

    @classmethod
    def from_settings(
        cls,
        settings: AgentSettings,
        limiter: RequestLimiter,
        *,
        trading_limiter: RequestLimiter | None = None,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> AlpacaMarketData:
        """Market data from ``settings.data_url`` (contracts from ``settings.trading_url``).

        ``limiter`` is the data budget; ``trading_limiter`` the trading budget shared with
        the broker (defaults to ``limiter``).
        """
        key, secret = settings.alpaca_api_key, settings.alpaca_secret_key
        assert key is not None and secret is not None  # trading_client() checked them
        trading = trading_client(settings)
        stocks = StockHistoricalDataClient(
            api_key=key.get_secret_value(),
            secret_key=secret.get_secret_value(),
            raw_data=True,
            url_override=settings.data_url,
        )
        options = OptionHistoricalDataClient(
            api_key=key.get_secret_value(),
            secret_key=secret.get_secret_value(),
            raw_data=True,
            url_override=settings.data_url,
        )
        return cls(
            trading=trading,
            stocks=stocks,
            options=options,
            limiter=limiter,
            trading_limiter=trading_limiter,
            clock=clock,
            option_feed=settings.market_data.option_feed,
            stock_feed=settings.market_data.stock_feed,
            events=load_events(settings.universe.events_file),
            policy=policy or policy_from_settings(settings),
            sleep=sleep,
            seed=settings.sim.seed,
        )

    def _read(self, call: Callable[[], Any], *, priority: Priority, what: str) -> Any:
        return self.transport.read(call, priority=priority, what=what, domain=Domain.MARKET_DATA)

    # ------------------------------------------------------------------ underlyings

    def get_underlying_snapshots(self, symbols: Sequence[str]) -> dict[str, UnderlyingSnapshot]:
        wanted = list(dict.fromkeys(s.upper() for s in symbols))
        raw: dict[str, Json] = {}
        for chunk in _chunks(wanted, SYMBOLS_PER_REQUEST):
            request = StockSnapshotRequest(symbol_or_symbols=chunk, feed=self._stock_feed)
            page = self._read(
                lambda r=request: self._stocks.get_stock_snapshot(r),  # type: ignore[misc]
                priority=Priority.SCAN,
                what=f"stock snapshots ({len(chunk)} symbols)",
            )
            for symbol, snap in cast(dict[str, Any], page or {}).items():
                if isinstance(snap, dict) and symbol in chunk:
                    raw[symbol] = snap
        averages = self._average_volumes(list(raw))
        out: dict[str, UnderlyingSnapshot] = {}
        for symbol, snap in raw.items():
            snapshot = self._snapshot(symbol, snap, averages.get(symbol, math.nan))
            if snapshot is not None:
                out[symbol] = snapshot
        return out

    def _snapshot(self, symbol: str, raw: Json, avg_volume: float) -> UnderlyingSnapshot | None:
        trade = raw.get("latestTrade") or {}
        quote = raw.get("latestQuote") or {}
        minute_bar = raw.get("minuteBar") or {}
        daily = raw.get("dailyBar") or {}
        prev = raw.get("prevDailyBar") or {}
        bid, ask = number(quote.get("bp")), number(quote.get("ap"))
        price = number(trade.get("p"))
        for fallback in (minute_bar.get("c"), daily.get("c")):
            if math.isnan(price):
                price = number(fallback)
        if math.isnan(price) and bid > 0 and ask >= bid:
            price = (bid + ask) / 2.0
        if math.isnan(price):
            logger.warning("{}: snapshot without any price; skipped", symbol)
            return None
        stamps = [
            t for t in (timestamp(trade.get("t")), timestamp(quote.get("t"))) if t is not None
        ]
        return UnderlyingSnapshot(
            symbol=symbol,
            price=price,
            bid=bid,
            ask=ask,
            day_volume=number(daily.get("v")),
            prev_close=number(prev.get("c")),
            avg_daily_volume=avg_volume,
            as_of=max(stamps) if stamps else self._clock.now(),
        )

    def _average_volumes(self, symbols: Sequence[str]) -> dict[str, float]:
        """Mean daily volume of the last 20 completed sessions, one multi-symbol bars request
        per trading day for all symbols (cached for the day)."""
        today = self._clock.now().astimezone(ET).date()
        with self._lock:
            known = {
                s: self._avg_volume[(s, today)] for s in symbols if (s, today) in self._avg_volume
            }
        missing = [s for s in symbols if s not in known]
        for chunk in _chunks(missing, SYMBOLS_PER_REQUEST):
            try:
                bars = self._bars(chunk, today - timedelta(days=AVG_VOLUME_LOOKBACK_DAYS), today)
            except DataError as err:
                logger.warning("average volumes unavailable this cycle: {}", err)
                continue
            for symbol in chunk:
                history = [
                    b for b in bars.get(symbol, []) if b.start_at.astimezone(ET).date() < today
                ]
                volumes = [
                    b.volume for b in history[-AVG_VOLUME_SESSIONS:] if not math.isnan(b.volume)
                ]
                average = float(np.mean(volumes)) if volumes else math.nan
                known[symbol] = average
                with self._lock:
                    self._avg_volume[(symbol, today)] = average
        return known

    def _bars(self, symbols: Sequence[str], start: date, end: date) -> dict[str, list[Bar]]:
        request = StockBarsRequest(
            symbol_or_symbols=list(symbols),
            timeframe=TimeFrame.Day,
            start=_et_midnight(start),
            end=_et_midnight(end + timedelta(days=1)) - timedelta(seconds=1),
            feed=self._stock_feed,
        )
        raw = self._read(
            lambda: self._stocks.get_stock_bars(request),
            priority=Priority.SCAN,
            what=f"daily bars ({len(symbols)} symbols)",
        )
        out: dict[str, list[Bar]] = {}
        for symbol, items in cast(dict[str, Any], raw or {}).items():
            bars = []
            for item in items or []:
                start_at = timestamp(item.get("t"))
                if start_at is None:
                    continue
                bars.append(
                    Bar(
                        symbol=symbol,
                        start_at=start_at,
                        open=number(item.get("o")),
                        high=number(item.get("h")),
                        low=number(item.get("l")),
                        close=number(item.get("c")),
                        volume=number(item.get("v")),
                    )
                )
            out[symbol] = sorted(bars, key=lambda b: b.start_at)
        return out

    def get_daily_bars(self, symbol: str, *, start: date, end: date) -> list[Bar]:
        if end < start:
            return []
        return self._bars([symbol.upper()], start, end).get(symbol.upper(), [])

    # ------------------------------------------------------------------ options

    def _open_interest(
        self, underlying: str, min_expiry: date, max_expiry: date
    ) -> dict[str, float]:
        """Open interest per contract from /v2/options/contracts, every page (the SDK does
        not paginate this endpoint)."""
        out: dict[str, float] = {}
        token: str | None = None
        while True:
            request = GetOptionContractsRequest(
                underlying_symbols=[underlying],
                expiration_date_gte=min_expiry,
                expiration_date_lte=max_expiry,
                limit=CONTRACTS_PAGE_LIMIT,
                page_token=token,
            )
            raw = self._read(
                lambda r=request: self._trading.get_option_contracts(r),  # type: ignore[misc]
                priority=Priority.SCAN,
                what=f"{underlying} option contracts",
            )
            page = cast(dict[str, Any], raw or {})
            for contract in page.get("option_contracts") or []:
                symbol = contract.get("symbol")
                if symbol:
                    out[str(symbol)] = number(contract.get("open_interest"))
            next_token = page.get("next_page_token")
            if not next_token or next_token == token:
                return out
            token = str(next_token)

    def get_option_chain(
        self, underlying: str, *, min_expiry: date, max_expiry: date
    ) -> OptionChain:
        underlying = underlying.upper()
        open_interest = self._open_interest(underlying, min_expiry, max_expiry)
        request = OptionChainRequest(
            underlying_symbol=underlying,
            feed=self._option_feed,
            expiration_date_gte=min_expiry,
            expiration_date_lte=max_expiry,
        )
        raw = self._read(
            lambda: self._options.get_option_chain(request),
            priority=Priority.SCAN,
            what=f"{underlying} option chain",
        )
        chain = self._chain(
            underlying, cast(dict[str, Any], raw or {}), open_interest, min_expiry, max_expiry
        )
        if len(chain) == 0:
            self._require_asset(underlying)
        return chain

    def _require_asset(self, symbol: str) -> None:
        """An empty chain is either an empty expiry window or an unknown symbol: ask the
        assets endpoint which (404 → DataError)."""
        try:
            self._read(
                lambda: self._trading.get_asset(symbol),
                priority=Priority.SCAN,
                what=f"asset {symbol}",
            )
        except DataError as err:
            raise DataError(f"{symbol}: unknown underlying ({err})") from err

    def _chain(
        self,
        underlying: str,
        snapshots: Mapping[str, Any],
        open_interest: Mapping[str, float],
        min_expiry: date,
        max_expiry: date,
    ) -> OptionChain:
        rows: list[tuple[Any, ...]] = []
        skipped = 0
        for symbol, snap in snapshots.items():
            try:
                contract = parse_occ(symbol)
            except DataError:
                skipped += 1  # Alpaca-API#266: malformed symbols happen
                continue
            if not isinstance(snap, dict) or not min_expiry <= contract.expiry <= max_expiry:
                continue
            quote = snap.get("latestQuote") or {}
            trade = snap.get("latestTrade") or {}
            daily = snap.get("dailyBar") or {}
            greeks = snap.get("greeks") or {}
            quoted_at = timestamp(quote.get("t"))
            rows.append(
                (
                    symbol,
                    np.datetime64(contract.expiry, "D"),
                    float(contract.strike),
                    contract.is_call,
                    number(quote.get("bp")),
                    number(quote.get("ap")),
                    number(trade.get("p")),
                    number(quote.get("bs")),
                    number(quote.get("as")),
                    number(daily.get("v")),
                    open_interest.get(symbol, math.nan),
                    quoted_at.timestamp() if quoted_at is not None else math.nan,
                    number(snap.get("impliedVolatility")),
                    number(greeks.get("delta")),
                    number(greeks.get("gamma")),
                    number(greeks.get("theta")),
                    number(greeks.get("vega")),
                )
            )
        if skipped:
            logger.warning("{}: {} snapshots with malformed symbols skipped", underlying, skipped)
        rows.sort(key=lambda r: r[0])
        columns = list(zip(*rows, strict=True)) if rows else [()] * 17
        names = (
            "symbol", "expiry", "strike", "is_call", "bid", "ask", "last", "bid_size",
            "ask_size", "volume", "open_interest", "quote_time_s", "vendor_iv",
            "vendor_delta", "vendor_gamma", "vendor_theta", "vendor_vega",
        )  # fmt: skip
        return OptionChain.from_columns(
            underlying=underlying,
            as_of=self._clock.now(),
            **{name: list(values) for name, values in zip(names, columns, strict=True)},
        )

    def get_option_quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Latest quotes (priority ORDER: these price working orders and exits)."""
        out: dict[str, Quote] = {}
        wanted = list(dict.fromkeys(symbols))
        for chunk in _chunks(wanted, SYMBOLS_PER_REQUEST):
            request = OptionLatestQuoteRequest(symbol_or_symbols=chunk, feed=self._option_feed)
            raw = self._read(
                lambda r=request: self._options.get_option_latest_quote(r),  # type: ignore[misc]
                priority=Priority.ORDER,
                what=f"option quotes ({len(chunk)} symbols)",
            )
            for symbol, item in cast(dict[str, Any], raw or {}).items():
                if not isinstance(item, dict) or symbol not in chunk:
                    continue
                quoted_at = timestamp(item.get("t"))
                if quoted_at is None:
                    continue
                out[symbol] = Quote(
                    symbol=symbol,
                    bid=number(item.get("bp")),
                    ask=number(item.get("ap")),
                    bid_size=number(item.get("bs")),
                    ask_size=number(item.get("as")),
                    quoted_at=quoted_at,
                )
        return out

    # ------------------------------------------------------------------ history and context

    def get_iv_history(self, symbol: str, *, start: date, end: date) -> list[tuple[date, float]]:
        """Alpaca keeps no implied-vol history: optagent builds it from its own scans."""
        return []

    def get_market_context(self, *, start: date, end: date) -> MarketContext:
        """No volatility index at Alpaca (NaN: the service derives one); events from
        ``universe.events_file``."""
        return MarketContext(
            as_of=self._clock.now(),
            vol_index=math.nan,
            events=tuple(e for e in self._events if start <= e.on <= end),
        )


def as_market_data(source: AlpacaMarketData) -> MarketData:
    """The adapter seen through the port (and a static check that it implements it)."""
    return source
