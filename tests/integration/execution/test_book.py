"""The book through assignment, exercise and expiry activities (booked by ``reconcile()``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from agent.domain import (
    Activity,
    ActivityStatus,
    ActivityType,
    AlertLevel,
    ExitAction,
    ExitReason,
    PositionIntent,
    PositionStatus,
    Side,
    TradeStatus,
)
from tests.integration.execution.faults import FaultyBroker
from tests.integration.execution.harness import (
    ABC,
    ABC_C55,
    EXPIRY,
    P90,
    P95,
    XYZ,
    World,
    approve,
    assert_book_consistent,
    csp,
    et,
    put_spread,
)


def open_(world: World, cand, bound: str) -> str:  # type: ignore[no-untyped-def]
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound=bound))
    assert trade_id is not None
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.OPEN)
    return trade_id


def past_expiry(world: World, *, underlying: str, price: float) -> None:
    """Move the underlying to ``price`` for the expiry close and go past it."""
    world.quotes.set_underlying(underlying, price, at=et(EXPIRY, 15, 0))
    world.quotes.set_quote(underlying, price - 0.01, price + 0.01, at=et(EXPIRY, 15, 0))
    after = et(EXPIRY, 16, 30)
    world.clock.set(after)
    world.exchange.advance_to(after)


def test_a_spread_that_expires_worthless_closes_at_zero(world: World) -> None:
    trade_id = open_(world, put_spread(), "-0.95")
    credit = world.trade(trade_id).realized_pnl
    past_expiry(world, underlying=XYZ, price=110.0)
    report = world.service.reconcile()
    assert report.activities >= 2 and report.differences == ()
    trade = world.trade(trade_id)
    assert trade.status is TradeStatus.CLOSED
    assert trade.exit_reason is ExitReason.EXPIRED_WORTHLESS
    assert trade.realized_pnl == credit  # nothing paid to close
    assert {f.fill_id.split(":")[0] for f in world.fills(trade_id)} >= {"act"}
    # Reconciling again books nothing twice.
    world.service.reconcile()
    assert world.trade(trade_id).realized_pnl == credit
    assert_book_consistent(world)


def test_an_assigned_cash_secured_put_stays_one_trade_until_the_stock_is_sold(
    world: World,
) -> None:
    trade_id = open_(world, csp(), "-0.90")
    assert world.trade(trade_id).realized_pnl == Decimal(100)
    past_expiry(world, underlying=ABC, price=45.0)
    world.service.reconcile()
    trade = world.trade(trade_id)
    assert trade.status is TradeStatus.OPEN  # still open: it holds the shares now
    assert world.our_positions() == {ABC: 100} == world.broker_positions()
    assert trade.realized_pnl == Decimal(100) - Decimal(5000)  # premium, shares at the strike
    assert trade.execution["assignments"]
    assert "trade.assigned" in world.alerts.titles(AlertLevel.WARNING)
    # Sell the shares with a limit, inside the same trade.
    next_open = et(EXPIRY + timedelta(days=3), 10)
    world.clock.set(next_open)
    world.exchange.advance_to(next_open)
    intent_id = world.service.submit_single_leg(
        trade_id=trade_id,
        symbol=ABC,
        side=Side.SELL,
        intent=PositionIntent.SELL_TO_CLOSE,
        qty=100,
        limit_bound=Decimal("44"),
        reason=f"{ExitReason.ASSIGNED.value}: sell the assigned shares",
    )
    assert intent_id is not None
    assert world.trade(trade_id).status is TradeStatus.CLOSING
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.CLOSED)
    trade = world.trade(trade_id)
    assert trade.exit_reason is ExitReason.ASSIGNED
    fills = world.fills(trade_id)
    total = sum(
        (-f.side.sign * f.qty * f.price * (100 if f.symbol != ABC else 1) for f in fills),
        Decimal(0),
    )
    assert trade.realized_pnl == total == Decimal(100) - 5000 + Decimal("44.99") * 100
    assert world.our_positions() == {} == world.broker_positions()
    assert_book_consistent(world)


def test_a_covered_call_is_written_on_assigned_stock(world: World) -> None:
    trade_id = open_(world, csp(), "-0.90")
    past_expiry(world, underlying=ABC, price=45.0)
    world.service.reconcile()
    next_open = et(EXPIRY + timedelta(days=3), 10)
    world.quotes.set_quote(ABC_C55, 0.80, 0.90, at=next_open)
    world.clock.set(next_open)
    world.exchange.advance_to(next_open)
    intent_id = world.service.submit_single_leg(
        trade_id=trade_id,
        symbol=ABC_C55,
        side=Side.SELL,
        intent=PositionIntent.SELL_TO_OPEN,
        qty=1,
        limit_bound=Decimal("0.70"),
        reason="covered call",
    )
    assert intent_id is not None
    world.run_until(lambda: not world.records(intent_id)[-1].status.is_working)
    assert world.our_positions() == {ABC: 100, ABC_C55: -1} == world.broker_positions()
    assert world.trade(trade_id).status is TradeStatus.OPEN
    # Closing stock plus a short call: leg by leg, the call bought back first.
    action = ExitAction(trade_id=trade_id, reason=ExitReason.MANUAL, detail="done")
    assert world.service.close_trade(action) is not None
    assert world.events("order.rejected") == []
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.CLOSED)
    assert world.trade(trade_id).exit_reason is ExitReason.MANUAL
    assert world.our_positions() == {} == world.broker_positions()
    assert_book_consistent(world)


def test_a_spread_with_the_short_leg_assigned_holds_the_shares(world: World) -> None:
    trade_id = open_(world, put_spread(), "-0.95")
    past_expiry(world, underlying=XYZ, price=92.0)  # 95 put assigned, 90 put expires
    world.service.reconcile()
    trade = world.trade(trade_id)
    assert trade.status is TradeStatus.OPEN
    assert world.our_positions() == {XYZ: 100} == world.broker_positions()
    with world.store.transaction() as tx:
        legs = {leg.symbol: leg for leg in tx.positions.list(trade_id=trade_id)}
    assert legs[P95].status is PositionStatus.CLOSED and legs[P90].status is PositionStatus.CLOSED
    assert legs[XYZ].entry_price == Decimal(95)
    assert_book_consistent(world)


def test_both_legs_in_the_money_net_out_and_close_the_trade(world: World) -> None:
    trade_id = open_(world, put_spread(), "-0.95")
    credit = world.trade(trade_id).realized_pnl
    past_expiry(world, underlying=XYZ, price=80.0)  # assigned at 95, exercised at 90
    world.service.reconcile()
    trade = world.trade(trade_id)
    assert trade.status is TradeStatus.CLOSED
    assert trade.exit_reason is ExitReason.ASSIGNED
    assert trade.realized_pnl == credit - 500  # the full width
    assert world.our_positions() == {} == world.broker_positions()
    assert_book_consistent(world)


def test_corrected_or_canceled_activities_are_flagged_not_applied(world: World) -> None:
    trade_id = open_(world, put_spread(), "-0.95")

    class WithCorrection(FaultyBroker):
        def get_activities(self, *, after_id=None, types=None):  # type: ignore[no-untyped-def]
            real = super().get_activities(after_id=after_id, types=types)
            extra = Activity(
                activity_id="29990101000000000::correction",
                activity_type=ActivityType.OPTION_ASSIGNMENT,
                symbol=P95,
                qty=Decimal(1),
                price=None,
                net_amount=Decimal(0),
                occurred_on=EXPIRY,
                status=ActivityStatus.CANCELED,
            )
            return [*real, extra] if after_id is None or after_id < extra.activity_id else real

    world.new_service(WithCorrection(world.exchange))
    world.service.reconcile()
    assert world.trade(trade_id).status is TradeStatus.OPEN
    assert world.our_positions() == {P95: -1, P90: 1}
    assert world.events("reconcile.activity_correction")
    assert "reconcile.activity_correction" in world.alerts.titles(AlertLevel.CRITICAL)
    # The cursor moved past it: it is not flagged again.
    world.service.reconcile()
    assert len(world.events("reconcile.activity_correction")) == 1
