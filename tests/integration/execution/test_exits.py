"""Exits, rolls, flatten and the end-of-day clean-up against the simulated exchange."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from agent.domain import (
    AlertLevel,
    ExitAction,
    ExitReason,
    OrderPurpose,
    OrderStatus,
    PositionIntent,
    RollAction,
    StructureKind,
    TradeStatus,
)
from tests.integration.execution.harness import (
    APR_P85,
    APR_P90,
    P90,
    P95,
    World,
    approve,
    assert_book_consistent,
    candidate,
    cleg,
    make_world,
    put_spread,
)


def open_spread(world: World, qty: int = 1) -> str:
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=qty, bound="-0.95"))
    assert trade_id is not None
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.OPEN)
    return trade_id


def take_profit(trade_id: str) -> ExitAction:
    return ExitAction(trade_id=trade_id, reason=ExitReason.TAKE_PROFIT, detail="50% captured")


def test_an_exit_walks_and_closes_the_trade(world: World) -> None:
    trade_id = open_spread(world, qty=2)
    world.quotes.set_quote(P95, 0.60, 0.70, at=world.clock.now())
    world.quotes.set_quote(P90, 0.10, 0.15, at=world.clock.now())
    intent_id = world.service.close_trade(take_profit(trade_id))
    assert intent_id is not None
    assert world.trade(trade_id).status is TradeStatus.CLOSING
    # Already closing: a second exit is a no-op.
    assert world.service.close_trade(take_profit(trade_id)) is None
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.CLOSED)
    trade = world.trade(trade_id)
    assert trade.exit_reason is ExitReason.TAKE_PROFIT
    fills = world.fills(trade_id)
    assert trade.realized_pnl == sum(
        (-f.side.sign * f.qty * f.price * 100 for f in fills), Decimal(0)
    )
    assert trade.exit_net_price is not None and trade.exit_net_price > 0  # paid to close
    assert trade.pnl_pct == float(trade.realized_pnl / trade.capital_usd * 100)
    assert trade.days_held is not None and trade.days_held >= 0
    assert world.our_positions() == {} == world.broker_positions()
    assert world.service.close_trade(take_profit(trade_id)) is None  # closed: no-op
    exit_summary = trade.execution["exit"]
    assert isinstance(exit_summary, dict) and exit_summary["status"] == "filled"
    assert_book_consistent(world)


def test_an_exit_that_cannot_fill_is_resubmitted_then_alerts_and_keeps_working(
    tmp_path: Path,
) -> None:
    world = make_world(
        tmp_path,
        "execution.fill_timeout_s=120",
        "execution.max_submit_attempts=2",
    )
    trade_id = open_spread(world)
    # The service sees a normal book; at the exchange one leg's book is crossed: no fill.
    world.fixed_quotes = {P95: (1.50, 1.60), P90: (0.40, 0.50)}
    world.quotes.set_quote(P90, 0.60, 0.50, at=world.clock.now())
    intent_id = world.service.close_trade(take_profit(trade_id))
    assert intent_id is not None
    world.run(400)
    steps = world.steps(intent_id)
    outcomes = [s.outcome for s in steps]
    assert outcomes.count("submitted") == 2  # two rounds
    assert outcomes.count("timeout") == 1
    assert outcomes.count("attempts_exhausted") == 1
    assert "exit.attempts_exhausted" in world.alerts.titles(AlertLevel.CRITICAL)
    # The last order keeps working, at (or tracking) the natural price.
    [working] = world.exchange.list_orders(status="open")
    assert working.limit_price == Decimal("1.20")
    assert world.trade(trade_id).status is TradeStatus.CLOSING
    # The book clears: it fills and the trade closes.
    world.quotes.set_quote(P90, 0.40, 0.50, at=world.clock.now())
    world.fixed_quotes = None
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.CLOSED)
    assert_book_consistent(world)


def test_a_roll_is_one_four_leg_order_that_closes_the_old_trade(world: World) -> None:
    trade_id = open_spread(world)
    opening = candidate(
        [
            cleg(APR_P90, PositionIntent.SELL_TO_OPEN, 1.40, 1.50),
            cleg(APR_P85, PositionIntent.BUY_TO_OPEN, 0.70, 0.80),
        ]
    )
    # Prices of the whole roll order: buy back 95/90 (debit 1.20 natural) and sell the April
    # 90/85 (credit 0.60 natural): net natural debit 0.60, mid 0.40.
    roll_candidate = replace(
        opening, net_price_natural=Decimal("0.60"), net_price_mid=Decimal("0.40")
    )
    roll = RollAction(
        trade_id=trade_id,
        candidate=roll_candidate,
        close_symbols=(P95, P90),
        reason=ExitReason.EXPIRY_APPROACHING,
        detail="7 DTE",
    )
    intent_id = world.service.roll_trade(roll, approve(roll_candidate, qty=1, bound="0.60"))
    assert intent_id is not None
    [roll_order] = world.exchange.list_orders(status="open")
    assert len(roll_order.legs) == 4
    assert world.trade(trade_id).status is TradeStatus.CLOSING
    [intent] = [i for i in world.intents() if i.intent_id == intent_id]
    assert intent.purpose is OrderPurpose.ROLL and intent.closes_trade_id == trade_id
    new_id = intent.trade_id
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.CLOSED)
    old, new = world.trade(trade_id), world.trade(new_id)
    assert old.exit_reason is ExitReason.ROLLED
    assert new.status is TradeStatus.OPEN and new.rolled_from_trade_id == trade_id
    assert world.our_positions() == {APR_P90: -1, APR_P85: 1} == world.broker_positions()
    assert_book_consistent(world)


def test_flatten_cancels_entries_and_closes_open_trades(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    opened = open_spread(world)
    # A second entry that cannot fill (bound far beyond the market).
    cand = put_spread()
    pending = world.service.open_trade(cand, approve(cand, qty=1, bound="-2.00"))
    assert pending is not None
    assert world.service.flatten() == 2
    assert world.trade(pending).status is TradeStatus.CANCELED
    assert world.trade(opened).status is TradeStatus.CLOSING
    world.run_until(lambda: world.trade(opened).status is TradeStatus.CLOSED)
    assert world.trade(opened).exit_reason is ExitReason.FLATTEN
    assert world.our_positions() == {} == world.broker_positions()
    assert_book_consistent(world)


def test_end_of_day_cancels_our_working_orders(world: World) -> None:
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-2.00"))
    assert trade_id is not None
    assert world.service.end_of_day() == 1
    assert world.trade(trade_id).status is TradeStatus.CANCELED
    [intent] = world.intents(trade_id)
    assert intent.status is OrderStatus.CANCELED
    assert world.steps(intent.intent_id)[-2].outcome == "eod_cancel"
    assert world.exchange.list_orders(status="open") == []
    assert world.service.end_of_day() == 0
    assert_book_consistent(world)


def test_an_exit_of_a_trade_whose_order_expired_returns_it_to_open(world: World) -> None:
    trade_id = open_spread(world)
    world.fixed_quotes = {P95: (1.50, 1.60), P90: (0.40, 0.50)}
    world.quotes.set_quote(P90, 0.60, 0.50, at=world.clock.now())  # crossed: never fills
    intent_id = world.service.close_trade(take_profit(trade_id))
    assert intent_id is not None
    # Let the day end without the end-of-day clean-up: the broker expires the DAY order.
    close = world.clock.now().replace(hour=21, minute=5)
    world.clock.set(close)
    world.exchange.advance_to(close)
    world.service.work()
    [intent] = [i for i in world.intents() if i.intent_id == intent_id]
    assert intent.status is OrderStatus.EXPIRED
    assert world.trade(trade_id).status is TradeStatus.OPEN
    assert world.events("exit.incomplete")
    assert_book_consistent(world)


def test_a_single_leg_exit_uses_the_touch_price(world: World) -> None:
    from tests.integration.execution.harness import ABC_P50, csp

    cand = csp()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-0.90"))
    assert trade_id is not None
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.OPEN)
    world.quotes.set_quote(ABC_P50, 0.40, 0.50, at=world.clock.now())
    intent_id = world.service.close_trade(
        ExitAction(trade_id=trade_id, reason=ExitReason.STOP_LOSS, detail="test")
    )
    assert intent_id is not None
    [intent] = [i for i in world.intents() if i.intent_id == intent_id]
    # 105 % of the 0.50 ask is 0.525: the bound of a touch-priced exit, rounded down to a tick.
    assert intent.start_price == Decimal("0.52")
    assert intent.structure is StructureKind.CASH_SECURED_PUT
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.CLOSED)
    assert world.trade(trade_id).exit_reason is ExitReason.STOP_LOSS
    assert world.trade(trade_id).realized_pnl == Decimal(50)
    assert_book_consistent(world)


def test_a_roll_that_times_out_leaves_the_old_trade_open(tmp_path: Path) -> None:
    world = make_world(tmp_path, fill_rate_per_min=0.0)
    world.quotes.set_quote(P95, 1.50, 1.60)
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-0.95"))
    assert trade_id is not None
    # fill_rate 0: the entry fills only when the walk reaches the natural (-1.00).
    world.run_until(lambda: world.trade(trade_id).status is TradeStatus.OPEN)
    opening = candidate(
        [
            cleg(APR_P90, PositionIntent.SELL_TO_OPEN, 1.40, 1.50),
            cleg(APR_P85, PositionIntent.BUY_TO_OPEN, 0.70, 0.80),
        ]
    )
    roll_candidate = replace(
        opening, net_price_natural=Decimal("0.60"), net_price_mid=Decimal("0.40")
    )
    roll = RollAction(
        trade_id=trade_id,
        candidate=roll_candidate,
        close_symbols=(P95, P90),
        reason=ExitReason.BREACH,
        detail="tested",
    )
    # Risk allows at most a 0.45 debit: short of the natural, so it never fills.
    intent_id = world.service.roll_trade(roll, approve(roll_candidate, qty=1, bound="0.45"))
    assert intent_id is not None
    world.run(330)
    [intent] = [i for i in world.intents() if i.intent_id == intent_id]
    assert intent.status is OrderStatus.CANCELED
    assert world.trade(trade_id).status is TradeStatus.OPEN
    assert world.trade(intent.trade_id).status is TradeStatus.CANCELED
    assert world.our_positions() == {P95: -1, P90: 1} == world.broker_positions()
    assert_book_consistent(world)
