"""Entries through the walker against the simulated exchange and a real SQLite store."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from agent.domain import (
    AlertLevel,
    OrderClass,
    OrderStatus,
    PositionIntent,
    StructureKind,
    TradeStatus,
)
from tests.integration.execution.harness import (
    C105,
    C110,
    P85,
    P90,
    P95,
    World,
    approve,
    assert_book_consistent,
    candidate,
    cleg,
    csp,
    iron_condor,
    make_world,
    put_spread,
)


def entry_intent(world: World, trade_id: str):  # type: ignore[no-untyped-def]
    [intent] = world.intents(trade_id)
    return intent


def test_a_put_spread_fills_through_the_walker(world: World) -> None:
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=2, bound="-0.95"))
    assert trade_id is not None
    # Intent before action: the trade and the intent exist, the order went out as one mleg.
    assert world.trade(trade_id).status is TradeStatus.PENDING
    intent = entry_intent(world, trade_id)
    assert intent.start_price == Decimal("-1.10")  # the mid
    [order] = world.exchange_orders()
    assert order.order_class is OrderClass.MLEG and order.qty == 2
    assert order.client_order_id == intent.client_order_id

    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.OPEN)
    trade = world.trade(trade_id)
    assert trade.qty == 2
    assert trade.entry_net_price is not None and trade.entry_net_price <= Decimal("-0.95")
    steps = world.steps(intent.intent_id)
    assert steps[0].outcome == "submitted" and steps[-1].outcome == "filled"
    limits = [s.limit_price for s in steps if s.outcome in ("submitted", "replaced")]
    assert limits == sorted(limits) and all(p <= Decimal("-0.95") for p in limits)
    entry = trade.execution["entry"]
    assert isinstance(entry, dict)
    assert entry["slippage_vs_mid"] == trade.entry_net_price - Decimal("-1.10")
    assert entry["first_limit"] == Decimal("-1.10")
    # The position legs are what filled, and P&L is the sum of the fills (the credit so far).
    assert world.our_positions() == {P95: -2, P90: 2}
    assert trade.realized_pnl == -trade.entry_net_price * 200
    assert_book_consistent(world)


def test_a_wide_spread_walks_to_the_floor_and_cancels_at_timeout(tmp_path: Path) -> None:
    world = make_world(tmp_path, fill_rate_per_min=0.0)  # nothing fills short of the natural
    cand = put_spread(short_quote=(1.00, 2.00), long_quote=(0.20, 0.40))
    world.quotes.set_quote(P95, 1.00, 2.00)
    world.quotes.set_quote(P90, 0.20, 0.40)
    assert cand.net_price_mid == Decimal("-1.20") and cand.net_price_natural == Decimal("-0.60")
    floor = Decimal("-1.00")  # risk approved no less than a 1.00 credit
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound=floor))
    assert trade_id is not None
    world.run(330)
    intent = entry_intent(world, trade_id)
    steps = world.steps(intent.intent_id)
    outcomes = [s.outcome for s in steps]
    priced = [(s.outcome, s.limit_price) for s in steps if s.outcome in ("submitted", "replaced")]
    assert priced == [
        ("submitted", Decimal("-1.2")),
        ("replaced", Decimal("-1.08")),
        ("replaced", Decimal("-1.00")),
    ]
    assert "floor_reached" in outcomes
    assert all(s.limit_price <= floor for s in steps)
    assert all(
        o.limit_price is not None and o.limit_price <= floor for o in world.exchange_orders()
    )
    assert outcomes[-2:] == ["timeout", "canceled"]
    # Canceled at the timeout: nothing filled, so the trade is canceled (no reservation left).
    assert intent.status is OrderStatus.CANCELED
    assert world.trade(trade_id).status is TradeStatus.CANCELED
    assert world.exchange.list_orders(status="open") == []
    assert world.our_positions() == {} == world.broker_positions()
    recorded = [s for s in steps if s.outcome == "replaced"]
    assert all(
        s.natural_price == Decimal("-0.60") and s.mid_price == Decimal("-1.20") for s in recorded
    )
    assert_book_consistent(world)


def test_partial_fill_and_timeout_keep_the_trade_open_with_the_filled_units(
    tmp_path: Path,
) -> None:
    world = make_world(
        tmp_path, "execution.multi_leg_anchor=natural", fill_rate_per_min=0.0, partial_fill_prob=1.0
    )
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=3, bound="-0.90"))
    assert trade_id is not None
    # The order rests at the natural (-1.00): the first minute fills part of it; then the
    # market moves away and the rest can never fill at or above the bound.
    start = world.clock.now()
    moved = start + timedelta(minutes=2)
    world.quotes.set_quote(P95, 0.80, 0.90, at=moved)
    world.quotes.set_quote(P90, 0.40, 0.50, at=moved)
    world.run(330)
    trade = world.trade(trade_id)
    intent = entry_intent(world, trade_id)
    filled = sum(r.filled_qty for r in world.records(intent.intent_id))
    assert 1 <= filled < 3
    assert intent.status is OrderStatus.CANCELED
    assert trade.status is TradeStatus.OPEN and trade.qty == filled
    assert trade.max_loss_usd == Decimal(400) * filled
    assert world.our_positions() == {P95: -filled, P90: filled} == world.broker_positions()
    assert_book_consistent(world)


def test_a_cash_secured_put_goes_as_a_single_leg_at_the_touch(world: World) -> None:
    cand = csp()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-0.90"))
    assert trade_id is not None
    intent = entry_intent(world, trade_id)
    assert intent.start_price == Decimal("-0.95")  # 95 % of the 1.00 bid
    [order] = world.exchange_orders()
    assert order.order_class is OrderClass.SIMPLE and order.limit_price == Decimal("-0.95")
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.OPEN)
    assert world.trade(trade_id).realized_pnl == Decimal(100)  # filled at the 1.00 bid
    assert_book_consistent(world)


def test_an_iron_condor_is_one_four_leg_order(world: World) -> None:
    cand = iron_condor()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-0.90"))
    assert trade_id is not None
    [order] = world.exchange_orders()
    assert len(order.legs) == 4
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.OPEN)
    assert world.our_positions() == {P90: -1, P85: 1, C105: -1, C110: 1}
    assert world.trade(trade_id).strategy is StructureKind.IRON_CONDOR
    assert_book_consistent(world)


def test_cancel_and_resubmit_walking(tmp_path: Path) -> None:
    world = make_world(tmp_path, "execution.use_replace=false")
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-0.95"))
    assert trade_id is not None
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.OPEN)
    intent = entry_intent(world, trade_id)
    outcomes = [s.outcome for s in world.steps(intent.intent_id)]
    assert "cancel_requested" in outcomes and "resubmitted" in outcomes
    assert "replaced" not in outcomes
    records = world.records(intent.intent_id)
    assert [r.status for r in records[:-1]] == [OrderStatus.CANCELED] * (len(records) - 1)
    assert records[-1].status is OrderStatus.FILLED
    assert_book_consistent(world)


def test_open_trade_is_idempotent(world: World) -> None:
    cand = put_spread()
    decision = approve(cand, qty=1, bound="-0.95")
    first = world.service.open_trade(cand, decision)
    again = world.service.open_trade(cand, decision)
    assert first == again and first is not None
    assert len(world.exchange_orders()) == 1
    assert len(world.intents()) == 1


def test_a_rejected_order_cancels_the_trade_and_is_an_event(world: World) -> None:
    cand = candidate(
        [
            cleg("XYZ260320P00070000", PositionIntent.SELL_TO_OPEN, 0.5, 0.6),  # not listed
            cleg("XYZ260320P00065000", PositionIntent.BUY_TO_OPEN, 0.2, 0.3),
        ]
    )
    assert world.service.open_trade(cand, approve(cand, qty=1, bound="-0.2")) is None
    [trade] = [world.trade(i.trade_id) for i in world.intents()]
    assert trade.status is TradeStatus.CANCELED
    [intent] = world.intents()
    assert intent.status is OrderStatus.REJECTED
    [event] = world.events("order.rejected")
    assert "not found" in event.message
    assert "order.rejected" in world.alerts.titles(AlertLevel.WARNING)
    assert world.exchange_orders() == []


def test_dry_run_records_everything_and_sends_nothing(tmp_path: Path) -> None:
    world = make_world(tmp_path, "dry_run=true")
    cand = put_spread()
    assert world.service.open_trade(cand, approve(cand, qty=1, bound="-0.95")) is None
    [intent] = world.intents()
    assert intent.status is OrderStatus.NOT_SUBMITTED and intent.reason == "dry_run"
    [record] = world.records()
    assert record.status is OrderStatus.NOT_SUBMITTED and record.order_id is None
    trade = world.trade(intent.trade_id)
    assert trade.status is TradeStatus.CANCELED and "dry_run" in trade.reason_tags
    assert world.exchange_orders() == []
    assert world.service.work().working == 0
    assert_book_consistent(world)


def test_a_denied_decision_places_nothing(world: World) -> None:
    cand = put_spread()
    decision = approve(cand, qty=1, bound="-0.95")
    assert world.service.open_trade(cand, replace(decision, approved=False)) is None
    assert world.intents() == [] and world.exchange_orders() == []
