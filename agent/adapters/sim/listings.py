"""Which option contracts are listed: expiries and strikes, following US listing conventions.

Expiries (dates from :mod:`agent.calendar`, so holiday shifts are the OCC's: a Friday that is
not a session moves to the session before it, e.g. Good Friday 2026-04-03 → 2026-04-02 and
the June 2026 monthly on Juneteenth → 2026-06-18):

- **monthly** (third Friday) for every underlying, listed ``MONTHLY_LISTING_DAYS`` ahead,
  and the quarterly months (March, June, September, December) ``QUARTERLY_LISTING_DAYS``
  ahead (the longer-dated monthlies);
- **weekly** (every other Friday) for liquid names (tiers TOP and HIGH), listed
  ``WEEKLY_LISTING_DAYS`` ahead, so every Friday within ``chain_max_dte`` (60) is there;
- **daily** (Monday to Thursday) for SPY, QQQ and IWM, listed ``DAILY_LISTING_DAYS`` ahead.

Strikes: a fine grid near the money and a coarse one further out (table
:data:`STRIKE_INCREMENTS`, by the underlying's price on the day the expiry was listed):

==================  ======  =======
reference price     inner   outer
==================  ======  =======
< $25               $0.50   $1
$25 – $100          $1      $2.50
$100 – $200         $2.50   $5
$200 – $500         $5      $10     ($2.50 inner for liquid names)
≥ $500              $5      $10
SPY QQQ IWM DIA     $1      $5
==================  ======  =======

The strike range of an expiry on a day is the union of the ranges around the previous close
of every session since the expiry was listed: a contract, once listed, stays listed until it
expires (open positions stay quotable), and strikes are added as the underlying moves. The
range widens with time to expiry (``inner_range``/``outer_range``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from agent.adapters.sim.market_rng import U64Array, combine, mix64, stable_hash64
from agent.adapters.sim.universe import LiquidityTier, UnderlyingSpec
from agent.calendar import ET, REGULAR_CLOSE_ET, MarketCalendar

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MONTHLY_LISTING_DAYS = 120
QUARTERLY_LISTING_DAYS = 270
QUARTERLY_MONTHS = frozenset({3, 6, 9, 12})
WEEKLY_LISTING_DAYS = 63
DAILY_LISTING_DAYS = 14

STRIKE_INCREMENTS: tuple[tuple[float, float, float], ...] = (
    # (reference price below, inner increment, outer increment)
    (25.0, 0.5, 1.0),
    (100.0, 1.0, 2.5),
    (200.0, 2.5, 5.0),
    (math.inf, 5.0, 10.0),
)
BROAD_ETF_INCREMENTS = (1.0, 5.0)
LIQUID_MID_PRICE_INCREMENTS = (2.5, 10.0)
"""Tiers TOP/HIGH between $200 and $500 get $2.50 strikes near the money."""


class ExpiryKind(StrEnum):
    MONTHLY = "monthly"
    WEEKLY = "weekly"
    DAILY = "daily"


@dataclass(frozen=True, slots=True)
class ExpirySeries:
    """One expiry of an underlying and the first session it was listed on."""

    expiry: date
    kind: ExpiryKind
    listed_on: date


def strike_increments(spec: UnderlyingSpec, reference_price_usd: float) -> tuple[float, float]:
    """(inner, outer) strike increments in USD for an expiry listed at this price."""
    if spec.is_broad_etf:
        return BROAD_ETF_INCREMENTS
    if spec.tier <= LiquidityTier.HIGH and 200.0 <= reference_price_usd < 500.0:
        return LIQUID_MID_PRICE_INCREMENTS
    for below, inner, outer in STRIKE_INCREMENTS:
        if reference_price_usd < below:
            return inner, outer
    raise AssertionError("unreachable: the table ends with infinity")


def inner_range(vol: float, years: FloatArray) -> FloatArray:
    """Half-width of the fine-strike band as a fraction of spot (at most 20 %)."""
    return np.minimum(0.02 + 0.6 * vol * np.sqrt(years), 0.2)


def outer_range(vol: float, years: FloatArray) -> FloatArray:
    """Half-width of the listed strike range as a fraction of spot (at most 50 %)."""
    return np.minimum(0.05 + 1.8 * vol * np.sqrt(years), 0.5)


def listed_expiries(
    spec: UnderlyingSpec, day: date, calendar: MarketCalendar
) -> list[ExpirySeries]:
    """Expiries of ``spec`` listed on session ``day`` (including one expiring that day)."""
    found: dict[date, ExpiryKind] = {}
    for expiry in calendar.monthly_expiries(day, day + timedelta(days=QUARTERLY_LISTING_DAYS)):
        if (expiry - day).days <= MONTHLY_LISTING_DAYS or expiry.month in QUARTERLY_MONTHS:
            found[expiry] = ExpiryKind.MONTHLY
    if spec.has_weeklies:
        for expiry in calendar.weekly_expiries(day, day + timedelta(days=WEEKLY_LISTING_DAYS)):
            found.setdefault(expiry, ExpiryKind.WEEKLY)
    if spec.has_dailies:
        for session in calendar.sessions_between(day, day + timedelta(days=DAILY_LISTING_DAYS)):
            found.setdefault(session, ExpiryKind.DAILY)
    return [
        ExpirySeries(
            expiry=expiry,
            kind=kind,
            listed_on=min(
                day,
                calendar.next_session(
                    expiry - timedelta(days=listing_window_days(expiry, kind)), inclusive=True
                ),
            ),
        )
        for expiry, kind in sorted(found.items())
    ]


def listing_window_days(expiry: date, kind: ExpiryKind) -> int:
    """How many calendar days before its date an expiry is listed."""
    if kind is ExpiryKind.MONTHLY:
        return QUARTERLY_LISTING_DAYS if expiry.month in QUARTERLY_MONTHS else MONTHLY_LISTING_DAYS
    return WEEKLY_LISTING_DAYS if kind is ExpiryKind.WEEKLY else DAILY_LISTING_DAYS


def strikes_for_expiry(
    spec: UnderlyingSpec,
    expiry: date,
    session_days: list[date],
    prev_closes_usd: FloatArray,
) -> FloatArray:
    """Listed strikes of one expiry, ascending.

    ``session_days`` are the sessions from the listing day to today and ``prev_closes_usd``
    the close before each of them; the first one sets the increments.
    """
    inner_inc, outer_inc = strike_increments(spec, float(prev_closes_usd[0]))
    years = np.array([(expiry - d).days + 1.0 for d in session_days]) / 365.0
    f_in = inner_range(spec.vol, years)
    f_out = outer_range(spec.vol, years)
    lo_out = float(np.min(prev_closes_usd * (1.0 - f_out)))
    hi_out = float(np.max(prev_closes_usd * (1.0 + f_out)))
    lo_in = float(np.min(prev_closes_usd * (1.0 - f_in)))
    hi_in = float(np.max(prev_closes_usd * (1.0 + f_in)))
    outer = np.arange(max(1, math.ceil(lo_out / outer_inc)), math.floor(hi_out / outer_inc) + 1)
    inner = np.arange(max(1, math.ceil(lo_in / inner_inc)), math.floor(hi_in / inner_inc) + 1)
    outer_strikes = outer * outer_inc
    # the coarse grid only outside the fine band, so spacing near the money is uniform
    outer_strikes = outer_strikes[(outer_strikes < lo_in) | (outer_strikes > hi_in)]
    strikes = np.union1d(outer_strikes, inner * inner_inc)
    # round away binary noise so OCC milli-dollar strikes are exact
    return np.asarray(np.round(strikes.astype(np.float64), 3), dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class Listing:
    """Every contract of one underlying listed on one session, as numpy columns.

    Rows are sorted by expiry, then right (calls first), then strike: the order of their OCC
    symbols. ``expiry_start[e]:expiry_start[e + 1]`` are the rows of ``expiries[e]``.
    """

    underlying: str
    day: date
    expiries: tuple[ExpirySeries, ...]
    expiry_start: IntArray
    expiry_value_epoch_s: FloatArray
    """Per expiry: 16:00 ET on the expiry date (the pricing convention), epoch seconds."""
    expiry_end_epoch_s: FloatArray
    """Per expiry: when the contracts stop trading (that session's close), epoch seconds."""
    expiry_sessions_ahead: IntArray
    """Per expiry: sessions strictly after ``day`` up to and including the expiry."""
    expiry_is_monthly: BoolArray
    row_expiry: IntArray
    """Per row: index into ``expiries``."""
    expiry: npt.NDArray[np.datetime64]
    strike: FloatArray
    is_call: BoolArray
    contract_id: U64Array
    symbol: npt.NDArray[np.str_]
    _row_of: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.strike)

    def row_of(self, symbol: str) -> int | None:
        """The row of an OCC symbol (Alpaca's unpadded form), or None if not listed."""
        if not self._row_of and len(self.symbol):
            self._row_of.update({s: i for i, s in enumerate(self.symbol.tolist())})
        return self._row_of.get(symbol)

    def rows_between(self, min_expiry: date, max_expiry: date) -> slice:
        """The contiguous rows whose expiry lies in ``[min_expiry, max_expiry]``."""
        first = next(
            (e for e, s in enumerate(self.expiries) if s.expiry >= min_expiry), len(self.expiries)
        )
        last = next(
            (e for e, s in enumerate(self.expiries) if s.expiry > max_expiry), len(self.expiries)
        )
        last = max(last, first)
        return slice(int(self.expiry_start[first]), int(self.expiry_start[last]))


def _epoch(at: datetime) -> float:
    return at.timestamp()


def build_listing(
    spec: UnderlyingSpec,
    day: date,
    calendar: MarketCalendar,
    prev_closes: Callable[[date, date], tuple[list[date], FloatArray]],
) -> Listing:
    """The listing of ``spec`` on session ``day``.

    ``prev_closes(first, last)`` returns the sessions from ``first`` to ``last`` (clipped to
    the simulated history) and the close before each of them.
    """
    series = listed_expiries(spec, day, calendar)
    root_hash = np.uint64(stable_hash64("contract", spec.symbol))
    earliest = min((s.listed_on for s in series), default=day)
    all_days, all_closes = prev_closes(earliest, day)
    strikes_per: list[FloatArray] = []
    for s in series:
        start = bisect.bisect_left(all_days, s.listed_on)
        start = min(start, len(all_days) - 1)
        strikes_per.append(strikes_for_expiry(spec, s.expiry, all_days[start:], all_closes[start:]))

    counts = np.array([2 * len(k) for k in strikes_per], dtype=np.int64)
    expiry_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n = int(expiry_start[-1])
    row_expiry = np.repeat(np.arange(len(series), dtype=np.int64), counts)
    strike = (
        np.concatenate([np.concatenate([k, k]) for k in strikes_per]) if series else np.zeros(0)
    )
    is_call = (
        np.concatenate(
            [
                np.concatenate([np.ones(len(k), np.bool_), np.zeros(len(k), np.bool_)])
                for k in strikes_per
            ]
        )
        if series
        else np.zeros(0, np.bool_)
    )
    expiry_dates = np.array([s.expiry for s in series], dtype="datetime64[D]")
    expiry_col = expiry_dates[row_expiry] if n else np.zeros(0, dtype="datetime64[D]")
    milli = np.round(strike * 1000.0).astype(np.int64)
    ordinals = np.array([s.expiry.toordinal() for s in series], dtype=np.uint64)
    contract_id = combine(
        combine(
            combine(np.full(n, root_hash, dtype=np.uint64), ordinals[row_expiry]),
            milli.astype(np.uint64),
        ),
        is_call.astype(np.uint64),
    )
    prefixes = [f"{spec.symbol}{s.expiry:%y%m%d}" for s in series]
    symbols = [
        f"{prefixes[e]}{'C' if c else 'P'}{m:08d}"
        for e, c, m in zip(row_expiry.tolist(), is_call.tolist(), milli.tolist(), strict=True)
    ]
    value_at = [datetime.combine(s.expiry, REGULAR_CLOSE_ET, ET) for s in series]
    end_at = [calendar.expiry_close(s.expiry) for s in series]
    return Listing(
        underlying=spec.symbol,
        day=day,
        expiries=tuple(series),
        expiry_start=expiry_start,
        expiry_value_epoch_s=np.array([_epoch(v) for v in value_at], dtype=np.float64),
        expiry_end_epoch_s=np.array([_epoch(v) for v in end_at], dtype=np.float64),
        expiry_sessions_ahead=np.array(
            [calendar.trading_days_between(day, s.expiry) for s in series], dtype=np.int64
        ),
        expiry_is_monthly=np.array([s.kind is ExpiryKind.MONTHLY for s in series], dtype=np.bool_),
        row_expiry=row_expiry,
        expiry=expiry_col,
        strike=strike.astype(np.float64),
        is_call=is_call,
        contract_id=mix64(contract_id),
        symbol=np.array(symbols, dtype=np.str_),
    )
