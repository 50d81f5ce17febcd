"""Trade analysis: tag each closed trade with what happened, from a fixed taxonomy.

Tags describe outcomes and execution quality so the learner (and a human) can count them.
They are derived only from the trade row (its exit reason, P&L, max loss, execution record
and entry snapshot), so re-running the analysis gives the same tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.domain import ExitReason, Trade, TradeStatus

TAXONOMY: Mapping[str, str] = {
    "win": "closed with a profit",
    "loss": "closed with a loss",
    "take_profit": "closed at the take-profit target",
    "stop_loss": "closed at the stop-loss",
    "expiry_close": "closed because expiry was approaching",
    "breach": "closed because a short strike was breached",
    "rolled": "rolled into a new trade",
    "pin_risk": "closed for pin risk before the same-day cut-off",
    "assigned": "short option assigned",
    "expired_worthless": "options expired worthless",
    "manual": "closed by hand or by flatten",
    "max_loss": "lost at least 90% of the maximum loss",
    "high_slippage": "entry filled more than 25% of the credit away from mid",
    "low_iv_rank_entry": "entered with IV rank below 35",
    "quick_win": "won within 5 days",
}

_EXIT_TAGS: Mapping[ExitReason, str] = {
    ExitReason.TAKE_PROFIT: "take_profit",
    ExitReason.STOP_LOSS: "stop_loss",
    ExitReason.EXPIRY_APPROACHING: "expiry_close",
    ExitReason.BREACH: "breach",
    ExitReason.ROLLED: "rolled",
    ExitReason.PIN_RISK: "pin_risk",
    ExitReason.EARLY_ASSIGNMENT_RISK: "pin_risk",
    ExitReason.ASSIGNED: "assigned",
    ExitReason.EXERCISED: "assigned",
    ExitReason.EXPIRED_WORTHLESS: "expired_worthless",
    ExitReason.MANUAL: "manual",
    ExitReason.FLATTEN: "manual",
}

MAX_LOSS_SHARE = 0.9
HIGH_SLIPPAGE_SHARE = 0.25
LOW_IV_RANK = 35.0
QUICK_WIN_DAYS = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeAnalysis:
    trade_id: str
    tags: tuple[str, ...]
    metrics: Mapping[str, float] = field(default_factory=dict)


def _number(source: Mapping[str, object], key: str) -> float | None:
    value = source.get(key)
    if isinstance(value, int | float | str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def analyze_trade(trade: Trade) -> TradeAnalysis:
    """Tags for a closed trade (an open trade gets none)."""
    if trade.status is not TradeStatus.CLOSED:
        return TradeAnalysis(trade_id=trade.trade_id, tags=())
    tags: list[str] = []
    pnl = float(trade.realized_pnl)
    tags.append("win" if pnl > 0 else "loss")
    if trade.exit_reason is not None and trade.exit_reason in _EXIT_TAGS:
        tags.append(_EXIT_TAGS[trade.exit_reason])
    max_loss = float(trade.max_loss_usd)
    if pnl < 0 and max_loss > 0 and -pnl >= MAX_LOSS_SHARE * max_loss:
        tags.append("max_loss")
    credit = -float(trade.entry_net_price or 0) * 100.0 * trade.qty
    slippage = _number(trade.execution, "entry_slippage_vs_mid_usd")
    if slippage is not None and credit > 0 and slippage > HIGH_SLIPPAGE_SHARE * credit:
        tags.append("high_slippage")
    iv_rank = _number(trade.market_snapshot, "iv_rank")
    if iv_rank is not None and iv_rank < LOW_IV_RANK:
        tags.append("low_iv_rank_entry")
    if pnl > 0 and trade.days_held is not None and trade.days_held <= QUICK_WIN_DAYS:
        tags.append("quick_win")
    metrics = {"pnl_usd": pnl, "credit_usd": credit, "max_loss_usd": max_loss}
    if trade.days_held is not None:
        metrics["days_held"] = trade.days_held
    return TradeAnalysis(trade_id=trade.trade_id, tags=tuple(dict.fromkeys(tags)), metrics=metrics)
