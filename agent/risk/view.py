"""The risk view: one frozen value with everything `optagent status` and the dashboard show.

Percentages are 0-100. ``used_pct`` is how much of a limit is used (100 = at the limit);
it is None where a limit has no meaningful share (no equity yet, a zero limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from agent.domain import TradingState

__all__ = [
    "BreakerLine",
    "ExposureLine",
    "GreekLine",
    "LimitUsage",
    "RiskView",
    "StressLine",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitUsage:
    """One limit: the book's current value against it (``unit``: usd, count, shares, ...)."""

    rule: str
    value: float
    limit: float
    used_pct: float | None
    unit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExposureLine:
    """Heat (total max loss, USD) of one symbol or sector."""

    name: str
    positions: int
    max_loss_usd: Decimal
    pct_of_equity: float | None
    used_pct_of_limit: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GreekLine:
    """A book greek against its budget (delta/gamma in SPY shares; vega USD per vol point;
    theta USD/day, whose budget is a floor)."""

    name: str
    value: float
    budget: float
    used_pct: float | None
    within: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StressLine:
    scenario: str
    pnl_usd: float
    """Negative = loss."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerLine:
    name: str
    state: TradingState
    reason: str
    since: datetime
    clears: str
    clear_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskView:
    """Exposure, limits used, greeks against budgets, stress and the trading state."""

    as_of: datetime
    state: TradingState
    state_reason: str
    state_since: datetime
    flatten_requested: bool
    flatten_reason: str
    breakers: tuple[BreakerLine, ...]

    account_as_of: datetime | None
    equity_usd: Decimal | None
    start_of_day_equity_usd: Decimal | None
    options_buying_power_usd: Decimal | None
    reserved_capital_usd: Decimal
    daily_pnl_usd: Decimal | None
    """equity − last_equity (realised + unrealised today)."""
    daily_loss_limit_usd: Decimal | None
    daily_loss_used_pct: float | None
    realized_pnl_today_usd: Decimal

    trades_today: int
    open_trades: int
    approvals_in_flight: int
    heat_usd: Decimal
    heat_pct_of_equity: float | None
    by_symbol: tuple[ExposureLine, ...]
    by_sector: tuple[ExposureLine, ...]
    limits: tuple[LimitUsage, ...]

    greeks: tuple[GreekLine, ...]
    reference_spot_usd: float | None
    """The SPY price used for beta-weighting (None: not seen yet, ratio 1 assumed)."""
    stress: tuple[StressLine, ...]
    worst_stress_loss_usd: float
    worst_stress_scenario: str
    stress_limit_usd: float | None

    marks_as_of: datetime | None
    stale_trade_ids: tuple[str, ...]
    peak_equity_usd: Decimal | None
    drawdown_pct: float | None
    consecutive_losses: int
    broker_errors_today: int
    day_trades_5d: int

    def lines(self) -> list[str]:
        """A plain-text rendering for the terminal."""

        def usd(value: Decimal | float | None) -> str:
            return "n/a" if value is None else f"${float(value):,.2f}"

        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1f}%"

        out = [
            f"trading state: {self.state.value.upper()} since {self.state_since:%Y-%m-%d %H:%M} UTC"
            + (f" — {self.state_reason}" if self.state_reason else ""),
        ]
        if self.flatten_requested:
            out.append(f"FLATTEN REQUESTED: {self.flatten_reason}")
        out.extend(
            f"  breaker {b.name}: {b.state.value}, clears {b.clears}"
            + (f" at {b.clear_at:%Y-%m-%d %H:%M} UTC" if b.clear_at else "")
            + f" — {b.reason}"
            for b in self.breakers
        )
        out.append(
            f"equity {usd(self.equity_usd)} (start of day {usd(self.start_of_day_equity_usd)}), "
            f"day P&L {usd(self.daily_pnl_usd)} of limit {usd(self.daily_loss_limit_usd)} "
            f"({pct(self.daily_loss_used_pct)} used), realised today "
            f"{usd(self.realized_pnl_today_usd)}"
        )
        out.append(
            f"trades today {self.trades_today}, open trades {self.open_trades}, approvals in "
            f"flight {self.approvals_in_flight}, heat {usd(self.heat_usd)} "
            f"({pct(self.heat_pct_of_equity)} of equity)"
        )
        out.append("limits used:")
        out.extend(
            f"  {u.rule}: {u.value:,.2f} / {u.limit:,.2f} {u.unit} ({pct(u.used_pct)})"
            for u in self.limits
        )
        if self.by_symbol:
            out.append("by symbol:")
            out.extend(
                f"  {line.name}: {line.positions} position(s), {usd(line.max_loss_usd)} "
                f"({pct(line.pct_of_equity)} of equity, {pct(line.used_pct_of_limit)} of limit)"
                for line in self.by_symbol
            )
        if self.by_sector:
            out.append("by sector:")
            out.extend(
                f"  {line.name}: {usd(line.max_loss_usd)} ({pct(line.used_pct_of_limit)} of limit)"
                for line in self.by_sector
            )
        out.append("greeks vs budgets:")
        out.extend(
            f"  {g.name}: {g.value:,.2f} / {g.budget:,.2f} ({pct(g.used_pct)})"
            + ("" if g.within else " OVER")
            for g in self.greeks
        )
        out.append(
            f"stress: worst loss {usd(self.worst_stress_loss_usd)} ({self.worst_stress_scenario})"
            f" vs limit {usd(self.stress_limit_usd)}"
        )
        if self.stale_trade_ids:
            out.append(f"stale marks: {', '.join(self.stale_trade_ids)}")
        out.append(
            f"peak equity {usd(self.peak_equity_usd)}, drawdown {pct(self.drawdown_pct)}, "
            f"consecutive losses {self.consecutive_losses}, broker errors today "
            f"{self.broker_errors_today}, day trades (5 sessions) {self.day_trades_5d}"
        )
        return out
