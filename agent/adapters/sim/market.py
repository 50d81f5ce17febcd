"""The seeded options-market simulator: :class:`MarketModel`.

A pure function of its configuration (seed, universe, start date, rates) and the time asked
about: two models built from the same settings, in any processes, in any order, give
identical prices, quotes and chains. Nothing is precomputed beyond daily rows; minute paths,
listings and quotes are made on demand and cached (LRU, bounded by the universe's size).

Time: every query is located on the market's minute grid (:meth:`MarketModel.locate`):
during a session, the minute containing ``at`` (prices are those at the start of that
minute, so 09:30:00–09:30:59 sees the open); outside a session, the close of the most recent
session (quotes frozen at the close, as a real feed shows them overnight).

The pieces: :mod:`.universe` (who trades), :mod:`.market_paths` (daily and minute prices,
regimes, jumps), :mod:`.market_surface` (implied vols), :mod:`.listings` (expiries and
strikes), :mod:`.quotes` (spreads, ticks, open interest, volume, bad quotes). The model
implements :class:`~agent.adapters.sim.interfaces.QuoteSource` for the simulated exchange.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from agent.adapters.sim.interfaces import TopOfBook
from agent.adapters.sim.listings import Listing, build_listing
from agent.adapters.sim.market_config import (
    MarketConfig,
    market_config_from_settings,
)
from agent.adapters.sim.market_events import fomc_days
from agent.adapters.sim.market_paths import (
    MARKET_VOL_BY_REGIME,
    OVERNIGHT_VARIANCE_SHARE,
    SESSIONS_PER_YEAR,
    SPOT_VOL_MARKET,
    VOLUME_MULT_BY_REGIME,
    MarketPaths,
    Regime,
    regime_vol,
)
from agent.adapters.sim.market_rng import combine, hash_uniform, stable_hash64
from agent.adapters.sim.market_surface import (
    EVENT_VRP,
    MARKET_VRP,
    strike_vols_grouped,
    total_variance,
)
from agent.adapters.sim.quotes import (
    BAD_STALE,
    OPEN_WIDE_MINUTES,
    OPEN_WIDTH_MULT,
    REGIME_WIDTH_MULT,
    VENDOR_IV_NOISE,
    VENDOR_MISSING_RATE,
    make_quotes,
    open_interest_and_volume,
    stock_quote,
)
from agent.adapters.sim.universe import UnderlyingSpec
from agent.calendar import ET, MarketCalendar, market_calendar
from agent.config import AgentSettings
from agent.domain.contracts import is_option_symbol, parse_occ
from agent.domain.market import (
    Bar,
    MarketEvent,
    MarketEventKind,
    OptionChain,
    UnderlyingSnapshot,
)
from agent.errors import DataError
from agent.pricing.closed_form import bs_greeks, bs_price

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

SpotOverride = Callable[[str, datetime], float | None]
"""Scenario hook: the underlying's price at a quote time (UTC), or None for the model's own.
See :mod:`agent.adapters.sim.scenario`."""

SECONDS_PER_YEAR = 365.0 * 86400.0
AVG_VOLUME_SESSIONS = 20
_STOCK_LOT_SIZES = {1: (500, 8000), 2: (100, 3000), 3: (100, 1000), 4: (100, 400)}


@dataclass(frozen=True, slots=True)
class MarketTime:
    """Where a moment falls on the market's minute grid."""

    row: int
    """Row of the session in :class:`MarketPaths`."""
    day: date
    minute: int
    """Minutes since that session's open; ``n_minutes`` means the close (or later)."""
    n_minutes: int
    quote_at: datetime
    """The moment quotes refer to (UTC): the minute's start, or the close."""
    is_open: bool

    @property
    def quote_epoch_s(self) -> float:
        return self.quote_at.timestamp()


@dataclass(frozen=True, slots=True)
class DayBook:
    """One underlying's listing on one session with that day's open interest and volume."""

    listing: Listing
    open_interest: FloatArray
    day_volume: FloatArray
    """Full-session volume per contract (contracts)."""
    near_end: int
    """Rows ``[0, near_end)`` expire within ``chain_max_dte`` days."""
    event_variance: FloatArray
    """Per expiry: implied earnings variance of the reports before it (from this session)."""
    vendor_missing: BoolArray
    """Per row: the vendor sends no greeks/IV for this contract today."""
    vendor_iv_error: FloatArray
    """Per row: the vendor's IV as a multiple of ours today (1 ± ~1 %)."""


@dataclass(frozen=True, slots=True)
class QuoteBlock:
    """Quotes of a contiguous block of a listing's rows at one minute (columns per row)."""

    start: int
    alive: BoolArray
    """False for contracts that have stopped trading (expired at this minute)."""
    fair: FloatArray
    iv: FloatArray
    bid: FloatArray
    ask: FloatArray
    bid_size: FloatArray
    ask_size: FloatArray
    last: FloatArray
    volume: FloatArray
    open_interest: FloatArray
    quote_time_s: FloatArray
    bad_kind: npt.NDArray[np.int8]
    vendor_iv: FloatArray
    vendor_delta: FloatArray
    vendor_gamma: FloatArray
    vendor_theta: FloatArray
    vendor_vega: FloatArray


class MarketModel:
    """The simulated market. Implements :class:`~agent.adapters.sim.interfaces.QuoteSource`."""

    def __init__(
        self,
        config: MarketConfig,
        *,
        calendar: MarketCalendar | None = None,
        quote_cache_size: int = 64,
        spot_override: SpotOverride | None = None,
    ) -> None:
        self.config = config
        self.spot_override = spot_override
        """Scenario hook (tests, replays): scripted underlying prices, see
        :meth:`set_spot_override`. None (the default) leaves the market untouched."""
        self.calendar = calendar or market_calendar()
        self.universe = config.universe()
        self.paths = MarketPaths(
            seed=config.seed,
            universe=self.universe,
            calendar=self.calendar,
            start_date=config.start_date,
            history_sessions=config.history_sessions,
        )
        self._seed_key = stable_hash64("quotes", config.seed)
        self._regime_vols = np.array(
            [[regime_vol(s, Regime(g)) for g in range(3)] for s in self.universe.specs]
        )
        # LRU caches, bounded by what one process re-reads (a DayBook is ~0.6 MB at 100
        # underlyings, a quote block ~0.2 MB). Day books: every underlying today and on the
        # previous session, so a multi-day run does not keep stale days. Quote blocks: only
        # re-read within a minute (the exchange's fills and marks, quotes of held contracts,
        # a stale quote's minute); MarketData caches whole chains itself, and the next scan
        # asks new minutes. A miss only recomputes (the model is a pure function of time).
        self._books: OrderedDict[tuple[int, int], DayBook] = OrderedDict()
        self._book_cache_size = max(64, 2 * len(self.universe.specs))
        self._blocks: OrderedDict[tuple[int, int, int, int], QuoteBlock] = OrderedDict()
        self._quote_cache_size = quote_cache_size
        # Actors may call from several threads (asyncio.to_thread): guard the caches.
        self._lock = threading.RLock()
        self._iv_close_cache: dict[tuple[int, int], float] = {}

    def set_spot_override(self, override: SpotOverride | None) -> None:
        """Script underlying prices: ``override(symbol, at)`` returns the price (USD) at the
        quote time ``at`` (a minute's start, or the session close), or None to keep the
        model's own. Spot, snapshots, stock quotes and every option quote (through the same
        surface and quote engine) follow it, and so does the exchange's settlement, which
        prices expiries at ``underlying_price(symbol, close)``. Daily bars, closes and IV
        history keep the model's own path. Cached quote blocks are dropped."""
        with self._lock:
            self.spot_override = override
            self._blocks.clear()

    def _spot_at(self, i: int, at: datetime, natural: float) -> float:
        override = self.spot_override
        if override is None:
            return natural
        value = override(self.universe.specs[i].symbol, at)
        return natural if value is None else float(value)

    @classmethod
    def from_settings(cls, settings: AgentSettings) -> MarketModel:
        """The market every process of a run sees for these settings."""
        return cls(market_config_from_settings(settings))

    # ------------------------------------------------------------------ universe

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.universe.symbols

    def spec(self, symbol: str) -> UnderlyingSpec:
        """The spec of an underlying; :class:`DataError` if unknown."""
        spec = self.universe.get(symbol)
        if spec is None:
            raise DataError(f"{symbol}: not in the simulated universe")
        return spec

    def dividend_yields(self) -> dict[str, float]:
        """The continuous dividend yield of every underlying (per year): give these to the
        agent's pricing (``market_data.dividend_yields``) to value options as the market does."""
        return {s.symbol: s.dividend_yield for s in self.universe.specs}

    def _index(self, symbol: str) -> int:
        index = self.universe.index_of.get(symbol)
        if index is None:
            raise DataError(f"{symbol}: not in the simulated universe")
        return index

    # ------------------------------------------------------------------ time

    def locate(self, at: datetime) -> MarketTime:
        """Place ``at`` (aware) on the minute grid (see the module docstring)."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"at must be timezone-aware (got {at!r})")
        day = at.astimezone(ET).date()
        session = self.calendar.session(day)
        if session is None or at < session.open_at:
            try:
                day = self.calendar.previous_session(day)
            except (ValueError, IndexError) as exc:
                raise DataError(f"{at} is outside the simulated calendar") from exc
            session = self.calendar.session(day)
            assert session is not None
        row = self.paths.session_index.get(day)
        if row is None:
            raise DataError(f"{at} is before the simulated history ({self.paths.origin})")
        self.paths.ensure(row + 1)
        n_minutes = self.paths.session_minutes(row)
        if at >= session.close_at:
            return MarketTime(row, day, n_minutes, n_minutes, session.close_at, False)
        minute = int((at - session.open_at).total_seconds() // 60)
        quote_at = session.open_at + timedelta(minutes=minute)
        return MarketTime(row, day, minute, n_minutes, quote_at.astimezone(UTC), True)

    def regime_on(self, day: date) -> Regime:
        """The market regime of session ``day``."""
        return Regime(int(self.paths.regime[self.paths.row(day)]))

    # ------------------------------------------------------------------ prices

    def spot(self, symbol: str, at: datetime) -> float:
        """Last price at ``at`` (the start of its minute; the close outside sessions), USD."""
        i = self._index(symbol)
        t = self.locate(at)
        return self._spot_at(i, t.quote_at, float(self.paths.intraday(t.row, i).prices[t.minute]))

    def underlying_price(self, symbol: str, at: datetime) -> float:
        """:class:`QuoteSource` alias of :meth:`spot`."""
        return self.spot(symbol, at)

    def daily_closes(self, symbol: str, start: date, end: date) -> list[tuple[date, float]]:
        """Closes of sessions in ``[start, end]`` within the simulated history."""
        i = self._index(symbol)
        out = []
        for day in self.calendar.sessions_between(max(start, self.paths.origin), end):
            out.append((day, float(self.paths.close[self.paths.row(day), i])))
        return out

    def daily_bars(self, symbol: str, start: date, end: date, *, as_of: datetime) -> list[Bar]:
        """Daily OHLCV bars (``start_at`` = the session open) for sessions in ``[start, end]``
        that have opened by ``as_of``; the session in progress is a partial bar."""
        i = self._index(symbol)
        now = self.locate(as_of)
        last_day = min(end, now.day)
        bars = []
        for day in self.calendar.sessions_between(max(start, self.paths.origin), last_day):
            j = self.paths.row(day)
            session = self.calendar.session(day)
            assert session is not None
            if j == now.row and now.minute < now.n_minutes:
                path = self.paths.intraday(j, i)
                seen = path.prices[: now.minute + 1]
                bar = Bar(
                    symbol=symbol,
                    start_at=session.open_at,
                    open=float(path.prices[0]),
                    high=float(seen.max()),
                    low=float(seen.min()),
                    close=float(seen[-1]),
                    volume=float(
                        math.floor(self.paths.volume[j, i] * path.cum_variance[now.minute])
                    ),
                )
            else:
                high, low = self.paths.high_low(j, i)
                bar = Bar(
                    symbol=symbol,
                    start_at=session.open_at,
                    open=float(self.paths.open[j, i]),
                    high=high,
                    low=low,
                    close=float(self.paths.close[j, i]),
                    volume=float(self.paths.volume[j, i]),
                )
            bars.append(bar)
        return bars

    def underlying_snapshot(self, symbol: str, at: datetime) -> UnderlyingSnapshot:
        i = self._index(symbol)
        t = self.locate(at)
        spec = self.universe.specs[i]
        path = self.paths.intraday(t.row, i)
        price = self._spot_at(i, t.quote_at, float(path.prices[t.minute]))
        bid, ask = stock_quote(spec.tier, price, self._width_mult(t))
        lo = max(0, t.row - AVG_VOLUME_SESSIONS)
        history = self.paths.volume[lo : t.row, i]
        return UnderlyingSnapshot(
            symbol=symbol,
            price=price,
            bid=bid,
            ask=ask,
            day_volume=float(math.floor(self.paths.volume[t.row, i] * path.cum_variance[t.minute])),
            prev_close=self.paths.prev_close(t.row, i),
            avg_daily_volume=float(history.mean()) if len(history) else float("nan"),
            as_of=t.quote_at,
        )

    # ------------------------------------------------------------------ vols

    def _v0_and_long(
        self, i: int, row: int, iv_shock: float | FloatArray
    ) -> tuple[FloatArray, float]:
        spec = self.universe.specs[i]
        regime = int(self.paths.regime[row])
        v0 = (spec.vrp * self._regime_vols[i, regime] * np.exp(iv_shock)) ** 2
        v_long = float((spec.vrp * self._regime_vols[i, Regime.NORMAL]) ** 2)
        return np.asarray(v0, dtype=np.float64), v_long

    def _event_variance(self, i: int, day: date, expiries: Sequence[date]) -> FloatArray:
        spec = self.universe.specs[i]
        if spec.earnings_move <= 0.0 or not expiries:
            return np.zeros(len(expiries))
        reports = self.paths.earnings_between(i, day, max(expiries))
        per_event = (EVENT_VRP * spec.earnings_move) ** 2
        return np.array([per_event * sum(1 for d in reports if d < e) for e in expiries])

    def atm_iv(self, symbol: str, at: datetime, days: int = 30) -> float:
        """Implied vol (per sqrt calendar year) of the at-the-money forward strike for a
        constant maturity of ``days`` calendar days from ``at``'s minute."""
        i = self._index(symbol)
        t = self.locate(at)
        path = self.paths.intraday(t.row, i)
        return self._atm_iv(
            i,
            t.row,
            t.day,
            float(path.iv_shock[t.minute]),
            float(path.cum_variance[t.minute]),
            days,
        )

    def _atm_iv(  # noqa: PLR0917
        self, i: int, row: int, day: date, iv_shock: float, elapsed_share: float, days: int
    ) -> float:
        target = day + timedelta(days=days)
        sessions = self.calendar.trading_days_between(day, target)
        tau = (
            sessions + (1.0 - OVERNIGHT_VARIANCE_SHARE) * (1.0 - elapsed_share)
        ) / SESSIONS_PER_YEAR
        v0, v_long = self._v0_and_long(i, row, iv_shock)
        event = self._event_variance(i, day, [target])
        w = total_variance(v0, v_long, np.array([tau]), event)
        return float(math.sqrt(w[0] / (days / 365.0)))

    def iv_history(self, symbol: str, start: date, end: date) -> list[tuple[date, float]]:
        """ATM 30-day implied vol at each session's close in ``[start, end]`` (exactly the
        surface's), ascending."""
        i = self._index(symbol)
        out = []
        for day in self.calendar.sessions_between(max(start, self.paths.origin), end):
            j = self.paths.row(day)
            value = self._iv_close_cache.get((i, j))
            if value is None:
                shock = self.paths.market_iv_close(j) + self.paths.idio_iv_close(j, i)
                value = self._atm_iv(i, j, day, shock, 1.0, 30)
                self._iv_close_cache[(i, j)] = value
            out.append((day, value))
        return out

    def vol_index(self, at: datetime) -> float:
        """Volatility-index proxy in vol points: the market factor's 30-day ATM implied vol
        (regime vol × ``MARKET_VRP`` × level shock, with the term structure) × 100."""
        t = self.locate(at)
        market_path, cum = self.paths._market_minutes(t.row)
        shock = float(self.paths.market_iv_open[t.row] - SPOT_VOL_MARKET * market_path[t.minute])
        return self._vol_index(t.row, t.day, shock, float(cum[t.minute]))

    def _vol_index(self, row: int, day: date, shock: float, elapsed_share: float) -> float:
        regime = int(self.paths.regime[row])
        v0 = (MARKET_VRP * MARKET_VOL_BY_REGIME[regime] * math.exp(shock)) ** 2
        v_long = (MARKET_VRP * MARKET_VOL_BY_REGIME[Regime.NORMAL]) ** 2
        target = day + timedelta(days=30)
        sessions = self.calendar.trading_days_between(day, target)
        tau = (
            sessions + (1.0 - OVERNIGHT_VARIANCE_SHARE) * (1.0 - elapsed_share)
        ) / SESSIONS_PER_YEAR
        w = total_variance(v0, v_long, np.array([tau]), np.zeros(1))
        return float(100.0 * math.sqrt(w[0] / (30.0 / 365.0)))

    def vol_index_close(self, day: date) -> float:
        """The vol-index proxy at the close of session ``day``."""
        j = self.paths.row(day)
        return self._vol_index(j, day, self.paths.market_iv_close(j), 1.0)

    # ------------------------------------------------------------------ events

    def earnings_dates(self, symbol: str, start: date, end: date) -> list[date]:
        """Earnings report days (after the close) of ``symbol`` in ``[start, end]``."""
        return self.paths.earnings_between(self._index(symbol), start, end)

    def events(self, start: date, end: date) -> list[MarketEvent]:
        """Earnings of every underlying and FOMC days in ``[start, end]``, by date."""
        events = [MarketEvent(kind=MarketEventKind.FOMC, on=d) for d in fomc_days(start, end)]
        for i, symbol in enumerate(self.universe.symbols):
            events.extend(
                MarketEvent(kind=MarketEventKind.EARNINGS, on=d, symbol=symbol)
                for d in self.paths.earnings_between(i, start, end)
            )
        events.sort(key=lambda e: (e.on, e.kind.value, e.symbol or ""))
        return events

    # ------------------------------------------------------------------ listings

    def _prev_closes(self, i: int) -> Callable[[date, date], tuple[list[date], FloatArray]]:
        def lookup(first: date, last: date) -> tuple[list[date], FloatArray]:
            days = self.calendar.sessions_between(max(first, self.paths.origin), last)
            rows = np.array([self.paths.row(d) for d in days], dtype=np.int64)
            closes = np.array([self.paths.prev_close(int(j), i) for j in rows[:1]])
            if len(rows) > 1:
                closes = np.concatenate([closes, self.paths.close[rows[1:] - 1, i]])
            return days, closes

        return lookup

    def day_book(self, symbol: str, day: date) -> DayBook:
        """The listing, open interest and day volume of ``symbol`` on session ``day``."""
        i = self._index(symbol)
        j = self.paths.row(day)
        return self._day_book(i, j)

    def _day_book(self, i: int, j: int) -> DayBook:
        with self._lock:
            return self._day_book_locked(i, j)

    def _day_book_locked(self, i: int, j: int) -> DayBook:
        key = (i, j)
        book = self._books.get(key)
        if book is not None:
            self._books.move_to_end(key)
            return book
        spec = self.universe.specs[i]
        day = self.paths.sessions[j]
        listing = build_listing(spec, day, self.calendar, self._prev_closes(i))
        expiries = [s.expiry for s in listing.expiries]
        days_to_expiry = np.array([(e - day).days for e in expiries], dtype=np.float64)
        days_listed = np.array(
            [(day - s.listed_on).days for s in listing.expiries], dtype=np.float64
        )
        re = listing.row_expiry
        oi, volume = open_interest_and_volume(
            tier=spec.tier,
            vol=spec.vol,
            strike_usd=listing.strike,
            is_call=listing.is_call,
            days_to_expiry=days_to_expiry[re],
            days_listed=days_listed[re],
            is_monthly=listing.expiry_is_monthly[re],
            prev_close_usd=self.paths.prev_close(j, i),
            contract_id=listing.contract_id,
            day_key=day.toordinal(),
            volume_mult=VOLUME_MULT_BY_REGIME[int(self.paths.regime[j])],
        )
        day_ids = combine(listing.contract_id, day.toordinal())
        near_limit = day + timedelta(days=self.config.chain_max_dte)
        near_expiries = sum(1 for e in expiries if e <= near_limit)
        book = DayBook(
            listing=listing,
            open_interest=oi,
            day_volume=volume,
            near_end=int(listing.expiry_start[near_expiries]),
            event_variance=self._event_variance(i, day, expiries),
            vendor_missing=hash_uniform(day_ids) < VENDOR_MISSING_RATE,
            vendor_iv_error=1.0
            + VENDOR_IV_NOISE * (hash_uniform(combine(day_ids, 1)) - 0.5) * (2.0 * math.sqrt(3.0)),
        )
        self._books[key] = book
        if len(self._books) > self._book_cache_size:
            self._books.popitem(last=False)
        return book

    # ------------------------------------------------------------------ quotes

    def _width_mult(self, t: MarketTime) -> float:
        mult = REGIME_WIDTH_MULT[int(self.paths.regime[t.row])]
        if t.is_open and t.minute < OPEN_WIDE_MINUTES:
            mult *= OPEN_WIDTH_MULT
        return mult

    def _minute_key(self, quote_epoch_s: float) -> int:
        minute = int(quote_epoch_s // 60)
        return int(combine(np.array([self._seed_key], dtype=np.uint64), minute)[0])

    def quote_block(
        self, symbol: str, at: datetime, *, far: bool = False
    ) -> tuple[DayBook, QuoteBlock]:
        """The near (or far) quote block of ``symbol`` at ``at``'s minute."""
        i = self._index(symbol)
        t = self.locate(at)
        book = self._day_book(i, t.row)
        return book, self._block(i, t, book, 1 if far else 0)

    def _block(self, i: int, t: MarketTime, book: DayBook, which: int) -> QuoteBlock:
        with self._lock:
            return self._block_locked(i, t, book, which)

    def _block_locked(self, i: int, t: MarketTime, book: DayBook, which: int) -> QuoteBlock:
        key = (i, t.row, t.minute, which)
        block = self._blocks.get(key)
        if block is not None:
            self._blocks.move_to_end(key)
            return block
        rows = slice(0, book.near_end) if which == 0 else slice(book.near_end, len(book.listing))
        block = self._compute_block(i, t, book, rows)
        self._blocks[key] = block
        if len(self._blocks) > self._quote_cache_size:
            self._blocks.popitem(last=False)
        return block

    def _compute_block(self, i: int, t: MarketTime, book: DayBook, rows: slice) -> QuoteBlock:
        spec = self.universe.specs[i]
        listing = book.listing
        path = self.paths.intraday(t.row, i)
        r = self.config.risk_free_rate
        q = spec.dividend_yield
        quote_epoch = t.quote_epoch_s

        # per expiry: calendar years, business-time total variance (with earnings)
        years_e = (listing.expiry_value_epoch_s - quote_epoch) / SECONDS_PER_YEAR
        alive_e = listing.expiry_end_epoch_s > quote_epoch
        elapsed = float(path.cum_variance[t.minute])
        remaining_today = (1.0 - OVERNIGHT_VARIANCE_SHARE) * (1.0 - elapsed)
        tau_e = (listing.expiry_sessions_ahead + remaining_today) / SESSIONS_PER_YEAR
        v0, v_long = self._v0_and_long(i, t.row, float(path.iv_shock[t.minute]))
        w_e = total_variance(v0, v_long, tau_e, book.event_variance)

        # per row: vol from the surface, price and greeks (closed form, numpy), then quotes
        re = listing.row_expiry[rows]
        strike = listing.strike[rows]
        is_call = listing.is_call[rows]
        spot = np.array([self._spot_at(i, t.quote_at, float(path.prices[t.minute]))])
        years, sigma, z = strike_vols_grouped(
            spot_usd=spot,
            strike_usd=strike,
            row_group=re,
            group_years=years_e,
            group_total_var=w_e,
            rate=r,
            dividend_yield=q,
            skew=spec.skew,
            smile=spec.smile,
        )
        greeks = bs_greeks(spot, strike, years, r, q, sigma, is_call)
        minute_key = self._minute_key(quote_epoch)
        quotes = make_quotes(
            price=greeks.price,
            spot_usd=spot,
            strike_usd=strike,
            is_call=is_call,
            z=z,
            years=years,
            contract_id=listing.contract_id[rows],
            minute_key=minute_key,
            tier=spec.tier,
            width_mult=self._width_mult(t),
            bad_quote_rate=self.config.bad_quote_rate,
        )
        bid, ask, fair = quotes.bid, quotes.ask, quotes.fair
        quote_time = np.full(len(fair), quote_epoch)
        stale = np.flatnonzero(quotes.bad_kind == BAD_STALE)
        if len(stale):
            self._restale(
                i, t, book, rows, stale, quotes.stale_lag_min[stale], bid, ask, quote_time
            )

        volume = np.floor(book.day_volume[rows] * elapsed)
        last = np.where(volume > 0, np.round(fair, 2), np.nan)
        missing = book.vendor_missing[rows] | (bid <= 0.0)
        nan = np.nan
        return QuoteBlock(
            start=rows.start or 0,
            alive=alive_e[re],
            fair=fair,
            iv=sigma,
            bid=bid,
            ask=ask,
            bid_size=quotes.bid_size,
            ask_size=quotes.ask_size,
            last=last,
            volume=volume,
            open_interest=book.open_interest[rows],
            quote_time_s=quote_time,
            bad_kind=quotes.bad_kind,
            vendor_iv=np.where(missing, nan, sigma * book.vendor_iv_error[rows]),
            vendor_delta=np.where(missing, nan, greeks.delta),
            vendor_gamma=np.where(missing, nan, greeks.gamma),
            vendor_theta=np.where(missing, nan, greeks.theta / 365.0),
            vendor_vega=np.where(missing, nan, greeks.vega / 100.0),
        )

    def _restale(  # noqa: PLR0917
        self,
        i: int,
        t: MarketTime,
        book: DayBook,
        rows: slice,
        stale: npt.NDArray[np.intp],
        lag_min: npt.NDArray[np.int64],
        bid: FloatArray,
        ask: FloatArray,
        quote_time: FloatArray,
    ) -> None:
        """Replace the quotes of ``stale`` rows by those of ``lag_min`` minutes earlier (not
        before the open): the price, vol and time to expiry of then, the quote time of then."""
        spec = self.universe.specs[i]
        listing = book.listing
        path = self.paths.intraday(t.row, i)
        session = self.calendar.session(t.day)
        assert session is not None
        old_minute = np.maximum(t.minute - lag_min, 0)
        old_epoch = session.open_at.timestamp() + 60.0 * old_minute
        listing_rows = (rows.start or 0) + stale
        re = listing.row_expiry[listing_rows]
        strike = listing.strike[listing_rows]
        is_call = listing.is_call[listing_rows]
        spot = path.prices[old_minute]
        if self.spot_override is not None:
            spot = np.array(
                [
                    self._spot_at(i, datetime.fromtimestamp(float(e), tz=UTC), float(p))
                    for e, p in zip(old_epoch, spot, strict=True)
                ]
            )
        years = (listing.expiry_value_epoch_s[re] - old_epoch) / SECONDS_PER_YEAR
        remaining = (1.0 - OVERNIGHT_VARIANCE_SHARE) * (1.0 - path.cum_variance[old_minute])
        tau = (listing.expiry_sessions_ahead[re] + remaining) / SESSIONS_PER_YEAR
        v0, v_long = self._v0_and_long(i, t.row, path.iv_shock[old_minute])
        w = total_variance(v0, v_long, tau, book.event_variance[re])
        r, q = self.config.risk_free_rate, spec.dividend_yield
        years, sigma, z = strike_vols_grouped(
            spot_usd=spot,
            strike_usd=strike,
            row_group=np.arange(len(stale), dtype=np.int64),
            group_years=years,
            group_total_var=w,
            rate=r,
            dividend_yield=q,
            skew=spec.skew,
            smile=spec.smile,
        )
        old = make_quotes(
            price=bs_price(spot, strike, years, r, q, sigma, is_call),
            spot_usd=spot,
            strike_usd=strike,
            is_call=is_call,
            z=z,
            years=years,
            contract_id=listing.contract_id[listing_rows],
            minute_key=0,
            tier=spec.tier,
            width_mult=self._width_mult(t),
            bad_quote_rate=0.0,
        )
        bid[stale] = old.bid
        ask[stale] = old.ask
        quote_time[stale] = old_epoch

    # ------------------------------------------------------------------ chains

    def option_chain(
        self, underlying: str, at: datetime, *, min_expiry: date, max_expiry: date
    ) -> OptionChain:
        """All live contracts of ``underlying`` with expiry in ``[min_expiry, max_expiry]``,
        quoted at ``at``'s minute."""
        i = self._index(underlying)
        t = self.locate(at)
        book = self._day_book(i, t.row)
        listing = book.listing
        wanted = listing.rows_between(min_expiry, max_expiry)
        parts: list[tuple[QuoteBlock, slice]] = []
        if wanted.start < book.near_end:
            block = self._block(i, t, book, 0)
            parts.append((block, slice(wanted.start, min(wanted.stop, book.near_end))))
        if wanted.stop > book.near_end:
            block = self._block(i, t, book, 1)
            parts.append(
                (
                    block,
                    slice(
                        max(wanted.start, book.near_end) - book.near_end,
                        wanted.stop - book.near_end,
                    ),
                )
            )
        columns: dict[str, list[npt.NDArray[np.generic]]] = {}
        names = (
            "bid", "ask", "last", "bid_size", "ask_size", "volume", "open_interest",
            "quote_time_s", "vendor_iv", "vendor_delta", "vendor_gamma", "vendor_theta",
            "vendor_vega",
        )  # fmt: skip
        for block, local in parts:
            alive = block.alive[local]
            listing_rows = slice(block.start + (local.start or 0), block.start + (local.stop or 0))
            # copies either way (the blocks are cached); a slice copy is much cheaper
            mask = None if alive.all() else alive

            def pick(
                a: npt.NDArray[np.generic], m: BoolArray | None = mask
            ) -> npt.NDArray[np.generic]:
                return a.copy() if m is None else a[m]

            columns.setdefault("symbol", []).append(pick(listing.symbol[listing_rows]))
            columns.setdefault("expiry", []).append(pick(listing.expiry[listing_rows]))
            columns.setdefault("strike", []).append(pick(listing.strike[listing_rows]))
            columns.setdefault("is_call", []).append(pick(listing.is_call[listing_rows]))
            for name in names:
                columns.setdefault(name, []).append(pick(getattr(block, name)[local]))

        def col(name: str, dtype: npt.DTypeLike) -> npt.NDArray[np.generic]:
            pieces = columns.get(name)
            if not pieces:
                return np.zeros(0, dtype=dtype)
            return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

        return OptionChain(
            underlying=underlying,
            as_of=t.quote_at,
            symbol=col("symbol", np.str_),  # type: ignore[arg-type]
            expiry=col("expiry", "datetime64[D]"),  # type: ignore[arg-type]
            strike=col("strike", np.float64),  # type: ignore[arg-type]
            is_call=col("is_call", np.bool_),  # type: ignore[arg-type]
            **{name: col(name, np.float64) for name in names},  # type: ignore[arg-type]
        )

    def top_of_book(self, symbols: Sequence[str], at: datetime) -> dict[str, TopOfBook]:
        """Quotes for stock and OCC option symbols at ``at``'s minute; symbols not listed at
        that minute (unknown, not listed, expired) are absent."""
        t = self.locate(at)
        out: dict[str, TopOfBook] = {}
        for symbol in symbols:
            if is_option_symbol(symbol):
                quote = self._option_top(symbol, t)
            else:
                quote = self._stock_top(symbol, t)
            if quote is not None:
                out[symbol] = quote
        return out

    def _stock_top(self, symbol: str, t: MarketTime) -> TopOfBook | None:
        i = self.universe.index_of.get(symbol)
        if i is None:
            return None
        spec = self.universe.specs[i]
        price = self._spot_at(i, t.quote_at, float(self.paths.intraday(t.row, i).prices[t.minute]))
        bid, ask = stock_quote(spec.tier, price, self._width_mult(t))
        lo, hi = _STOCK_LOT_SIZES[int(spec.tier)]
        h = combine(
            np.array([stable_hash64("stock", symbol)], dtype=np.uint64), int(t.quote_epoch_s // 60)
        )
        u = hash_uniform(h)[0]
        size = float(round((lo + (hi - lo) * u) / 100.0) * 100.0)
        return TopOfBook(bid=bid, ask=ask, bid_size=size, ask_size=size, quoted_at=t.quote_at)

    def _option_top(self, symbol: str, t: MarketTime) -> TopOfBook | None:
        try:
            contract = parse_occ(symbol)
        except DataError:
            return None
        i = self.universe.index_of.get(contract.underlying)
        if i is None:
            return None
        book = self._day_book(i, t.row)
        row = book.listing.row_of(symbol)
        if row is None:
            return None
        which = 0 if row < book.near_end else 1
        block = self._block(i, t, book, which)
        k = row - block.start
        if not block.alive[k]:
            return None
        return TopOfBook(
            bid=float(block.bid[k]),
            ask=float(block.ask[k]),
            bid_size=float(block.bid_size[k]),
            ask_size=float(block.ask_size[k]),
            quoted_at=datetime.fromtimestamp(float(block.quote_time_s[k]), tz=UTC),
        )
