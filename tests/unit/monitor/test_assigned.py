"""What the monitor does with assigned shares, per ``assigned_stock_action``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from agent.config import AssignedStockAction, CashSecuredPutSettings
from agent.domain import (
    ExitReason,
    OptionRight,
    PositionIntent,
    PositionLeg,
    Side,
    StructureKind,
    Trade,
    TradingState,
)
from agent.monitor.assigned import (
    covered_call_action,
    pick_covered_call,
    plan_assigned,
    stock_sell_bound,
)
from agent.pricing.chain import enrich_chain
from tests.unit.monitor.helpers import NOW, RATE, SYMBOL, leg, synthetic_chain, trade


def csp_settings(action: AssignedStockAction) -> CashSecuredPutSettings:
    return CashSecuredPutSettings(assigned_stock_action=action)


def assigned_csp(shares: int = 100) -> tuple[Trade, tuple[PositionLeg, ...]]:
    t = trade(StructureKind.CASH_SECURED_PUT, entry_net="-0.60")
    return t, (leg(t.trade_id, None, Side.BUY, qty=shares, entry="95.00", right=None),)


def test_sell_limit_sells_every_share_no_lower_than_99_pct_of_the_bid() -> None:
    t, legs = assigned_csp(200)
    plan = plan_assigned(
        trade=t,
        legs=legs,
        stock_bid=93.57,
        settings=csp_settings(AssignedStockAction.SELL_LIMIT),
        state=TradingState.ACTIVE,
    )
    assert plan.exit is None and plan.single_leg is not None
    action = plan.single_leg
    assert action.symbol == SYMBOL and action.side is Side.SELL
    assert action.position_intent is PositionIntent.SELL_TO_CLOSE and action.qty == 200
    assert action.limit_bound == Decimal("92.63")  # 0.99 × 93.57 = 92.6343, rounded down
    assert action.reason is ExitReason.ASSIGNED and action.detail.startswith("assigned: ")


@pytest.mark.parametrize(
    ("bid", "bound"),
    [
        (100.0, Decimal("99.00")),
        (0.01, None),
        (0.0, None),
        (float("nan"), None),
        (1.01, Decimal("0.99")),
    ],
)
def test_stock_sell_bound(bid: float, bound: Decimal | None) -> None:
    assert stock_sell_bound(bid) == bound


def test_hold_keeps_the_shares() -> None:
    t, legs = assigned_csp()
    plan = plan_assigned(
        trade=t,
        legs=legs,
        stock_bid=93.0,
        settings=csp_settings(AssignedStockAction.HOLD),
        state=TradingState.ACTIVE,
    )
    assert plan.exit is None and plan.single_leg is None and not plan.needs_covered_call
    assert "hold" in plan.note


def test_covered_call_is_wanted_unless_one_is_open_or_trading_is_halted() -> None:
    t, legs = assigned_csp()
    settings = csp_settings(AssignedStockAction.COVERED_CALL)
    plan = plan_assigned(
        trade=t,
        legs=legs,
        stock_bid=93.0,
        settings=settings,
        state=TradingState.REDUCING,
    )
    assert plan.needs_covered_call
    halted = plan_assigned(
        trade=t,
        legs=legs,
        stock_bid=93.0,
        settings=settings,
        state=TradingState.HALTED,
    )
    assert not halted.needs_covered_call and halted.single_leg is None
    call = leg(t.trade_id, 100.0, Side.SELL, right=OptionRight.CALL)
    covered = plan_assigned(
        trade=t,
        legs=(*legs, call),
        stock_bid=93.0,
        settings=settings,
        state=TradingState.ACTIVE,
    )
    assert not covered.needs_covered_call and covered.single_leg is None
    odd, odd_legs = assigned_csp(60)
    few = plan_assigned(
        trade=odd,
        legs=odd_legs,
        stock_bid=93.0,
        settings=settings,
        state=TradingState.ACTIVE,
    )
    assert not few.needs_covered_call and "fewer than one contract" in few.note


def test_sell_limit_with_a_covered_call_open_closes_the_whole_trade() -> None:
    t, legs = assigned_csp()
    call = leg(t.trade_id, 100.0, Side.SELL, right=OptionRight.CALL)
    plan = plan_assigned(
        trade=t,
        legs=(*legs, call),
        stock_bid=93.0,
        settings=csp_settings(AssignedStockAction.SELL_LIMIT),
        state=TradingState.ACTIVE,
    )
    assert plan.exit is not None and plan.exit.reason is ExitReason.ASSIGNED


def test_a_spread_broken_by_an_assignment_is_closed_leg_by_leg() -> None:
    t = trade(StructureKind.BULL_PUT_SPREAD)
    legs = (
        leg(t.trade_id, 90.0, Side.BUY, qty=2),
        leg(t.trade_id, None, Side.BUY, qty=200, entry="95.00", right=None),
    )
    for action in AssignedStockAction:  # the CSP setting does not apply to spreads
        plan = plan_assigned(
            trade=t,
            legs=legs,
            stock_bid=88.0,
            settings=csp_settings(action),
            state=TradingState.HALTED,
        )
        assert plan.exit is not None and plan.exit.reason is ExitReason.ASSIGNED
        assert "broken" in plan.exit.detail and "leg by leg" in plan.exit.detail


def test_pick_covered_call_by_dte_then_delta() -> None:
    expiries = [date(2026, 3, 20), date(2026, 4, 2), date(2026, 4, 17)]  # 18, 31, 46 DTE
    chain = synthetic_chain(spot=100.0, expiries=expiries, strikes=range(90, 121))
    enriched = enrich_chain(chain, 100.0, RATE, 0.0, NOW)
    call = pick_covered_call(enriched, target_delta=0.30, target_dte=30)
    assert call is not None and call.expiry == date(2026, 4, 2)
    rows = [
        i
        for i in range(len(enriched))
        if enriched.chain.is_call[i]
        and enriched.chain.expiry[i].astype("datetime64[D]").item() == call.expiry
    ]
    best = min(rows, key=lambda i: abs(float(enriched.delta[i]) - 0.30))
    assert call.strike == float(enriched.chain.strike[best])
    assert abs(call.delta - 0.30) < 0.05 and call.bid > 0
    action = covered_call_action(
        trade(StructureKind.CASH_SECURED_PUT), 250, call, stock_symbol=SYMBOL
    )
    assert action.qty == 2 and action.side is Side.SELL
    assert action.position_intent is PositionIntent.SELL_TO_OPEN
    assert action.limit_bound == Decimal(repr(call.bid)).quantize(Decimal("0.01"))
    # nothing usable: no calls at all
    puts_only = enriched.take(~enriched.chain.is_call)
    assert pick_covered_call(puts_only, target_delta=0.3, target_dte=30) is None
