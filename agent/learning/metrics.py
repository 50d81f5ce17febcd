"""Performance metrics over closed trades.

Returns are daily: realised P&L summed by close date (ET) divided by the equity base.
Sharpe = mean / stdev × √252; Sortino = mean / downside deviation × √252 (downside
deviation over all days, counting positive days as 0). Max drawdown is measured on the
cumulative realised P&L curve in trade-close order (USD). Undefined ratios are None.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

from agent.calendar import ET
from agent.domain import PerformanceMetrics, Trade, TradeStatus

TRADING_DAYS_PER_YEAR = 252


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _daily_returns(trades: Sequence[Trade], equity_base_usd: float) -> list[float]:
    by_day: dict[date, float] = defaultdict(float)
    for trade in trades:
        assert trade.closed_at is not None
        by_day[trade.closed_at.astimezone(ET).date()] += float(trade.realized_pnl)
    return [by_day[d] / equity_base_usd for d in sorted(by_day)] if equity_base_usd > 0 else []


def sharpe_and_sortino(returns: Sequence[float]) -> tuple[float | None, float | None]:
    if len(returns) < 2:
        return None, None
    mean = sum(returns) / len(returns)
    variance = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    scale = math.sqrt(TRADING_DAYS_PER_YEAR)
    sharpe = mean / math.sqrt(variance) * scale if variance > 0 else None
    sortino = mean / downside * scale if downside > 0 else None
    return sharpe, sortino


def max_drawdown_usd(pnls: Sequence[float]) -> float:
    peak = cumulative = worst = 0.0
    for pnl in pnls:
        cumulative += pnl
        peak = max(peak, cumulative)
        worst = max(worst, peak - cumulative)
    return worst


def _summary(trades: Sequence[Trade]) -> dict[str, float | int | None]:
    pnls = [float(t.realized_pnl) for t in trades]
    gross_profit = sum(p for p in pnls if p > 0)
    gross_loss = -sum(p for p in pnls if p < 0)
    return {
        "trades": len(pnls),
        "total_pnl": sum(pnls),
        "win_rate": _ratio(sum(1 for p in pnls if p > 0), len(pnls)),
        "avg_pnl": _ratio(sum(pnls), len(pnls)),
        "profit_factor": _ratio(gross_profit, gross_loss),
    }


def compute_metrics(
    trades: Sequence[Trade],
    *,
    period_type: str,
    period_start: date,
    period_end: date,
    computed_at: datetime,
    equity_base_usd: float,
    error_counts: Mapping[str, int] | None = None,
) -> PerformanceMetrics:
    """Metrics of the trades closed in ``[period_start, period_end]`` (ET dates)."""
    closed = sorted(
        (
            t
            for t in trades
            if t.status is TradeStatus.CLOSED
            and t.closed_at is not None
            and period_start <= t.closed_at.astimezone(ET).date() <= period_end
        ),
        key=lambda t: (t.closed_at, t.trade_id),
    )
    summary = _summary(closed)
    sharpe, sortino = sharpe_and_sortino(_daily_returns(closed, equity_base_usd))
    by_strategy: dict[str, list[Trade]] = defaultdict(list)
    for trade in closed:
        by_strategy[trade.strategy.value].append(trade)
    return PerformanceMetrics(
        period_type=period_type,
        period_start=period_start,
        period_end=period_end,
        computed_at=computed_at,
        trades=len(closed),
        total_pnl=sum((t.realized_pnl for t in closed), Decimal(0)),
        win_rate=_as_float(summary["win_rate"]),
        profit_factor=_as_float(summary["profit_factor"]),
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown_usd=Decimal(
            str(round(max_drawdown_usd([float(t.realized_pnl) for t in closed]), 2))
        ),
        per_strategy={name: _summary(group) for name, group in sorted(by_strategy.items())},
        error_counts=dict(error_counts or {}),
    )


def _as_float(value: float | int | None) -> float | None:
    return None if value is None else float(value)
