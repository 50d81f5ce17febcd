"""Monitoring scenarios on the simulator: the real engine, stepped minute by minute.

Each scenario opens a position the way the agent does (real strategy, real chain, risk,
execution), scripts the underlying (:class:`ScriptedSpot`: quotes and fills stay the
simulator's), runs ``Engine.monitor_cycle`` on a stepped clock, and ends with the book
invariants: the database's open legs equal the simulated broker's positions per symbol, and
every trade's P&L is the sum of its fills.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agent.domain import (
    ActivityType,
    BrokerOrder,
    ExitReason,
    OrderIntent,
    OrderPurpose,
    OrderStatus,
    Side,
    StructureKind,
    TradeStatus,
)
from agent.monitor import pending_manual_closes, request_manual_close
from agent.monitor.assigned import stock_sell_bound
from tests.integration.monitor.harness import MONDAY, Scenario, et, fill_cash, make_scenario

BPS = StructureKind.BULL_PUT_SPREAD
CSP = StructureKind.CASH_SECURED_PUT
IC = StructureKind.IRON_CONDOR

TUESDAY, WEDNESDAY, THURSDAY, FRIDAY = (MONDAY + timedelta(days=n) for n in range(1, 5))
NEXT_MONDAY = MONDAY + timedelta(days=7)

SHORT_SPREAD = (
    # SPY has daily expiries: a spread of about 10 days reaches its last week quickly
    "strategies.bull_put_spread.dte_min=8",
    "strategies.bull_put_spread.dte_max=14",
    "strategies.bull_put_spread.dte_target=10",
)


@pytest.fixture
def scenario_factory(tmp_path: Path) -> Iterator[object]:
    made: list[Scenario] = []

    def make(*overrides: str, early_assignment_prob: float = 0.0) -> Scenario:
        sc = make_scenario(tmp_path, *overrides, early_assignment_prob=early_assignment_prob)
        made.append(sc)
        return sc

    yield make
    for sc in made:
        sc.close()


def closed(sc: Scenario, trade_id: str) -> bool:
    return sc.trade(trade_id).status is TradeStatus.CLOSED


def assert_settled(sc: Scenario) -> None:
    """No order in flight, reconciliation finds no difference, the book equals the broker's."""
    assert all(i.status.is_terminal for i in sc.intents())
    report = sc.reconcile()
    assert report.differences == ()
    sc.assert_book_matches_broker()


def exit_intents(sc: Scenario, trade_id: str) -> list[OrderIntent]:
    return [i for i in sc.intents(trade_id) if i.purpose is OrderPurpose.CLOSE]


def broker_orders_of(sc: Scenario, purpose: OrderPurpose) -> list[BrokerOrder]:
    """The simulated exchange's orders placed for intents of ``purpose``."""
    with sc.world.store.transaction() as tx:
        cids = {
            r.client_order_id
            for i in tx.orders.list_intents()
            if i.purpose is purpose
            for r in tx.orders.list_orders(intent_id=i.intent_id)
        }
    return [o for o in sc.exchange.list_orders(status="all") if o.client_order_id in cids]


# --------------------------------------------------------------------------- (a) take-profit


def test_a_spread_hits_take_profit(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    sc: Scenario = scenario_factory(*SHORT_SPREAD)
    trade_id = sc.open(BPS, "SPY")
    credit = -sc.trade(trade_id).entry_net_price
    spot = sc.spot("SPY")
    sc.glide("SPY", [(sc.now() + timedelta(minutes=60), spot * 1.03)])  # a rally

    sc.until(lambda: closed(sc, trade_id), limit_minutes=120)

    exits = sc.exits_of(trade_id)
    assert [e.reason for e in exits] == [ExitReason.TAKE_PROFIT]
    fired = next(r for r in sc.reports if r.exits)
    mark = next(m for m in fired.marks if m.trade_id == trade_id)
    assert mark.captured_pct >= 50.0
    assert mark.close_net_mid <= credit / 2
    trade = sc.trade(trade_id)
    assert trade.exit_reason is ExitReason.TAKE_PROFIT
    assert trade.realized_pnl > 0
    (close,) = exit_intents(sc, trade_id)
    assert len(close.legs) == 2 and close.status is OrderStatus.FILLED  # one multi-leg order
    assert sc.alerts.matching("take_profit")
    assert sc.events("monitor.exit")
    assert_settled(sc)


# --------------------------------------------------------------------------- (b) stop-loss


def test_b_spread_hits_the_stop(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    sc: Scenario = scenario_factory(*SHORT_SPREAD)
    trade_id = sc.open(BPS, "SPY")
    credit = -sc.trade(trade_id).entry_net_price
    short = sc.short_strike(trade_id)
    sc.glide("SPY", [(sc.now() + timedelta(minutes=60), short - 2.0)])  # a sell-off

    sc.until(lambda: closed(sc, trade_id), limit_minutes=120)

    (exit_,) = sc.exits_of(trade_id)
    assert exit_.reason is ExitReason.STOP_LOSS and "cost to close at mid" in exit_.detail
    fired = next(r for r in sc.reports if r.exits)
    mark = next(m for m in fired.marks if m.trade_id == trade_id)
    assert mark.close_net_mid >= 2 * credit
    trade = sc.trade(trade_id)
    assert trade.exit_reason is ExitReason.STOP_LOSS and trade.realized_pnl < 0
    assert not sc.rolls_of(trade_id)  # a stop is never rolled
    assert sc.alerts.matching("stop_loss")
    assert_settled(sc)


# --------------------------------------------------------------------------- (c) condor breach


def test_c_condor_with_a_breached_side_is_closed(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    sc: Scenario = scenario_factory(
        "strategies.iron_condor.roll_tested_side=false",
        "strategies.iron_condor.stop_loss_multiple=4",  # let the breach rule speak first
    )
    trade_id = sc.open(IC, "SPY")
    call = sc.short_strike(trade_id, "call")
    sc.glide("SPY", [(sc.now() + timedelta(minutes=60), call + 1.0)])

    sc.until(lambda: closed(sc, trade_id), limit_minutes=120)

    (exit_,) = sc.exits_of(trade_id)
    assert exit_.reason is ExitReason.BREACH and "breached the short call" in exit_.detail
    fired = next(r for r in sc.reports if r.exits)
    mark = next(m for m in fired.marks if m.trade_id == trade_id)
    assert mark.breached is not None and mark.breached.value == "call"
    assert mark.spot > call and mark.short_distance_pct < 0
    trade = sc.trade(trade_id)
    assert trade.exit_reason is ExitReason.BREACH
    (close,) = exit_intents(sc, trade_id)
    assert len(close.legs) == 4  # the whole condor, one multi-leg order
    assert_settled(sc)


def test_c_condor_tested_side_is_rolled_as_one_four_leg_order(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    sc: Scenario = scenario_factory(
        "strategies.iron_condor.stop_loss_multiple=4",
        "strategies.iron_condor.dte_max=60",  # later expiries to roll to
        "strategies.iron_condor.roll_min_net_credit_usd=-3",  # a breached side costs to roll
    )
    trade_id = sc.open(IC, "SPY")
    held = {leg.symbol: leg for leg in sc.legs(trade_id)}
    calls = {s for s, leg in held.items() if leg.right is not None and leg.right.value == "call"}
    puts = set(held) - calls
    call = sc.short_strike(trade_id, "call")
    sc.glide("SPY", [(sc.now() + timedelta(minutes=60), call + 1.0)])

    def rolled() -> bool:
        return any(
            i.purpose is OrderPurpose.ROLL and i.status is OrderStatus.FILLED for i in sc.intents()
        )

    sc.until(rolled, limit_minutes=150)

    roll = sc.rolls_of(trade_id)[0]
    assert roll.reason is ExitReason.BREACH
    assert set(roll.close_symbols) == calls  # only the tested side
    candidate = roll.candidate
    assert candidate.purpose is OrderPurpose.ROLL and candidate.rolled_from_trade_id == trade_id
    assert len(candidate.legs) == 2 and all(
        leg.contract.right.value == "call" for leg in candidate.legs
    )
    assert all(leg.contract.expiry > held[next(iter(calls))].expiry for leg in candidate.legs)
    (intent,) = [
        i for i in sc.intents() if i.purpose is OrderPurpose.ROLL and i.status is OrderStatus.FILLED
    ]
    assert len(intent.legs) == 4 and intent.closes_trade_id == trade_id
    assert {leg.symbol for leg in intent.legs if not leg.position_intent.opens} == calls
    roll_orders = broker_orders_of(sc, OrderPurpose.ROLL)
    assert roll_orders and all(len(o.legs) == 4 for o in roll_orders)  # never legged
    assert [o.status for o in roll_orders].count(OrderStatus.FILLED) == 1
    new = sc.trade(intent.trade_id)
    assert new.rolled_from_trade_id == trade_id and new.status is TradeStatus.OPEN
    assert {leg.symbol for leg in sc.legs(new.trade_id)} == {leg.symbol for leg in candidate.legs}
    old = sc.trade(trade_id)
    assert old.status is TradeStatus.OPEN  # the untested side stays
    assert {leg.symbol for leg in sc.legs(trade_id)} == puts
    assert sc.alerts.matching("roll SPY iron_condor")
    assert_settled(sc)
    # The next passes mark both halves and find nothing wrong with them.
    report = sc.monitor()
    assert {m.trade_id for m in report.marks} >= {trade_id, new.trade_id}


# --------------------------------------------------------------------------- (d) roll for a credit


def test_d_threatened_spread_is_rolled_as_one_order_for_a_credit(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    sc: Scenario = scenario_factory(
        "strategies.bull_put_spread.dte_min=8",
        "strategies.bull_put_spread.dte_max=30",
        "strategies.bull_put_spread.dte_target=10",
        "strategies.bull_put_spread.threatened_delta=0.25",
    )
    trade_id = sc.open(BPS, "SPY")
    old_legs = {leg.symbol for leg in sc.legs(trade_id)}
    roll_day = FRIDAY  # 6 days before the 03-12 expiry: inside roll_dte 7
    sc.glide("SPY", [(et(roll_day, 10), 556.0)])
    for day in (TUESDAY, WEDNESDAY, THURSDAY):
        sc.at(et(day, 10))
        assert not sc.exits_of(trade_id) and not sc.rolls_of(trade_id)
    sc.clock.set(et(roll_day, 10))

    sc.until(lambda: closed(sc, trade_id), limit_minutes=60)

    (roll,) = sc.rolls_of(trade_id)
    assert roll.reason is ExitReason.EXPIRY_APPROACHING and "for a net credit" in roll.detail
    assert not sc.exits_of(trade_id)
    candidate = roll.candidate
    assert set(roll.close_symbols) == old_legs
    assert candidate.net_price_natural < 0  # the whole roll order is a credit, conservatively
    assert candidate.net_price_mid <= candidate.net_price_natural
    (intent,) = [i for i in sc.intents() if i.purpose is OrderPurpose.ROLL]
    assert intent.status is OrderStatus.FILLED and len(intent.legs) == 4
    assert intent.natural_price == candidate.net_price_natural
    roll_orders = broker_orders_of(sc, OrderPurpose.ROLL)
    assert roll_orders and all(len(o.legs) == 4 for o in roll_orders)  # one order, never legged
    (filled,) = [o for o in roll_orders if o.status is OrderStatus.FILLED]
    assert filled.filled_avg_price is not None and filled.filled_avg_price < 0  # for a credit
    old = sc.trade(trade_id)
    assert old.exit_reason is ExitReason.ROLLED
    new = sc.trade(intent.trade_id)
    assert new.status is TradeStatus.OPEN and new.rolled_from_trade_id == trade_id
    new_legs = sc.legs(new.trade_id)
    assert {leg.symbol for leg in new_legs} == set(candidate.symbols)
    # The new trade's entry price is its own legs' (not the whole roll order's).
    assert new.entry_net_price == sum(
        (leg.side.sign * leg.entry_price for leg in new_legs), Decimal(0)
    )
    assert sc.alerts.matching("roll SPY bull_put_spread")
    assert_settled(sc)


# --------------------------------------------------------------------------- (e) no roll: close


def test_e_spread_that_cannot_be_rolled_is_closed(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    sc: Scenario = scenario_factory(
        *SHORT_SPREAD, "strategies.bull_put_spread.stop_loss_multiple=3"
    )
    trade_id = sc.open(BPS, "SPY")
    short = sc.short_strike(trade_id)
    sc.glide("SPY", [(et(FRIDAY, 10), short + 1.0)])  # threatened: |delta| ≥ 0.40
    for day in (TUESDAY, WEDNESDAY, THURSDAY):
        sc.at(et(day, 10))
    sc.clock.set(et(FRIDAY, 10))

    sc.until(lambda: closed(sc, trade_id), limit_minutes=60)

    (exit_,) = sc.exits_of(trade_id)
    assert exit_.reason is ExitReason.EXPIRY_APPROACHING
    assert "roll" in exit_.detail and "no acceptable roll" in exit_.detail
    assert not sc.rolls_of(trade_id)
    assert not [i for i in sc.intents() if i.purpose is OrderPurpose.ROLL]
    trade = sc.trade(trade_id)
    assert trade.exit_reason is ExitReason.EXPIRY_APPROACHING
    assert_settled(sc)


# --------------------------------------------------------------------------- (f) CSP assigned


def test_f_csp_assigned_at_expiry_and_its_stock_sold_with_a_limit(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    sc: Scenario = scenario_factory(
        "strategies.cash_secured_put.dte_min=3",
        "strategies.cash_secured_put.dte_max=9",
        "strategies.cash_secured_put.dte_target=5",
        "strategies.cash_secured_put.min_premium_usd=0.05",
        "strategies.cash_secured_put.short_delta_min=-0.45",  # XLF lists dollar strikes
        "strategies.cash_secured_put.take_profit_pct=95",
        "strategies.cash_secured_put.stop_loss_multiple=10",
        "strategies.cash_secured_put.assigned_stock_action=sell_limit",
        "risk.risk_per_trade_pct=6",
    )
    trade_id = sc.open(CSP, "XLF")
    (put,) = sc.legs(trade_id)
    assert put.expiry == FRIDAY
    strike = float(put.strike or 0)
    premium = put.entry_price * 100 * put.qty
    sc.glide("XLF", [(et(THURSDAY, 10), strike - 0.05), (et(FRIDAY, 15, 59), strike - 0.30)])
    for day in (TUESDAY, WEDNESDAY, THURSDAY, FRIDAY):
        sc.at(et(day, 10))
        assert not sc.exits_of(trade_id)  # assignment accepted: no expiry exit
    sc.at(et(FRIDAY, 15, 30))

    report = sc.after_close(FRIDAY)  # the exchange assigns; reconcile books it

    assert report.activities >= 2
    activities = sc.exchange.get_activities()
    assert {a.activity_type for a in activities} >= {
        ActivityType.OPTION_ASSIGNMENT,
        ActivityType.OPTION_TRADE,
    }
    (stock,) = sc.legs(trade_id)
    assert stock.symbol == "XLF" and stock.side is Side.BUY and stock.qty == 100 * put.qty
    assert sc.trade(trade_id).status is TradeStatus.OPEN
    sc.assert_book_matches_broker()

    sc.clock.set(et(NEXT_MONDAY, 9, 35))
    first = sc.monitor()
    (sale,) = first.single_legs
    assert sale.symbol == "XLF" and sale.side is Side.SELL and sale.qty == stock.qty
    snapshot = sc.services.market.snapshots(["XLF"])["XLF"]
    assert sale.limit_bound == stock_sell_bound(snapshot.bid)
    assert sc.alerts.matching("assignment") and sc.alerts.matching("sell 100 XLF")
    sc.until(lambda: closed(sc, trade_id), limit_minutes=30)

    trade = sc.trade(trade_id)
    assert trade.exit_reason is ExitReason.ASSIGNED
    fills = sc.fills(trade_id)
    stock_sale = [f for f in fills if f.symbol == "XLF" and f.side is Side.SELL]
    assert stock_sale and all(f.price >= sale.limit_bound for f in stock_sale)
    bought = next(f for f in fills if f.symbol == "XLF" and f.side is Side.BUY)
    assert bought.price == Decimal(str(strike)) or float(bought.price) == strike
    expected = premium + sum(((f.price - bought.price) * f.qty for f in stock_sale), Decimal(0))
    assert trade.realized_pnl == fill_cash(fills) == expected
    assert_settled(sc)


# --------------------------------------------------------------------------- (g) early assignment


def test_g_spread_broken_by_an_early_assignment_is_closed_leg_by_leg(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    sc: Scenario = scenario_factory(*SHORT_SPREAD, early_assignment_prob=1.0)
    trade_id = sc.open(BPS, "SPY")
    short = sc.short_strike(trade_id)
    # A quiet day, then a late sell-off after the last pass: the short put ends deep in the
    # money with no time value left, and the exchange assigns it at the close.
    spot = sc.spot("SPY")
    sc.glide("SPY", [(et(TUESDAY, 15, 30), spot), (et(TUESDAY, 15, 55), short * 0.90)])
    sc.at(et(TUESDAY, 15, 30))
    assert not sc.exits_of(trade_id)

    report = sc.after_close(TUESDAY)

    assert report.activities >= 2
    kinds = [a.activity_type for a in sc.exchange.get_activities()]
    assert ActivityType.OPTION_ASSIGNMENT in kinds
    left = {leg.symbol: leg for leg in sc.legs(trade_id)}
    assert "SPY" in left and left["SPY"].side is Side.BUY  # shares delivered
    assert len(left) == 2  # the long put and the shares
    sc.assert_book_matches_broker()

    sc.clock.set(et(WEDNESDAY, 9, 35))
    first = sc.monitor()
    (exit_,) = first.exits
    assert exit_.reason is ExitReason.ASSIGNED and "leg by leg" in exit_.detail
    sc.until(lambda: closed(sc, trade_id), limit_minutes=30)

    closes = exit_intents(sc, trade_id)
    assert closes and all(len(i.legs) == 1 for i in closes)  # single-leg clean-up
    assert {i.legs[0].symbol for i in closes} == set(left)
    trade = sc.trade(trade_id)
    assert trade.exit_reason is ExitReason.ASSIGNED
    assert trade.realized_pnl == fill_cash(sc.fills(trade_id))
    assert sc.alerts.matching("assignment")
    assert_settled(sc)


# --------------------------------------------------------------------------- (h) pin risk


def test_h_pinned_spread_is_closed_before_the_cutoff(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    sc: Scenario = scenario_factory(
        *SHORT_SPREAD,
        "strategies.bull_put_spread.roll_dte=0",  # held into the expiry day
        # on its last morning a spread just out of the money is cheap and dear at once: let
        # the pin rule, not take-profit or the stop, decide
        "strategies.bull_put_spread.take_profit_pct=90",
        "strategies.bull_put_spread.stop_loss_multiple=3",
    )
    trade_id = sc.open(BPS, "SPY")
    (expiry,) = {leg.expiry for leg in sc.legs(trade_id)}
    assert expiry == date(2026, 3, 12)
    short = sc.short_strike(trade_id)
    for day in (TUESDAY, WEDNESDAY):
        sc.at(et(day, 10))
    sc.at(et(date(2026, 3, 11), 15, 30))
    sc.glide("SPY", [(et(expiry, 9, 45), round(short * 1.003, 2))])  # pinned just above it
    sc.clock.set(et(expiry, 9, 30))

    sc.until(lambda: closed(sc, trade_id), limit_minutes=120)

    (exit_,) = sc.exits_of(trade_id)
    assert exit_.reason is ExitReason.PIN_RISK and "expires today" in exit_.detail
    trade = sc.trade(trade_id)
    assert trade.exit_reason is ExitReason.PIN_RISK
    assert trade.closed_at is not None and trade.closed_at < et(expiry, 15)
    cutoff = sc.world.calendar.same_day_expiry_cutoff("SPY", expiry)
    assert cutoff is not None and trade.closed_at < cutoff
    sc.after_close(expiry)
    ours = {leg.symbol for leg in sc.legs(trade_id, open_only=False)}
    settled = [a for a in sc.exchange.get_activities() if a.symbol in ours]
    assert not [
        a
        for a in settled
        if a.activity_type
        in (
            ActivityType.OPTION_EXPIRY,
            ActivityType.OPTION_ASSIGNMENT,
            ActivityType.OPTION_EXERCISE,
        )
    ]
    assert sc.alerts.matching("pin_risk")
    assert_settled(sc)


# --------------------------------------------------------------------------- manual, halted


def test_manual_close_goes_through_the_same_execution_path(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    sc: Scenario = scenario_factory(*SHORT_SPREAD)
    trade_id = sc.open(BPS, "SPY")
    assert request_manual_close(sc.world.store, trade_id, "operator: reduce SPY", at=sc.now())

    sc.until(lambda: closed(sc, trade_id), limit_minutes=30)

    (exit_,) = sc.exits_of(trade_id)
    assert exit_.reason is ExitReason.MANUAL and "operator: reduce SPY" in exit_.detail
    (close,) = exit_intents(sc, trade_id)
    assert len(close.legs) == 2 and close.reason.startswith("manual:")
    assert sc.trade(trade_id).exit_reason is ExitReason.MANUAL
    with sc.world.store.transaction() as tx:
        assert pending_manual_closes(tx) == {}  # dropped once the trade is gone
    sc.monitor()
    with sc.world.store.transaction() as tx:
        assert pending_manual_closes(tx) == {}
    assert_settled(sc)


def test_halted_book_still_proposes_the_roll_and_closes_when_risk_denies_it(
    scenario_factory,
) -> None:  # type: ignore[no-untyped-def]
    sc: Scenario = scenario_factory(
        "strategies.bull_put_spread.dte_min=8",
        "strategies.bull_put_spread.dte_max=30",
        "strategies.bull_put_spread.dte_target=10",
        "strategies.bull_put_spread.threatened_delta=0.25",
    )
    trade_id = sc.open(BPS, "SPY")
    sc.glide("SPY", [(et(FRIDAY, 10), 556.0)])
    sc.at(et(THURSDAY, 10))
    sc.services.risk.halt("operator halt")
    sc.clock.set(et(FRIDAY, 10))

    sc.until(lambda: closed(sc, trade_id), limit_minutes=60)

    (roll,) = sc.rolls_of(trade_id)  # proposed: risk decides
    assert roll.reason is ExitReason.EXPIRY_APPROACHING
    assert not [i for i in sc.intents() if i.purpose is OrderPurpose.ROLL]
    (close,) = exit_intents(sc, trade_id)
    assert "roll denied by risk" in close.reason
    assert sc.trade(trade_id).exit_reason is ExitReason.EXPIRY_APPROACHING
    assert_settled(sc)


def test_b_stop_with_bad_quotes_fires_only_on_clean_marks(scenario_factory) -> None:  # type: ignore[no-untyped-def]
    # 10 % of the simulator's quotes are broken (stale, crossed or zero bid): marks record
    # them as problems and no rule fires on such a mark.
    sc: Scenario = scenario_factory(*SHORT_SPREAD, "sim.bad_quote_rate=0.10")
    trade_id = sc.open(BPS, "SPY")
    short = sc.short_strike(trade_id)
    sc.glide("SPY", [(sc.now() + timedelta(minutes=60), short - 2.0)])

    sc.until(lambda: closed(sc, trade_id), limit_minutes=120)

    marks = [m for r in sc.reports for m in r.marks if m.trade_id == trade_id]
    assert any(m.quote_problems for m in marks)  # garbage was seen…
    for report in sc.reports:
        for exit_ in report.exits:
            (mark,) = [m for m in report.marks if m.trade_id == exit_.trade_id]
            assert mark.quote_problems == ()  # …and never acted on
    assert sc.trade(trade_id).exit_reason is ExitReason.STOP_LOSS
    assert_settled(sc)
