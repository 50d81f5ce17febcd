"""Domain values with every field set to something a round trip could get wrong.

Timestamps are deliberately not in UTC (New York or a fixed offset) and carry microseconds;
money has 6 decimal places or is negative; tuples, enums and nested mappings are filled.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from agent.domain import (
    AccountSnapshot,
    AlertLevel,
    DecisionOutcome,
    DecisionRecord,
    DecisionStage,
    Event,
    ExitReason,
    Fill,
    LearningLog,
    OptionRight,
    OrderIntent,
    OrderLeg,
    OrderPurpose,
    OrderRecord,
    OrderStatus,
    PerformanceMetrics,
    PositionIntent,
    PositionLeg,
    Reason,
    RiskDecision,
    Side,
    StructureKind,
    Trade,
    TradeStatus,
    WalkStep,
    client_order_id_for,
)

NEW_YORK = ZoneInfo("America/New_York")
T0 = datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=NEW_YORK)
"""A Monday 10:00:00.123456 ET (15:00 UTC)."""
PLUS_0530 = timezone(timedelta(hours=5, minutes=30))


def at(minutes: float) -> datetime:
    """``T0`` plus some minutes (still in New York time)."""
    return T0 + timedelta(minutes=minutes)


def trade(trade_id: str = "T-1", **changes: Any) -> Trade:
    value = Trade(
        trade_id=trade_id,
        underlying="SPY",
        strategy=StructureKind.BULL_PUT_SPREAD,
        status=TradeStatus.OPEN,
        qty=3,
        opened_at=T0,
        entry_net_price=Decimal("-1.234567"),
        max_loss_usd=Decimal("1129.63"),
        capital_usd=Decimal("1129.630001"),
        realized_pnl=Decimal("-12.5"),
        pnl_pct=-0.0125,
        candidate_id="C-1",
        risk_decision_id="R-1",
        params={
            "short_delta": 0.2,
            "width": Decimal("5"),
            "dte": 35,
            "allow_roll": True,
            "legs": ["SPY260417P00500000", "SPY260417P00495000"],
            "nested": {"$weird key": None, "expiry": date(2026, 4, 17)},
        },
        market_snapshot={"spot": 512.37, "iv_rank": 41.5, "as_of": at(0).astimezone(UTC)},
        execution={"walk_steps": 3, "slippage": Decimal("0.01")},
        risk={"approved": True, "checks": ["max_loss", "exposure"]},
        reason_tags=("iv_rich", "trend_up"),
        notes="opened by the scanner",
        sector="ETF",
    )
    return replace(value, **changes)


def closed_trade(trade_id: str = "T-1", **changes: Any) -> Trade:
    return replace(
        trade(trade_id),
        status=TradeStatus.CLOSED,
        exit_net_price=Decimal("0.45"),
        closed_at=at(60 * 24 * 9).astimezone(PLUS_0530),
        days_held=9.0,
        exit_reason=ExitReason.TAKE_PROFIT,
        realized_pnl=Decimal("236.000001"),
        pnl_pct=0.2089,
        **changes,
    )


def leg(position_id: str = "P-1", trade_id: str = "T-1", **changes: Any) -> PositionLeg:
    value = PositionLeg(
        position_id=position_id,
        trade_id=trade_id,
        symbol="SPY260417P00500000",
        underlying="SPY",
        right=OptionRight.PUT,
        strike=Decimal("500"),
        expiry=date(2026, 4, 17),
        side=Side.SELL,
        qty=3,
        entry_price=Decimal("2.15"),
        entry_delta=-0.2012345678901,
        current_delta=-0.25,
        unrealized_pnl=Decimal("-30.000003"),
        opened_at=at(1),
    )
    return replace(value, **changes)


def stock_leg(position_id: str = "P-stock", trade_id: str = "T-1") -> PositionLeg:
    return PositionLeg(
        position_id=position_id,
        trade_id=trade_id,
        symbol="SPY",
        underlying="SPY",
        right=None,
        strike=None,
        expiry=None,
        side=Side.BUY,
        qty=100,
        entry_price=Decimal("500"),
    )


def order_legs() -> tuple[OrderLeg, ...]:
    return (
        OrderLeg(
            symbol="SPY260417P00500000", side=Side.SELL, position_intent=PositionIntent.SELL_TO_OPEN
        ),
        OrderLeg(
            symbol="SPY260417P00495000",
            side=Side.BUY,
            position_intent=PositionIntent.BUY_TO_OPEN,
            ratio_qty=1,
        ),
    )


def intent(intent_id: str = "I-1", trade_id: str = "T-1", **changes: Any) -> OrderIntent:
    value = OrderIntent(
        intent_id=intent_id,
        trade_id=trade_id,
        purpose=OrderPurpose.OPEN,
        structure=StructureKind.BULL_PUT_SPREAD,
        legs=order_legs(),
        qty=3,
        start_price=Decimal("-1.30"),
        limit_bound=Decimal("-1.15"),
        natural_price=Decimal("-1.10"),
        mid_price=Decimal("-1.325"),
        reason="entry: bull put spread 500/495",
        created_at=at(0.5),
        risk_decision_id="R-1",
    )
    return replace(value, **changes)


def order(
    client_order_id: str | None = None, intent_id: str | None = "I-1", **changes: Any
) -> OrderRecord:
    value = OrderRecord(
        client_order_id=client_order_id or client_order_id_for("I-1", 0),
        intent_id=intent_id,
        status=OrderStatus.PARTIALLY_FILLED,
        qty=3,
        limit_price=Decimal("-1.3"),
        order_id="broker-1",
        filled_qty=1,
        filled_avg_price=Decimal("-1.3"),
        submitted_at=at(0.6),
        updated_at=at(0.7).astimezone(PLUS_0530),
        legs_filled=(
            ("SPY260417P00500000", 1, Decimal("2.15")),
            ("SPY260417P00495000", 1, None),
        ),
    )
    return replace(value, **changes)


def walk_step(intent_id: str = "I-1", step: int = 0, **changes: Any) -> WalkStep:
    value = WalkStep(
        intent_id=intent_id,
        step=step,
        at=at(0.6 + step),
        limit_price=Decimal("-1.30") + Decimal("0.05") * step,
        natural_price=Decimal("-1.10"),
        mid_price=None,
        spread_width=Decimal("0.225"),
        client_order_id=client_order_id_for(intent_id, step),
        outcome="submitted" if step == 0 else "replaced",
    )
    return replace(value, **changes)


def fill(fill_id: str = "F-1", **changes: Any) -> Fill:
    value = Fill(
        fill_id=fill_id,
        order_id="broker-1",
        client_order_id=client_order_id_for("I-1", 0),
        symbol="SPY260417P00500000",
        side=Side.SELL,
        qty=1,
        price=Decimal("2.15"),
        filled_at=at(0.8),
        position_intent=PositionIntent.SELL_TO_OPEN,
        fee_usd=Decimal("0.65"),
    )
    return replace(value, **changes)


def reasons() -> tuple[Reason, ...]:
    return (
        Reason(rule="min_iv_rank", passed=True, value=41.5, limit=25.0),
        Reason(
            rule="earnings_blackout",
            passed=False,
            value="2026-03-20",
            limit=None,
            message="earnings",
        ),
        Reason(rule="min_open_interest", passed=True, value=1200, limit=100),
        Reason(rule="liquid", passed=True, value=True),
    )


def decision(
    decision_id: str = "D-1",
    *,
    underlying: str = "SPY",
    scan_id: str = "S-1",
    decided_at: datetime | None = None,
    **changes: Any,
) -> DecisionRecord:
    value = DecisionRecord(
        decision_id=decision_id,
        scan_id=scan_id,
        decided_at=decided_at or at(0),
        underlying=underlying,
        stage=DecisionStage.STRATEGY,
        outcome=DecisionOutcome.REJECTED,
        strategy=StructureKind.IRON_CONDOR,
        candidate_id="C-9",
        reasons=reasons(),
        metrics={
            "pop": 0.71,
            "credit_usd": 1.25,
            "dte": 35,
            "symbol": "SPY",
            "ok": False,
            "x": None,
        },
    )
    return replace(value, **changes)


def risk_decision(decision_id: str = "R-1", **changes: Any) -> RiskDecision:
    value = RiskDecision(
        decision_id=decision_id,
        candidate_id="C-1",
        approved=False,
        qty=0,
        checks=reasons(),
        decided_at=at(0.25),
        limit_bound=Decimal("-1.15"),
        sizing_method="max_loss_pct",
    )
    return replace(value, **changes)


def snapshot(minutes: float = 0, **changes: Any) -> AccountSnapshot:
    value = AccountSnapshot(
        equity=Decimal("100000.123456"),
        cash=Decimal("87000"),
        buying_power=Decimal("174000.5"),
        options_buying_power=Decimal("87000.25"),
        last_equity=Decimal("99500"),
        options_level=3,
        as_of=at(minutes),
        account_id="PA-123",
        status="ACTIVE",
    )
    return replace(value, **changes)


def event(event_id: str = "E-1", kind: str = "order.rejected", **changes: Any) -> Event:
    value = Event(
        event_id=event_id,
        kind=kind,
        occurred_at=at(0),
        level=AlertLevel.WARNING,
        message="insufficient buying power",
        subject="broker-1",
        payload={"code": 40310000, "retry": False, "limit": Decimal("-1.30"), "at": at(0)},
    )
    return replace(value, **changes)


def metrics(
    period_type: str = "daily", start: date = date(2026, 3, 2), **changes: Any
) -> PerformanceMetrics:
    value = PerformanceMetrics(
        period_type=period_type,
        period_start=start,
        period_end=start,
        computed_at=at(60 * 7),
        trades=4,
        total_pnl=Decimal("312.75"),
        win_rate=0.75,
        profit_factor=float("inf"),
        sharpe=1.8,
        sortino=None,
        max_drawdown_usd=Decimal("-120.5"),
        per_strategy={
            "bull_put_spread": {"trades": 3, "pnl": 250.0, "win_rate": 1.0},
            "iron_condor": {"trades": 1, "pnl": 62.75, "win_rate": None},
        },
        error_counts={"late_exit": 1, "wide_fill": 0},
    )
    return replace(value, **changes)


def learning_log(log_id: str = "L-1", **changes: Any) -> LearningLog:
    value = LearningLog(
        log_id=log_id,
        logged_at=at(60 * 24 * 6),
        update_type="param_adjustment",
        strategy="bull_put_spread",
        old_params={"short_delta": 0.2, "dte": [30, 45]},
        new_params={"short_delta": 0.18, "dte": [30, 45]},
        reason="3 stop-losses on breaches in 20 trades",
        confidence=0.62,
        trades_analyzed=20,
        expected_improvement=0.035,
    )
    return replace(value, **changes)
