"""End of session: DAY expiry (regular and early close), option expiry, early assignment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from agent.domain import ActivityType, OrderStatus, PositionIntent, Side
from tests.unit.sim.conftest import (
    ABC,
    ABC_P50,
    EXPIRY,
    MONDAY,
    XYZ,
    XYZ_C105,
    XYZ_P90,
    XYZ_P95,
    World,
    et,
    make_world,
    put_spread,
    single,
)

THANKSGIVING_FRIDAY = date(2026, 11, 27)
"""An early close (13:00 ET) and a Friday expiry."""


def types(world: World) -> list[ActivityType]:
    return [a.activity_type for a in world.exchange.get_activities()]


def positions(world: World) -> dict[str, int]:
    return {p.symbol: p.qty for p in world.exchange.get_positions()}


def test_day_orders_expire_at_the_close(world: World) -> None:
    resting = world.exchange.submit_order(put_spread("rest", limit="-1.20"))
    world.go(et(MONDAY, 15, 59))
    assert world.exchange.get_order(resting.order_id).status is OrderStatus.NEW
    world.go(et(MONDAY, 16))
    expired = world.exchange.get_order(resting.order_id)
    assert expired.status is OrderStatus.EXPIRED and expired.updated_at == et(MONDAY, 16)
    assert world.exchange.list_orders() == []


def test_partially_filled_order_expires_with_its_fills() -> None:
    world = make_world(partial_fill_prob=1.0)
    order = world.exchange.submit_order(put_spread("c", limit="-0.95", qty=10))
    world.step()
    world.quotes.set_quote(XYZ_P95, 1.30, 1.40, at=world.clock.now())  # market moves away
    world.go(et(MONDAY, 17))
    expired = world.exchange.get_order(order.order_id)
    assert expired.status is OrderStatus.EXPIRED and 0 < expired.filled_qty < 10
    assert positions(world)[XYZ_P90] == expired.filled_qty


def test_early_close_expires_orders_and_options_at_13_00() -> None:
    put = "XYZ261127P00090000"
    world = make_world(start=et(THANKSGIVING_FRIDAY, 11))
    december = "XYZ261218P00090000"
    world.quotes.set_quote(put, 0.20, 0.25)
    world.quotes.set_quote(december, 1.00, 1.10)
    world.exchange.submit_order(single("long", put, PositionIntent.BUY_TO_OPEN, "0.25"))
    resting = world.exchange.submit_order(
        single("rest", december, PositionIntent.BUY_TO_OPEN, "0.50")
    )
    world.step()
    assert positions(world) == {put: 1}
    world.go(et(THANKSGIVING_FRIDAY, 12, 59))
    assert world.exchange.get_order(resting.order_id).status is OrderStatus.NEW
    world.go(et(THANKSGIVING_FRIDAY, 13))
    assert world.exchange.get_order(resting.order_id).status is OrderStatus.EXPIRED
    expiry = world.exchange.get_activities(types=[ActivityType.OPTION_EXPIRY])
    assert [(a.symbol, a.qty, a.occurred_at) for a in expiry] == [
        (put, Decimal(1), et(THANKSGIVING_FRIDAY, 13))
    ]
    assert positions(world) == {}


def test_otm_options_expire_worthless(world: World) -> None:
    world.exchange.submit_order(put_spread("c", limit="-1.00"))
    world.step()
    cash = world.exchange.get_account().cash
    world.go(et(EXPIRY, 16))
    assert positions(world) == {}
    expiries = world.exchange.get_activities(types=[ActivityType.OPTION_EXPIRY])
    assert {(a.symbol, a.qty, a.net_amount) for a in expiries} == {
        (XYZ_P90, Decimal(1), Decimal(0)),
        (XYZ_P95, Decimal(-1), Decimal(0)),
    }
    account = world.exchange.get_account()
    assert account.cash == cash == account.equity == account.last_equity


def test_itm_short_put_is_assigned_at_expiry(world: World) -> None:
    world.exchange.submit_order(single("csp", ABC_P50, PositionIntent.SELL_TO_OPEN, "-1.00"))
    world.step()
    world.quotes.set_underlying(ABC, 45.0, at=et(EXPIRY, 15, 50))
    world.quotes.set_quote(ABC, 44.99, 45.01, at=et(EXPIRY, 15, 50))
    world.go(et(EXPIRY, 17))
    assert positions(world) == {ABC: 100}
    position = world.exchange.get_positions()[0]
    assert position.avg_entry_price == Decimal(50)
    assignment, trade = world.exchange.get_activities(
        types=[ActivityType.OPTION_ASSIGNMENT, ActivityType.OPTION_TRADE]
    )
    assert assignment.activity_type is ActivityType.OPTION_ASSIGNMENT
    assert (assignment.symbol, assignment.qty, assignment.net_amount) == (ABC_P50, 1, 0)
    assert trade.activity_type is ActivityType.OPTION_TRADE
    assert (trade.symbol, trade.qty, trade.price, trade.net_amount, trade.side) == (
        ABC,
        Decimal(100),
        Decimal(50),
        Decimal(-5_000),
        Side.BUY,
    )
    assert trade.activity_id > assignment.activity_id
    account = world.exchange.get_account()
    assert account.cash == Decimal(100_100 - 5_000)
    assert account.equity == account.cash + 100 * Decimal(45)


def test_itm_long_call_is_exercised_at_expiry(world: World) -> None:
    world.exchange.submit_order(single("call", XYZ_C105, PositionIntent.BUY_TO_OPEN, "1.30"))
    world.step()
    world.quotes.set_underlying(XYZ, 112.0, at=et(EXPIRY, 15))
    world.go(et(EXPIRY, 16))
    exercise, trade = world.exchange.get_activities(
        types=[ActivityType.OPTION_EXERCISE, ActivityType.OPTION_TRADE]
    )
    assert exercise.activity_type is ActivityType.OPTION_EXERCISE and exercise.symbol == XYZ_C105
    assert (trade.qty, trade.price, trade.net_amount) == (100, 105, -10_500)
    assert positions(world) == {XYZ: 100}
    assert world.exchange.get_account().cash == Decimal(100_000 - 130 - 10_500)


def test_in_the_money_spread_nets_its_deliveries(world: World) -> None:
    world.exchange.submit_order(put_spread("c", limit="-1.00"))
    world.step()
    world.quotes.set_underlying(XYZ, 80.0, at=et(EXPIRY, 15))
    world.go(et(EXPIRY, 16))
    assert positions(world) == {}  # +100 shares assigned at 95, −100 delivered at 90
    assert world.exchange.get_account().cash == Decimal(100_100 - 500)
    assert types(world).count(ActivityType.OPTION_TRADE) == 2


def test_exercise_needs_a_full_cent_in_the_money(world: World) -> None:
    world.exchange.submit_order(single("csp", ABC_P50, PositionIntent.SELL_TO_OPEN, "-1.00"))
    world.step()
    world.quotes.set_underlying(ABC, 49.995, at=et(EXPIRY, 15))
    world.go(et(EXPIRY, 16))
    assert ActivityType.OPTION_EXPIRY in types(world)
    assert positions(world) == {}


def _deep_itm_short_put(**knobs: object) -> World:
    world = make_world(**knobs)  # type: ignore[arg-type]
    world.quotes.set_underlying(ABC, 40.0)
    world.quotes.set_quote(ABC_P50, 10.00, 10.04)  # mid 10.02: extrinsic 0.02
    world.exchange.submit_order(single("csp", ABC_P50, PositionIntent.SELL_TO_OPEN, "-10.00"))
    world.step()
    assert positions(world) == {ABC_P50: -1}
    return world


def test_deep_itm_short_put_is_assigned_early() -> None:
    world = _deep_itm_short_put(early_assignment_prob=1.0)
    world.go(et(MONDAY, 16))
    assert positions(world) == {ABC: 100}
    kinds = types(world)
    assert kinds[-2:] == [ActivityType.OPTION_ASSIGNMENT, ActivityType.OPTION_TRADE]
    assignment = world.exchange.get_activities(types=[ActivityType.OPTION_ASSIGNMENT])[0]
    assert assignment.occurred_on == MONDAY and "early" in assignment.description


def test_no_early_assignment_with_time_value_or_zero_probability() -> None:
    never = _deep_itm_short_put(early_assignment_prob=0.0)
    never.go(et(MONDAY, 17))
    assert positions(never) == {ABC_P50: -1}
    rich = _deep_itm_short_put(early_assignment_prob=1.0)
    rich.quotes.set_quote(ABC_P50, 10.20, 10.40, at=et(MONDAY, 12))  # extrinsic 0.30
    rich.go(et(MONDAY, 17))
    assert positions(rich) == {ABC_P50: -1}


def test_early_assignment_draw_is_seeded() -> None:
    def assigned_on(seed: int) -> date | None:
        world = _deep_itm_short_put(seed=seed, early_assignment_prob=0.3)
        world.go(et(EXPIRY, 12))
        found = world.exchange.get_activities(types=[ActivityType.OPTION_ASSIGNMENT])
        return found[0].occurred_on if found else None

    assert assigned_on(5) == assigned_on(5)
    assert len({assigned_on(seed) for seed in range(1, 8)}) > 1


def test_last_equity_is_the_previous_close(world: World) -> None:
    world.exchange.submit_order(put_spread("c", limit="-1.00"))
    world.step()
    world.go(et(MONDAY, 17))
    close_equity = world.exchange.get_account().equity
    assert world.exchange.get_account().last_equity == close_equity
    world.quotes.set_quote(XYZ_P95, 2.50, 2.60, at=et(MONDAY, 23))
    world.go(et(date(2026, 3, 3), 11))
    account = world.exchange.get_account()
    assert account.last_equity == close_equity and account.equity == close_equity - 100
    assert XYZ_P95 in positions(world)


def test_activity_ids_are_sortable_unique_and_cursorable(world: World) -> None:
    world.exchange.submit_order(put_spread("c", limit="-1.00"))
    world.exchange.submit_order(single("call", XYZ_C105, PositionIntent.BUY_TO_OPEN, "1.30"))
    world.step()
    world.go(et(EXPIRY, 16))
    activities = world.exchange.get_activities()
    ids = [a.activity_id for a in activities]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == 6
    assert all(len(i.split("::")[0]) == 17 for i in ids)
    assert ids[0].startswith("20260302150100")  # 10:01 ET = 15:01 UTC
    after = world.exchange.get_activities(after_id=ids[2])
    assert [a.activity_id for a in after] == ids[3:]
    assert world.exchange.get_activities(after_id=ids[-1]) == []
    fills_only = world.exchange.get_activities(after_id=ids[0], types=[ActivityType.FILL])
    assert [a.activity_id for a in fills_only] == ids[1:3]
