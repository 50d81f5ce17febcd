"""MarketDataService: cached market data, IV history and the inputs of each per-symbol scan.

The cache is keyed by clock time (so a simulated minute expires a simulated-minute TTL) and
is disposable: a restart just refetches. IV history lives in the store; when a symbol has
less than the configured window, it is backfilled once from the source's own history (the
simulator has one; Alpaca has none, so it warms up from our daily scans).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from agent.calendar import ET, MarketCalendar
from agent.clock import Clock
from agent.config import AgentSettings
from agent.domain import (
    Bar,
    MarketContext,
    OptionChain,
    Quote,
    ScanInput,
    UnderlyingSnapshot,
    is_option_symbol,
)
from agent.errors import DataError
from agent.ports import MarketData, Store

T = TypeVar("T")

_BARS_LOOKBACK_DAYS = 400
_BETA_WINDOW = 60
_BENCHMARK = "SPY"
VOL_INDEX_UNDERLYING = "SPY"


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    stored_at: datetime
    ttl: timedelta | None  # None: the cache's default TTL


@dataclass(frozen=True, slots=True, kw_only=True)
class BarsSummary:
    """What a scan needs from daily bars (refreshed once per day)."""

    history_days: int
    closes: tuple[float, ...]


def realized_vol(closes: Sequence[float], window: int = 20) -> float:
    """Annualised (252 sessions) close-to-close vol of the last ``window`` returns, or NaN."""
    if len(closes) < window + 1:
        return float("nan")
    tail = closes[-(window + 1) :]
    returns = [math.log(b / a) for a, b in itertools.pairwise(tail) if a > 0 and b > 0]
    if len(returns) < window:
        return float("nan")
    mean = sum(returns) / len(returns)
    variance = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    return math.sqrt(variance * 252.0)


class TtlCache:
    """A small thread-safe cache whose ages are measured on the agent's clock."""

    def __init__(self, clock: Clock, ttl_s: float) -> None:
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)
        self._entries: dict[tuple[str, ...], _Entry] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_load(
        self, key: tuple[str, ...], load: Callable[[], T], ttl: timedelta | None = None
    ) -> T:
        now = self._clock.now()
        limit = self._ttl if ttl is None else ttl
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and timedelta(0) <= now - entry.stored_at < limit:
                self.hits += 1
                value: T = entry.value
                return value
        self.misses += 1
        value = load()
        with self._lock:
            self._entries[key] = _Entry(value, now, ttl)
        return value

    def get(self, key: tuple[str, ...]) -> Any:
        """The cached value if present and fresh, else None."""
        now = self._clock.now()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and timedelta(0) <= now - entry.stored_at < self._ttl:
                self.hits += 1
                return entry.value
        return None

    def put(self, key: tuple[str, ...], value: object) -> None:
        with self._lock:
            self._entries[key] = _Entry(value, self._clock.now(), None)

    def clear(self, *, keep_daily: bool = False) -> None:
        """Drop every entry; with ``keep_daily``, only those on the default TTL (what a scan
        5 minutes after the last finds expired: daily bars and IV history stay)."""
        with self._lock:
            if keep_daily:
                self._entries = {k: e for k, e in self._entries.items() if e.ttl is not None}
            else:
                self._entries.clear()


class MarketDataService:
    """Fetches through the :class:`MarketData` port with caching, and assembles scan inputs."""

    def __init__(
        self,
        *,
        market_data: MarketData,
        store: Store,
        clock: Clock,
        settings: AgentSettings,
        calendar: MarketCalendar,
    ) -> None:
        self.source = market_data
        self.store = store
        self.clock = clock
        self.settings = settings
        self.calendar = calendar
        self.cache = TtlCache(clock, settings.market_data.cache_ttl_s)
        self._iv_loaded: set[str] = set()
        self.last_success_at: datetime | None = None
        self.errors = 0

    # ------------------------------------------------------------------ raw data

    def _ok(self) -> None:
        self.last_success_at = self.clock.now()

    def snapshots(self, symbols: Sequence[str]) -> dict[str, UnderlyingSnapshot]:
        """Snapshots for ``symbols``: cached ones reused, the rest fetched in one request."""
        out: dict[str, UnderlyingSnapshot] = {}
        missing: list[str] = []
        for symbol in symbols:
            cached = self.cache.get(("snapshot", symbol))
            if cached is None:
                missing.append(symbol)
            else:
                out[symbol] = cached
        if missing:
            fetched = self.source.get_underlying_snapshots(missing)
            self._ok()
            for symbol, snapshot in fetched.items():
                self.cache.put(("snapshot", symbol), snapshot)
                out[symbol] = snapshot
        return out

    def chain(self, symbol: str) -> OptionChain:
        today = self.clock.now().astimezone(ET).date()
        max_expiry = today + timedelta(days=self.settings.market_data.chain_max_dte)

        def load() -> OptionChain:
            chain = self.source.get_option_chain(symbol, min_expiry=today, max_expiry=max_expiry)
            self._ok()
            return chain

        return self.cache.get_or_load(("chain", symbol), load)

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Fresh option/stock quotes (never cached: exits and walking need the current book).

        Options come from the source's option quotes; stock symbols (assigned shares being
        sold) from fresh underlying snapshots (the port's option quotes carry no stock)."""
        if not symbols:
            return {}
        options = [s for s in symbols if is_option_symbol(s)]
        stocks = [s for s in symbols if not is_option_symbol(s)]
        quotes = self.source.get_option_quotes(options) if options else {}
        if stocks:
            quotes = dict(quotes)
            for symbol, snapshot in self.source.get_underlying_snapshots(stocks).items():
                quotes[symbol] = Quote(
                    symbol=symbol, bid=snapshot.bid, ask=snapshot.ask, quoted_at=snapshot.as_of
                )
        self._ok()
        return quotes

    def context(self) -> MarketContext:
        today = self.clock.now().astimezone(ET).date()

        def load() -> MarketContext:
            ctx = self.source.get_market_context(
                start=today - timedelta(days=7), end=today + timedelta(days=120)
            )
            self._ok()
            if not math.isfinite(ctx.vol_index):
                ctx = replace(ctx, vol_index=self._vol_index_proxy())
            return ctx

        return self.cache.get_or_load(("context",), load)

    def _vol_index_proxy(self) -> float:
        """VIX-like proxy when the source has no volatility index (Alpaca): SPY's ATM 30-day
        implied vol from its chain, in vol points (NaN if SPY has no usable chain)."""
        # Imported here: the kernels load numba, which processes that only quote don't need.
        from agent.pricing.chain import enrich_chain  # noqa: PLC0415
        from agent.pricing.ivrank import atm_iv  # noqa: PLC0415

        try:
            snapshot = self.snapshots([VOL_INDEX_UNDERLYING]).get(VOL_INDEX_UNDERLYING)
            if snapshot is None:
                return float("nan")
            enriched = enrich_chain(
                self.chain(VOL_INDEX_UNDERLYING),
                snapshot.price,
                self.settings.market_data.risk_free_rate,
                self.settings.market_data.dividend_yields.get(VOL_INDEX_UNDERLYING, 0.0),
                self.clock.now(),
                max_quote_age_s=self.settings.universe.max_quote_age_s,
            )
        except DataError:
            return float("nan")
        return atm_iv(enriched, 30.0) * 100.0

    def bars_summary(self, symbol: str) -> BarsSummary:
        """Daily-bar facts, refreshed once per trading day."""
        today = self.clock.now().astimezone(ET).date()

        def load() -> BarsSummary:
            bars: list[Bar] = self.source.get_daily_bars(
                symbol, start=today - timedelta(days=_BARS_LOOKBACK_DAYS), end=today
            )
            self._ok()
            return BarsSummary(history_days=len(bars), closes=tuple(b.close for b in bars))

        return self.cache.get_or_load(
            ("bars", symbol, today.isoformat()), load, ttl=timedelta(days=1)
        )

    def beta(self, symbol: str) -> float:
        """Beta of daily log returns to SPY over the last 60 sessions (1.0 if unknown)."""
        if symbol == _BENCHMARK:
            return 1.0
        try:
            mine = self.bars_summary(symbol).closes
            bench = self.bars_summary(_BENCHMARK).closes
        except DataError:
            return 1.0
        n = min(len(mine), len(bench), _BETA_WINDOW + 1)
        if n < 20:
            return 1.0
        r_a = [math.log(b / a) for a, b in zip(mine[-n:-1], mine[-n + 1 :], strict=True)]
        r_m = [math.log(b / a) for a, b in zip(bench[-n:-1], bench[-n + 1 :], strict=True)]
        mean_a, mean_m = sum(r_a) / len(r_a), sum(r_m) / len(r_m)
        cov = sum((a - mean_a) * (m - mean_m) for a, m in zip(r_a, r_m, strict=True))
        var = sum((m - mean_m) ** 2 for m in r_m)
        return cov / var if var > 0 else 1.0

    # ------------------------------------------------------------------ IV history

    def iv_history(self, symbol: str) -> tuple[float, ...]:
        """Daily ATM IVs (oldest first, at most the configured window), backfilled once.

        History ends yesterday, so it is read from the store once per symbol and day."""
        today = self.clock.now().astimezone(ET).date()
        return self.cache.get_or_load(
            ("iv_history", symbol, today.isoformat()),
            lambda: self._load_iv_history(symbol, today),
            ttl=timedelta(days=1),
        )

    def _load_iv_history(self, symbol: str, today: date) -> tuple[float, ...]:
        window = self.settings.market_data.iv_history_days
        since = today - timedelta(days=int(window * 1.6))
        with self.store.transaction() as tx:
            series = tx.iv_history.series(symbol, since=since)
        if len(series) < window and symbol not in self._iv_loaded:
            self._iv_loaded.add(symbol)
            backfill = self.source.get_iv_history(
                symbol, start=since, end=today - timedelta(days=1)
            )
            if backfill:
                known = {d for d, _ in series}
                new = [
                    (day, iv)
                    for day, iv in backfill
                    if day not in known and math.isfinite(iv) and iv > 0
                ]
                with self.store.transaction() as tx:
                    tx.iv_history.upsert_many(symbol, new)
                    series = tx.iv_history.series(symbol, since=since)
        # Today's own observation is the "current" value, not history.
        return tuple(iv for day, iv in series if day < today)[-window:]

    def record_atm_iv(self, symbol: str, on: date, atm_iv: float) -> None:
        if math.isfinite(atm_iv) and atm_iv > 0:
            with self.store.transaction() as tx:
                tx.iv_history.upsert(symbol, on, atm_iv)

    # ------------------------------------------------------------------ scan inputs

    def scan_input(self, symbol: str, scan_id: str) -> ScanInput:
        """Everything one per-symbol scan needs. Raises :class:`DataError` when the symbol
        has no usable data this cycle (the caller records why and moves on)."""
        snapshot = self.snapshots([symbol]).get(symbol)
        if snapshot is None:
            raise DataError(f"{symbol}: no snapshot from the market data source")
        md = self.settings.market_data
        return ScanInput(
            scan_id=scan_id,
            as_of=self.clock.now(),
            underlying=snapshot,
            chain=self.chain(symbol),
            context=self.context(),
            iv_history=self.iv_history(symbol),
            history_days=self.bars_summary(symbol).history_days,
            rate=md.risk_free_rate,
            dividend_yield=md.dividend_yields.get(symbol, 0.0),
            realized_vol=realized_vol(self.bars_summary(symbol).closes),
            sector=self.settings.universe.sectors.get(symbol),
            beta=self.beta(symbol),
        )

    def data_age_s(self) -> float | None:
        """Seconds since the last successful fetch (None before the first)."""
        if self.last_success_at is None:
            return None
        return (self.clock.now() - self.last_success_at).total_seconds()
