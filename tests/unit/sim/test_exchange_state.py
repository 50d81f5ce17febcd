"""State: snapshot/restore identity, atomic save, idle time is free, thread safety."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.sim.exchange import SimExchange
from agent.adapters.sim.exchange_scripted import ScriptedQuotes
from agent.calendar import market_calendar
from agent.clock import SimClock
from agent.domain import OrderStatus, PositionIntent
from agent.errors import OrderRejected
from tests.unit.sim.conftest import (
    ABC,
    ABC_P50,
    EXPIRY,
    MONDAY,
    XYZ,
    XYZ_C105,
    XYZ_P95,
    World,
    et,
    make_world,
    put_spread,
    script_default_market,
    single,
)

TUESDAY = date(2026, 3, 3)
WEDNESDAY = date(2026, 3, 4)


def scripted_market() -> ScriptedQuotes:
    """The default chain plus a price path: ABC sinks (early assignment, then expiry ITM)."""
    quotes = ScriptedQuotes()
    script_default_market(quotes)
    quotes.set_quote(XYZ_P95, 1.45, 1.60, at=et(MONDAY, 10, 20))
    quotes.set_underlying(ABC, 44.0, at=et(WEDNESDAY, 9, 30))
    quotes.set_quote(ABC_P50, 5.99, 6.03, at=et(WEDNESDAY, 9, 30))
    quotes.set_underlying(XYZ, 107.0, at=et(EXPIRY, 12))
    return quotes


def scenario(world: World, checkpoint: Callable[[World], World]) -> World:
    """A few days of orders, partial fills, replaces, cancels, expiries and assignments."""
    ex = world.exchange
    spread = ex.submit_order(put_spread("spread", limit="-1.04", qty=6))
    csp = ex.submit_order(single("csp", ABC_P50, PositionIntent.SELL_TO_OPEN, "-1.08", 4))
    ex.submit_order(single("call", XYZ_C105, PositionIntent.BUY_TO_OPEN, "1.27", 3))
    world.step(7)
    if world.exchange.get_order(csp.order_id).status.is_working:
        world.exchange.replace_order(
            csp.order_id, limit_price=Decimal("-1.04"), client_order_id="csp-2"
        )
    world.step(25)
    world = checkpoint(world)  # mid-session, orders still working
    world.step(13)
    if world.exchange.get_order(spread.order_id).status.is_working:
        world.exchange.cancel_order(spread.order_id)
    world.go(et(TUESDAY, 10))
    world.exchange.submit_order(single("stock", ABC, PositionIntent.BUY_TO_OPEN, "55.01", 50))
    world.step(90)
    world = checkpoint(world)  # a second restore, a day later
    world.go(et(EXPIRY, 16, 30))
    return world


def restore_via_file(tmp_path: Path) -> Callable[[World], World]:
    def checkpoint(world: World) -> World:
        path = tmp_path / "state" / "sim.json"
        world.exchange.save(path)
        clock = SimClock(world.clock.now())
        exchange = SimExchange.load(
            path, quotes=scripted_market(), clock=clock, calendar=market_calendar()
        )
        return World(quotes=scripted_market(), clock=clock, exchange=exchange)

    return checkpoint


def observe(world: World) -> dict[str, Any]:
    ex = world.exchange
    return {
        "state": ex.to_state(),
        "orders": ex.list_orders(status="all"),
        "fills": ex.fills(),
        "positions": ex.get_positions(),
        "account": ex.get_account(),
        "activities": ex.get_activities(),
    }


def test_a_restored_exchange_continues_identically(tmp_path: Path) -> None:
    straight = scenario(make_world(quotes=scripted_market()), lambda w: w)
    restored = scenario(make_world(quotes=scripted_market()), restore_via_file(tmp_path))
    a, b = observe(straight), observe(restored)
    assert a == b
    # The scenario exercised what it should.
    statuses = {o.status for o in a["orders"]}
    assert {OrderStatus.REPLACED, OrderStatus.FILLED} <= statuses
    kinds = {x.activity_type.value for x in a["activities"]}
    assert {"FILL", "OPASN", "OPTRD", "OPEXC"} <= kinds
    assert any(f.qty for f in a["fills"])


def test_state_is_json_and_round_trips(world: World) -> None:
    world.exchange.submit_order(put_spread("c", limit="-1.00", qty=3))
    world.exchange.submit_order(put_spread("d", limit="-1.20"))
    world.step()
    state = world.exchange.to_state()
    assert json.loads(json.dumps(state)) == state
    clone = SimExchange.from_state(
        state, quotes=world.quotes, clock=world.clock, calendar=market_calendar()
    )
    assert clone.to_state() == state
    assert clone.list_orders(status="all") == world.exchange.list_orders(status="all")
    assert clone.processed_until == world.exchange.processed_until == world.clock.now()


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path: Path, world: World) -> None:
    path = tmp_path / "sim.json"
    path.write_text("previous")
    world.exchange.save(path)
    assert json.loads(path.read_text()) == world.exchange.to_state()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim.json"]


def test_the_journal_grows_with_every_execution_and_only_then() -> None:
    """What the SimExchange actor compares to save before a fill is ever answered."""
    world = make_world(quotes=scripted_market())
    ex = world.exchange
    assert ex.journal_length == 0
    ex.submit_order(put_spread("far", limit="-5.00", qty=1))  # never fills
    world.step(5)
    assert ex.journal_length == 0  # orders and time alone are not executions
    order = ex.submit_order(put_spread("near", limit="-0.50", qty=2))
    world.step(3)
    assert ex.get_order(order.order_id).status is OrderStatus.FILLED
    filled = ex.journal_length
    assert filled == len(ex.fills()) + len(ex.get_activities()) > 0
    world.step(5)
    assert ex.journal_length == filled


def test_unknown_state_version_is_refused(world: World) -> None:
    state = world.exchange.to_state() | {"version": 99}
    with pytest.raises(ValueError, match="version"):
        SimExchange.from_state(
            state, quotes=world.quotes, clock=world.clock, calendar=market_calendar()
        )


def test_idle_time_costs_no_quotes() -> None:
    world = make_world(start=et(MONDAY, 9))
    for _ in range(24 * 60):
        world.step()
    assert world.quotes.calls == 0
    world.go(et(date(2026, 9, 30), 12))  # seven months in one jump, nothing held
    assert world.quotes.calls == 0


def test_a_held_position_costs_one_mark_per_close() -> None:
    world = make_world()
    world.exchange.submit_order(single("s", ABC, PositionIntent.BUY_TO_OPEN, "55.01", 10))
    world.step()
    before = world.quotes.calls
    world.go(et(date(2026, 6, 30), 17))
    sessions = len(market_calendar().sessions_between(MONDAY, date(2026, 6, 30)))
    assert world.quotes.calls - before <= sessions
    assert world.exchange.get_account().last_equity == Decimal(100_000) - Decimal("550.1") + 550


def test_advance_to_cannot_pass_the_clock(world: World) -> None:
    with pytest.raises(ValueError, match="beyond the clock"):
        world.exchange.advance_to(world.clock.now() + timedelta(minutes=1))


def test_concurrent_calls_are_serialised(world: World) -> None:
    errors: list[BaseException] = []

    def submit(worker: int) -> None:
        try:
            for i in range(10):
                world.exchange.submit_order(
                    single(f"w{worker}-{i}", XYZ_C105, PositionIntent.BUY_TO_OPEN, "0.05")
                )
                world.exchange.get_account()
        except (OrderRejected, AssertionError) as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    orders = world.exchange.list_orders(status="all")
    assert len(orders) == 80 and len({o.order_id for o in orders}) == 80
