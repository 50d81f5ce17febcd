"""Hand-built option chains priced with our own kernels, so every delta is known exactly.

Quotes are symmetric around the model price (bid = p(1 - h), ask = p(1 + h)), so the mid is
the model price, the implied vol from the mid is the vol we chose and the greeks match
``bs_greeks`` at that vol. ``iv_for_delta`` picks the vol that gives a contract an exact
delta, to put it just inside or just outside a band.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from agent.calendar import ET
from agent.config import AgentSettings, load_settings
from agent.domain import (
    Greeks,
    LegMark,
    MarketContext,
    MarketEvent,
    OptionChain,
    OptionRight,
    ScanInput,
    Side,
    StructureKind,
    Trade,
    TradeMark,
    TradeStatus,
    UnderlyingSnapshot,
    format_occ,
)
from agent.pricing.bsm import bs_greeks, bs_price
from agent.pricing.chain import EnrichedChain, enrich_chain, time_to_expiry_years
from agent.strategies.base import StrategyContext

AS_OF = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
"""Monday 2 March 2026, 10:00 New York time (a regular session)."""
TODAY = AS_OF.astimezone(ET).date()
RATE = 0.04
DTES = (10, 24, 31, 38, 45, 52)

Key = tuple[int, float, bool]
"""(dte, strike, is_call)"""


def expiry_for(dte: int, as_of: datetime = AS_OF) -> date:
    return as_of.astimezone(ET).date() + timedelta(days=dte)


def years_for(dte: int, as_of: datetime = AS_OF) -> float:
    return time_to_expiry_years(as_of, expiry_for(dte, as_of))


def delta_of(
    spot: float, strike: float, dte: int, iv: float, is_call: bool, *, q: float = 0.0
) -> float:
    return float(bs_greeks(spot, strike, years_for(dte), RATE, q, iv, is_call).delta)


def iv_for_delta(
    spot: float, strike: float, dte: int, target: float, is_call: bool, *, q: float = 0.0
) -> float:
    """The vol at which this out-of-the-money contract has exactly ``target`` delta.

    |delta| of an OTM option first rises with vol, then falls (d1 -> +inf as vol -> inf), so
    the bisection runs on the rising part, below the vol of the largest |delta|.
    """
    grid = np.linspace(0.01, 3.0, 300)
    peak = float(grid[np.argmax([abs(delta_of(spot, strike, dte, v, is_call, q=q)) for v in grid])])
    lo, hi = 0.01, peak
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if abs(delta_of(spot, strike, dte, mid, is_call, q=q)) < abs(target):
            lo = mid
        else:
            hi = mid
    vol = 0.5 * (lo + hi)
    assert abs(delta_of(spot, strike, dte, vol, is_call, q=q) - target) < 1e-9, (strike, target)
    return vol


@dataclass
class ChainSpec:
    underlying: str = "XYZ"
    spot: float = 100.0
    as_of: datetime = AS_OF
    dtes: Iterable[int] = DTES
    strikes: Iterable[float] = field(default_factory=lambda: np.arange(60.0, 141.0, 1.0))
    iv: float | Callable[[float, int, bool], float] = 0.30
    dividend_yield: float = 0.0
    half_spread: float = 0.02
    """Half the bid-ask spread as a share of the price (0.02: a 4 % spread)."""
    open_interest: float = 1000.0
    volume: float = 500.0
    quote_age_s: float = 5.0
    ivs: Mapping[Key, float] = field(default_factory=dict)
    """Per-contract vol overrides."""
    quotes: Mapping[Key, tuple[float, float]] = field(default_factory=dict)
    """Per-contract (bid, ask) overrides."""
    extra: Mapping[Key, Mapping[str, float]] = field(default_factory=dict)
    """Per-contract column overrides (open_interest, volume, quote_time_s)."""
    drop: Iterable[Key] = ()
    """Contracts not listed."""


def build_chain(spec: ChainSpec | None = None, **changes: Any) -> OptionChain:
    spec = spec or ChainSpec()
    for name, value in changes.items():
        setattr(spec, name, value)
    dropped = {(d, round(k, 3), c) for d, k, c in spec.drop}
    rows: dict[str, list[Any]] = {
        k: []
        for k in (
            "symbol",
            "expiry",
            "strike",
            "is_call",
            "bid",
            "ask",
            "volume",
            "open_interest",
            "quote_time_s",
        )
    }
    quote_time = spec.as_of.timestamp() - spec.quote_age_s
    for dte in spec.dtes:
        expiry = expiry_for(dte, spec.as_of)
        T = time_to_expiry_years(spec.as_of, expiry)
        for raw_strike in spec.strikes:
            strike = round(float(raw_strike), 3)
            for is_call in (False, True):
                key = (dte, strike, is_call)
                if key in dropped:
                    continue
                iv = spec.ivs.get(key)
                if iv is None:
                    iv = spec.iv(strike, dte, is_call) if callable(spec.iv) else spec.iv
                price = float(
                    bs_price(spec.spot, strike, T, RATE, spec.dividend_yield, iv, is_call)
                )
                bid, ask = spec.quotes.get(
                    key, (price * (1 - spec.half_spread), price * (1 + spec.half_spread))
                )
                right = OptionRight.CALL if is_call else OptionRight.PUT
                extra = spec.extra.get(key, {})
                rows["symbol"].append(
                    format_occ(spec.underlying, expiry, right, Decimal(str(strike)))
                )
                rows["expiry"].append(np.datetime64(expiry, "D"))
                rows["strike"].append(strike)
                rows["is_call"].append(is_call)
                rows["bid"].append(bid)
                rows["ask"].append(ask)
                rows["volume"].append(extra.get("volume", spec.volume))
                rows["open_interest"].append(extra.get("open_interest", spec.open_interest))
                rows["quote_time_s"].append(extra.get("quote_time_s", quote_time))
    return OptionChain.from_columns(underlying=spec.underlying, as_of=spec.as_of, **rows)


def snapshot(
    symbol: str = "XYZ",
    price: float = 100.0,
    *,
    spread: float = 0.02,
    avg_volume: float = 5_000_000.0,
    day_volume: float = 1_000_000.0,
    as_of: datetime = AS_OF,
) -> UnderlyingSnapshot:
    return UnderlyingSnapshot(
        symbol=symbol,
        price=price,
        bid=price - spread / 2,
        ask=price + spread / 2,
        day_volume=day_volume,
        prev_close=price,
        avg_daily_volume=avg_volume,
        as_of=as_of,
    )


IV_HISTORY = tuple(0.20 + 0.20 * i / 59 for i in range(60))
"""60 days from 20 % to 40 %: a current 30 % ranks 50."""


def scan_input(
    chain: OptionChain | None = None,
    *,
    underlying: UnderlyingSnapshot | None = None,
    vol_index: float = 18.0,
    events: tuple[MarketEvent, ...] = (),
    iv_history: tuple[float, ...] = IV_HISTORY,
    history_days: int = 300,
    realized_vol: float = 0.22,
    scan_id: str = "scan-1",
    as_of: datetime = AS_OF,
    sector: str | None = "technology",
) -> ScanInput:
    chain = chain if chain is not None else build_chain()
    underlying = underlying or snapshot(chain.underlying or "XYZ", as_of=as_of)
    return ScanInput(
        scan_id=scan_id,
        as_of=as_of,
        underlying=underlying,
        chain=chain,
        context=MarketContext(as_of=as_of, vol_index=vol_index, events=events),
        iv_history=iv_history,
        history_days=history_days,
        rate=RATE,
        dividend_yield=0.0,
        realized_vol=realized_vol,
        sector=sector,
    )


# --------------------------------------------------------------------------- settings, context


def make_settings(*overrides: str) -> AgentSettings:
    """Built-in defaults plus ``section.key=value`` overrides; no files, no environment."""
    return load_settings(os.devnull, list(overrides), env_file=None, environ={})


def enrich(chain: OptionChain, spot: float = 100.0, as_of: datetime = AS_OF) -> EnrichedChain:
    return enrich_chain(chain, spot, RATE, 0.0, as_of)


def context_for(
    chain: OptionChain,
    settings: AgentSettings | None = None,
    *,
    spot: float = 100.0,
    events: tuple[MarketEvent, ...] = (),
    realized_vol: float = 0.22,
    iv_rank: float | None = 50.0,
) -> tuple[EnrichedChain, StrategyContext]:
    from agent.signals import strategy_context

    enriched = enrich(chain, spot)
    ctx = strategy_context(
        enriched,
        settings or make_settings(),
        scan_id="scan-1",
        iv_rank=iv_rank,
        realized_vol=realized_vol,
        sector="technology",
        events=events,
    )
    return enriched, ctx


def leg_delta(enriched: EnrichedChain, symbol: str) -> float:
    rows = np.flatnonzero(enriched.chain.symbol == symbol)
    assert len(rows) == 1, symbol
    return float(enriched.delta[rows[0]])


# --------------------------------------------------------------------------- trades and marks


def trade(
    strategy: StructureKind,
    *,
    credit: Decimal = Decimal("1.00"),
    qty: int = 1,
    trade_id: str = "t-1",
) -> Trade:
    return Trade(
        trade_id=trade_id,
        underlying="XYZ",
        strategy=strategy,
        status=TradeStatus.OPEN,
        qty=qty,
        opened_at=AS_OF - timedelta(days=20),
        entry_net_price=-credit,
    )


def mark(
    *,
    credit: Decimal = Decimal("1.00"),
    close_mid: Decimal = Decimal("0.80"),
    close_natural: Decimal | None = None,
    dte: int | None = 20,
    spot: float = 100.0,
    short_put: float | None = 95.0,
    short_call: float | None = None,
    max_abs_short_delta: float = 0.20,
    breached: OptionRight | None = None,
    qty: int = 1,
    expiry: date | None = None,
    legs: tuple[LegMark, ...] = (),
) -> TradeMark:
    per_unit = Decimal(100) * qty
    return TradeMark(
        trade_id="t-1",
        underlying="XYZ",
        as_of=AS_OF,
        spot=spot,
        expiry=expiry if expiry is not None else (expiry_for(dte) if dte is not None else None),
        dte=dte,
        qty=qty,
        entry_credit_usd=credit * per_unit,
        close_net_mid=close_mid,
        close_net_natural=close_natural
        if close_natural is not None
        else close_mid + Decimal("0.10"),
        unrealized_pnl_usd=(credit - close_mid) * per_unit,
        greeks=Greeks(),
        legs=legs,
        short_put_strike=short_put,
        short_call_strike=short_call,
        breached=breached,
        max_abs_short_delta=max_abs_short_delta,
    )


def leg_mark(right: OptionRight, strike: float, side: Side, delta: float, dte: int = 20) -> LegMark:
    return LegMark(
        symbol=format_occ("XYZ", expiry_for(dte), right, Decimal(str(strike))),
        side=side,
        qty=1,
        right=right,
        strike=strike,
        expiry=expiry_for(dte),
        bid=1.0,
        ask=1.1,
        mid=1.05,
        iv=0.3,
        delta=delta,
        gamma=0.0,
        theta=0.0,
        vega=0.0,
        entry_price=Decimal("1.00"),
    )
