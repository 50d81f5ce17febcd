"""Reconciliation: external orders, position differences, stale orders, account snapshots."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from agent.domain import (
    AlertLevel,
    ExitAction,
    ExitReason,
    OrderLeg,
    OrderRequest,
    OrderStatus,
    PositionIntent,
    TradeStatus,
)
from tests.integration.execution.harness import (
    P85,
    P90,
    P95,
    World,
    approve,
    assert_book_consistent,
    make_world,
    put_spread,
)


def foreign_order(world: World, *, limit: str = "-0.05", cid: str = "manual-1") -> str:
    leg = OrderLeg(
        symbol=P85,
        side=PositionIntent.SELL_TO_OPEN.side,
        position_intent=PositionIntent.SELL_TO_OPEN,
    )
    order = world.exchange.submit_order(
        OrderRequest(client_order_id=cid, legs=(leg,), qty=1, limit_price=Decimal(limit))
    )
    return order.order_id


def test_external_orders_are_flagged_once_and_never_touched(world: World) -> None:
    order_id = foreign_order(world, limit="-5.00")  # rests
    report = world.service.reconcile()
    assert report.external_orders == 1
    assert "order.external" in world.alerts.titles(AlertLevel.WARNING)
    world.service.reconcile()
    assert len(world.events("order.external")) == 1  # flagged once
    world.service.end_of_day()
    assert world.exchange.get_order(order_id).status is OrderStatus.NEW  # never touched
    assert world.records() == []


def test_external_orders_can_be_adopted(tmp_path: Path) -> None:
    world = make_world(tmp_path, "execution.external_orders=adopt")
    order_id = foreign_order(world, limit="-5.00")
    assert world.service.reconcile().external_orders == 1
    [record] = world.records()
    assert record.external and record.intent_id is None and record.order_id == order_id
    world.service.end_of_day()
    assert world.exchange.get_order(order_id).status is OrderStatus.NEW


def test_position_differences_are_events_and_alerts(world: World) -> None:
    foreign_order(world, limit="-0.10")  # marketable: fills at the next minute
    world.advance(90)
    report = world.service.reconcile()
    assert report.differences == (f"{P85}: broker -1, optagent +0",)
    [event] = world.events("reconcile.difference")
    assert event.payload["broker_qty"] == -1 and event.payload["our_qty"] == 0
    assert "reconcile.difference" in world.alerts.titles(AlertLevel.WARNING)


def test_external_positions_can_be_adopted_into_the_book(tmp_path: Path) -> None:
    world = make_world(tmp_path, "monitor.external_positions=adopt")
    foreign_order(world, limit="-0.10")  # someone else sells a put; it fills
    world.advance(90)
    report = world.service.reconcile()
    assert report.adopted_positions == 1 and report.differences == ()
    [event] = world.events("reconcile.adopted")
    trade = world.trade(str(event.payload["trade_id"]))
    assert trade.status is TradeStatus.OPEN and trade.strategy.value == "single_option"
    assert trade.reason_tags == ("adopted",)
    [position] = world.exchange.get_positions()
    # The book now equals the broker, at the broker's entry price, and stays that way.
    assert world.service.reconcile().differences == ()
    with world.store.transaction() as tx:
        [leg] = tx.positions.list(trade_id=trade.trade_id)
        [fill] = tx.fills.list(trade_id=trade.trade_id)
    assert leg.signed_qty == position.qty == -1 and leg.entry_price == position.avg_entry_price
    assert trade.realized_pnl == fill.price * 100  # the premium, as the sum of its fills
    # It is ours now: a manual close buys it back and both books go flat.
    world.quotes.set_quote(P85, 0.05, 0.08, at=world.clock.now())
    exit_action = ExitAction(trade_id=trade.trade_id, reason=ExitReason.MANUAL, detail="test")
    assert world.service.close_trade(exit_action) is not None
    world.run_until(lambda: world.trade(trade.trade_id).status is TradeStatus.CLOSED)
    assert world.our_positions() == {} == world.broker_positions()
    assert world.trade(trade.trade_id).exit_reason is ExitReason.MANUAL


def test_a_working_order_of_a_finished_intent_is_cancelled(world: World) -> None:
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-2.00"))
    assert trade_id is not None
    # Corrupt our view on purpose: the intent says it is over while its order works.
    [intent] = world.intents(trade_id)
    with world.store.transaction() as tx:
        tx.orders.update_intent(replace(intent, status=OrderStatus.CANCELED))
    world.service.reconcile()
    assert world.exchange.list_orders(status="open") == []
    assert world.events("order.stale_canceled")
    [record] = world.records(intent.intent_id)
    assert record.status is OrderStatus.CANCELED


def test_reconcile_adopts_and_tracks_our_working_orders(world: World) -> None:
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-0.95"))
    assert trade_id is not None
    world.new_service()  # a restart
    report = world.service.reconcile()
    assert report.external_orders == 0 and report.differences == ()
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.OPEN)
    assert world.our_positions() == {P95: -1, P90: 1}
    assert_book_consistent(world)


def test_account_snapshots_are_stored_at_most_once_a_minute(world: World) -> None:
    account = world.service.account()
    assert account.equity == Decimal(100_000)
    world.advance(20)
    world.service.account()
    with world.store.transaction() as tx:
        assert len(tx.account_snapshots.list()) == 1
    world.advance(45)
    world.service.account()
    with world.store.transaction() as tx:
        assert len(tx.account_snapshots.list()) == 2


def test_an_order_we_had_as_never_sent_is_cancelled_and_flagged(world: World) -> None:
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-2.00"))
    assert trade_id is not None
    [intent] = world.intents(trade_id)
    [record] = world.records(intent.intent_id)
    with world.store.transaction() as tx:  # a view the broker contradicts
        tx.orders.upsert_order(replace(record, status=OrderStatus.NOT_SUBMITTED))
        tx.orders.update_intent(replace(intent, status=OrderStatus.NOT_SUBMITTED))
    world.service.reconcile()
    assert world.exchange.list_orders(status="open") == []
    [event] = world.events("order.stale_canceled")
    assert event.level is AlertLevel.CRITICAL
