"""Per-underlying (universe) filters: each returns one :class:`Reason` with value and limit.

Every rule is evaluated (no short-circuit) so the UNIVERSE record of a symbol always shows
the full picture. Unknown inputs fail safe, except the IV rank, which follows
``universe.iv_rank_unknown``:

- underlying price NaN or <= 0: fails ``price_band``;
- underlying spread unknown (no usable bid/ask): fails ``underlying_spread``;
- volatility index unknown (NaN): fails ``vol_index`` (no new entries while the market's
  regime cannot be judged);
- stock volume: the average daily volume, else today's volume; both unknown: fails.

Earnings are checked per candidate expiry by the strategies; here they are only reported.
"""

from __future__ import annotations

import math
from datetime import date

from agent.config import UniverseSettings
from agent.domain import MarketEvent, MarketEventKind, Reason, UnderlyingSnapshot
from agent.pricing.ivrank import IvRankResult, IvRankStatus
from agent.strategies.records import fmt


def price_band(symbol: str, price: float, settings: UniverseSettings) -> Reason:
    low, high = settings.min_underlying_price_usd, settings.max_underlying_price_usd
    limit = f"[{fmt(low)}, {fmt(high)}]"
    if not (math.isfinite(price) and price > 0.0):
        return Reason(
            rule="price_band", passed=False, value=None, limit=limit, message="no usable price"
        )
    if price < low:
        return Reason(
            rule="price_band",
            passed=False,
            value=price,
            limit=limit,
            message=f"price {fmt(price)} below the minimum {fmt(low)}",
        )
    if price > high:
        exempt = symbol in settings.price_cap_exempt
        return Reason(
            rule="price_band",
            passed=exempt,
            value=price,
            limit=limit,
            message=(
                f"price {fmt(price)} above the cap {fmt(high)}"
                + (" (exempt: price_cap_exempt)" if exempt else "")
            ),
        )
    return Reason(rule="price_band", passed=True, value=price, limit=limit)


def stock_volume(snapshot: UnderlyingSnapshot, settings: UniverseSettings) -> Reason:
    limit = settings.min_stock_volume
    avg = snapshot.avg_daily_volume
    if math.isfinite(avg) and avg > 0.0:
        volume, source = avg, "average daily volume"
    elif math.isfinite(snapshot.day_volume) and snapshot.day_volume >= 0.0:
        volume, source = snapshot.day_volume, "today's volume (no average known)"
    else:
        return Reason(
            rule="stock_volume", passed=False, limit=limit, message="share volume unknown"
        )
    return Reason(
        rule="stock_volume",
        passed=volume >= limit,
        value=volume,
        limit=limit,
        message=f"{source} {volume:,.0f} shares",
    )


def underlying_spread(snapshot: UnderlyingSnapshot, settings: UniverseSettings) -> Reason:
    spread = snapshot.spread_pct
    limit = settings.max_underlying_spread_pct
    if not math.isfinite(spread):
        return Reason(
            rule="underlying_spread",
            passed=False,
            limit=limit,
            message="no usable underlying bid/ask",
        )
    return Reason(
        rule="underlying_spread",
        passed=spread <= limit + 1e-9,  # float rounding at exactly the limit
        value=round(spread, 4),
        limit=limit,
        message=f"bid {fmt(snapshot.bid)} ask {fmt(snapshot.ask)}: {spread:.3f}% of mid",
    )


def iv_rank_filter(result: IvRankResult, settings: UniverseSettings, min_days: int) -> Reason:
    limit = settings.min_iv_rank
    if result.status is IvRankStatus.OK and result.rank is not None:
        return Reason(
            rule="iv_rank",
            passed=result.rank >= limit,
            value=round(result.rank, 2),
            limit=limit,
            message=(
                f"IV rank {result.rank:.1f} (percentile {result.percentile or 0.0:.1f}) "
                f"over {result.days} days"
            ),
        )
    allow = settings.iv_rank_unknown == "allow"
    if result.status is IvRankStatus.WARMING_UP:
        why = f"warming up: {result.days} of {min_days} days of IV history"
    else:
        why = "no current ATM IV from this chain"
    return Reason(
        rule="iv_rank",
        passed=allow,
        value=None,
        limit=limit,
        message=f"IV rank unknown ({why}); iv_rank_unknown={settings.iv_rank_unknown}",
    )


def fomc_blackout(
    events: tuple[MarketEvent, ...], today: date, settings: UniverseSettings
) -> Reason:
    fomc_today = any(e.kind is MarketEventKind.FOMC and e.on == today for e in events)
    if not fomc_today:
        return Reason(rule="fomc_blackout", passed=True, message=f"no FOMC announcement on {today}")
    return Reason(
        rule="fomc_blackout",
        passed=not settings.fomc_blackout,
        value=today.isoformat(),
        message="FOMC announcement today: no new entries"
        + ("" if settings.fomc_blackout else " (blackout disabled)"),
    )


def next_earnings(events: tuple[MarketEvent, ...], symbol: str, today: date) -> date | None:
    days = [
        e.on
        for e in events
        if e.kind is MarketEventKind.EARNINGS and e.symbol == symbol and e.on >= today
    ]
    return min(days) if days else None


def earnings_notice(events: tuple[MarketEvent, ...], symbol: str, today: date) -> Reason:
    """Informational: the next earnings date (the blackout is applied per expiry)."""
    day = next_earnings(events, symbol, today)
    return Reason(
        rule="earnings_blackout",
        passed=True,
        value=None if day is None else day.isoformat(),
        message=(
            "no earnings scheduled"
            if day is None
            else f"next earnings {day}: expiries on or after it are blacked out"
        ),
    )


def vol_regime(vol_index: float, settings: UniverseSettings) -> Reason:
    limit = settings.max_vol_index
    if not math.isfinite(vol_index):
        return Reason(
            rule="vol_index",
            passed=False,
            value=None,
            limit=limit,
            message="volatility index unknown: no new entries (fail safe)",
        )
    return Reason(
        rule="vol_index",
        passed=vol_index <= limit,
        value=round(vol_index, 2),
        limit=limit,
        message=f"volatility index {vol_index:.2f}",
    )


def history(days: int, settings: UniverseSettings) -> Reason:
    return Reason(
        rule="min_history",
        passed=days >= settings.min_history_days,
        value=days,
        limit=settings.min_history_days,
        message=f"{days} daily bars of history",
    )


def option_chain(contracts: int) -> Reason:
    return Reason(
        rule="option_chain",
        passed=contracts > 0,
        value=contracts,
        limit=1,
        message=f"{contracts} contracts quoted" if contracts else "empty option chain",
    )
