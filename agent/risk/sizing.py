"""Position sizing: how many units risk would like, before the limits cap it.

Two methods (``risk.sizing_method``); both size on the candidate's **max loss per unit**
(the most one unit can lose: width × 100 − credit for a spread or condor side, strike × 100
− premium for a cash-secured put):

**Fixed-fractional** (default): risk ``risk_per_trade_pct`` of equity per trade::

    qty = floor(equity × risk_per_trade_pct / 100 / max_loss_per_unit)

    equity $100,000, 1 %, max loss $400/unit  →  floor($1,000 / $400) = 2 units
    equity $100,000, 1 %, max loss $1,001/unit →  floor($1,000 / $1,001) = 0 → denied

**Quarter-Kelly**: from the strategy's closed trades, win rate ``p`` and payoff ratio
``b = average win / average loss``; full Kelly ``f* = p − (1 − p) / b`` is the share of
equity to put at risk, and we risk ``kelly_fraction × f*`` (0.25 × by default)::

    p = 0.70, average win $100, average loss $200 → b = 0.5
    f* = 0.70 − 0.30 / 0.5 = 0.10 → quarter-Kelly 0.025
    equity $100,000 → $2,500 at risk → max loss $400/unit → floor(6.25) = 6 units

Until the strategy has ``kelly_min_trades`` closed trades, Kelly falls back to
fixed-fractional. A negative edge (f* ≤ 0) sizes to zero — never a negative quantity.
A strategy without a losing trade has b = ∞ and f* = p.

Either way the target is then **capped by every limit** (:func:`agent.risk.rules.largest_allowed_qty`):
risk approves the largest whole quantity ≤ target that passes every rule, and zero units
is a denial with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from agent.config import RiskSettings, SizingMethod

__all__ = [
    "KellyEstimate",
    "SizingTarget",
    "fixed_fractional_qty",
    "kelly_estimate",
    "kelly_qty",
    "sizing_target",
]


def _units(budget_usd: Decimal, max_loss_per_unit_usd: Decimal) -> int:
    if max_loss_per_unit_usd <= 0 or budget_usd <= 0:
        return 0
    return math.floor(budget_usd / max_loss_per_unit_usd)


def fixed_fractional_qty(
    *, equity_usd: Decimal, risk_per_trade_pct: float, max_loss_per_unit_usd: Decimal
) -> int:
    """``floor(equity × pct / 100 / max loss per unit)``; 0 for a non-positive max loss.

    Example: $100,000 equity, 1 %, $400 max loss per unit → 2.
    """
    budget = equity_usd * Decimal(str(risk_per_trade_pct)) / Decimal(100)
    return _units(budget, max_loss_per_unit_usd)


@dataclass(frozen=True, slots=True, kw_only=True)
class KellyEstimate:
    """Kelly inputs and result from a strategy's closed trades, in exact decimals.

    ``win_rate`` 0-1; ``payoff_ratio`` average win / average loss (None = no losing trade,
    infinite); ``full_kelly`` may be negative; ``fraction`` = ``kelly_fraction`` ×
    max(full_kelly, 0), the share of equity to risk (0-1).
    """

    trades: int
    wins: int
    win_rate: Decimal
    payoff_ratio: Decimal | None
    full_kelly: Decimal
    fraction: Decimal


def kelly_estimate(pnls_usd: Sequence[Decimal], *, kelly_fraction: float) -> KellyEstimate:
    """Win rate, payoff and (fractional) Kelly from realised P&Ls (USD per trade).

    A trade with P&L > 0 is a win; any other is a loss (a break-even trade lowers the win
    rate without adding to the average loss). Example: seven trades of +$100 and three of
    −$200 → p = 0.7, b = 0.5, f* = 0.1, quarter-Kelly 0.025.
    """
    trades = len(pnls_usd)
    wins = [p for p in pnls_usd if p > 0]
    losses = [-p for p in pnls_usd if p <= 0]
    zero = Decimal(0)
    if trades == 0 or not wins:
        return KellyEstimate(
            trades=trades,
            wins=len(wins),
            win_rate=zero,
            payoff_ratio=None if not losses else zero,
            full_kelly=zero if trades == 0 else Decimal(-1),
            fraction=zero,
        )
    p = Decimal(len(wins)) / Decimal(trades)
    average_win = sum(wins, zero) / len(wins)
    average_loss = sum(losses, zero) / len(losses) if losses else zero
    payoff: Decimal | None
    if average_loss <= 0:
        payoff, full = None, p
    else:
        payoff = average_win / average_loss
        full = p - (1 - p) / payoff
    return KellyEstimate(
        trades=trades,
        wins=len(wins),
        win_rate=p,
        payoff_ratio=payoff,
        full_kelly=full,
        fraction=Decimal(str(kelly_fraction)) * max(full, zero),
    )


def kelly_qty(*, equity_usd: Decimal, fraction: Decimal, max_loss_per_unit_usd: Decimal) -> int:
    """``floor(equity × fraction / max loss per unit)`` (fraction 0-1, never negative)."""
    budget = equity_usd * max(fraction, Decimal(0))
    return _units(budget, max_loss_per_unit_usd)


@dataclass(frozen=True, slots=True, kw_only=True)
class SizingTarget:
    """Units the sizing method asks for, before limits; ``method`` is recorded on the
    decision (``fixed_fractional`` or ``quarter_kelly``), ``detail`` explains the numbers."""

    qty: int
    method: str
    risk_budget_usd: Decimal
    detail: str


def sizing_target(
    *,
    settings: RiskSettings,
    equity_usd: Decimal,
    max_loss_per_unit_usd: Decimal,
    strategy_pnls_usd: Sequence[Decimal],
) -> SizingTarget:
    """The target quantity of the configured method (Kelly falls back while warming up)."""
    ff_budget = equity_usd * Decimal(str(settings.risk_per_trade_pct)) / Decimal(100)
    ff_qty = _units(ff_budget, max_loss_per_unit_usd)
    ff_detail = (
        f"{settings.risk_per_trade_pct:g}% of equity ${float(equity_usd):,.2f} = "
        f"${float(ff_budget):,.2f} / max loss ${float(max_loss_per_unit_usd):,.2f} per unit"
    )
    if settings.sizing_method is SizingMethod.FIXED_FRACTIONAL:
        return SizingTarget(
            qty=ff_qty,
            method=SizingMethod.FIXED_FRACTIONAL.value,
            risk_budget_usd=ff_budget,
            detail=ff_detail,
        )
    if len(strategy_pnls_usd) < settings.kelly_min_trades:
        return SizingTarget(
            qty=ff_qty,
            method=SizingMethod.FIXED_FRACTIONAL.value,
            risk_budget_usd=ff_budget,
            detail=f"Kelly warm-up ({len(strategy_pnls_usd)} of {settings.kelly_min_trades} "
            f"closed trades): {ff_detail}",
        )
    estimate = kelly_estimate(strategy_pnls_usd, kelly_fraction=settings.kelly_fraction)
    budget = equity_usd * estimate.fraction
    payoff = "∞" if estimate.payoff_ratio is None else f"{estimate.payoff_ratio:.3f}"
    return SizingTarget(
        qty=_units(budget, max_loss_per_unit_usd),
        method=SizingMethod.QUARTER_KELLY.value,
        risk_budget_usd=budget,
        detail=(
            f"Kelly over {estimate.trades} trades: p={estimate.win_rate:.3f}, b={payoff}, "
            f"f*={estimate.full_kelly:.4f} × {settings.kelly_fraction:g} = "
            f"{estimate.fraction:.4f} of equity = ${float(budget):,.2f} / max loss "
            f"${float(max_loss_per_unit_usd):,.2f} per unit"
        ),
    )
