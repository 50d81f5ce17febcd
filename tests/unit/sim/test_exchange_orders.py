"""Order validation (one test per rule), idempotency, cancel, replace, queries."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from agent.adapters.sim.exchange import (
    CODE_FORBIDDEN,
    CODE_UNPROCESSABLE,
    CODE_VALIDATION,
)
from agent.domain import OrderClass, OrderRequest, OrderStatus, PositionIntent, TimeInForce
from agent.errors import DuplicateClientOrderId, OrderNotFound, OrderRejected
from tests.unit.sim.conftest import (
    AAPL_0DTE_P,
    ABC,
    ABC_P50,
    FRIDAY,
    MONDAY,
    SPY_0DTE_P,
    XYZ_C105,
    XYZ_C110,
    XYZ_P90,
    XYZ_P95,
    World,
    et,
    leg,
    make_world,
    put_spread,
    single,
    unchecked_request,
)


def reject(world: World, request: OrderRequest) -> OrderRejected:
    with pytest.raises(OrderRejected) as info:
        world.exchange.submit_order(request)
    assert world.exchange.get_order_by_client_id(request.client_order_id) is None
    return info.value


def test_submit_returns_a_new_working_order(world: World) -> None:
    order = world.exchange.submit_order(put_spread("c1", limit="-1.20", qty=2))
    assert uuid.UUID(order.order_id).version == 4
    assert order.status is OrderStatus.NEW and order.order_class is OrderClass.MLEG
    assert order.qty == 2 and order.limit_price == Decimal("-1.20")
    assert order.created_at == world.clock.now() and order.time_in_force is TimeInForce.DAY
    assert [leg.symbol for leg in order.legs] == [XYZ_P95, XYZ_P90]
    assert len({leg.leg_order_id for leg in order.legs}) == 2
    assert world.exchange.get_order(order.order_id) == order
    assert world.exchange.get_order_by_client_id("c1") == order


def test_order_ids_are_deterministic_per_seed() -> None:
    def ids(seed: int) -> list[str]:
        world = make_world(seed=seed)
        return [
            world.exchange.submit_order(put_spread(f"c{i}", limit="-1.20")).order_id
            for i in range(3)
        ]

    assert ids(3) == ids(3)
    assert ids(3) != ids(4)
    assert len(set(ids(3))) == 3


# ------------------------------------------------------------------ validation rules


def test_gtc_is_rejected(world: World) -> None:
    request = OrderRequest(
        client_order_id="c",
        legs=put_spread("x").legs,
        qty=1,
        limit_price=Decimal("-1.00"),
        time_in_force=TimeInForce.GTC,
    )
    error = reject(world, request)
    assert str(error) == "invalid option time_in_force" and error.code == CODE_UNPROCESSABLE


def test_qty_must_be_a_whole_number_of_at_least_one(world: World) -> None:
    request = unchecked_request(
        client_order_id="c", legs=put_spread("x").legs, qty=0, limit_price=Decimal("-1.00")
    )
    assert reject(world, request).code == CODE_VALIDATION


def test_leg_symbols_must_be_unique(world: World) -> None:
    legs = (leg(XYZ_P95, PositionIntent.SELL_TO_OPEN), leg(XYZ_P95, PositionIntent.BUY_TO_OPEN))
    request = unchecked_request(client_order_id="c", legs=legs, qty=1, limit_price=Decimal("-1"))
    assert "unique" in str(reject(world, request))


def test_one_underlying_per_mleg(world: World) -> None:
    legs = (leg(XYZ_P95, PositionIntent.SELL_TO_OPEN), leg(ABC_P50, PositionIntent.BUY_TO_OPEN))
    request = OrderRequest(client_order_id="c", legs=legs, qty=1, limit_price=Decimal("-0.50"))
    error = reject(world, request)
    assert str(error) == "underlying asset mismatch" and error.code == CODE_UNPROCESSABLE


def test_gcd_of_ratios_must_be_one(world: World) -> None:
    legs = (
        leg(XYZ_P95, PositionIntent.SELL_TO_OPEN, ratio=2),
        leg(XYZ_P90, PositionIntent.BUY_TO_OPEN, ratio=2),
    )
    request = unchecked_request(client_order_id="c", legs=legs, qty=1, limit_price=Decimal("-2"))
    assert "greatest common divisor" in str(reject(world, request))


def test_more_than_four_legs_is_rejected(world: World) -> None:
    symbols = [XYZ_P95, XYZ_P90, XYZ_C105, XYZ_C110, "XYZ260320C00115000"]
    legs = tuple(leg(s, PositionIntent.BUY_TO_OPEN) for s in symbols)
    request = unchecked_request(client_order_id="c", legs=legs, qty=1, limit_price=Decimal("3"))
    assert "1 to 4 legs" in str(reject(world, request))


def test_equity_legs_are_not_accepted_in_mleg(world: World) -> None:
    legs = (leg(ABC, PositionIntent.BUY_TO_OPEN), leg(ABC_P50, PositionIntent.BUY_TO_OPEN))
    request = OrderRequest(client_order_id="c", legs=legs, qty=1, limit_price=Decimal("56"))
    assert "equity legs" in str(reject(world, request))


def test_sub_penny_limit_is_rejected(world: World) -> None:
    error = reject(world, put_spread("c", limit="-1.005"))
    assert "sub-penny" in str(error) and error.code == CODE_UNPROCESSABLE


def test_single_leg_limit_sign_must_match_the_side(world: World) -> None:
    request = unchecked_request(
        client_order_id="c",
        legs=(leg(XYZ_P95, PositionIntent.SELL_TO_OPEN),),
        qty=1,
        limit_price=Decimal("1.50"),
    )
    assert str(reject(world, request)) == "invalid limit price"


def test_buy_to_close_needs_a_short_position(world: World) -> None:
    error = reject(world, single("c", XYZ_P95, PositionIntent.BUY_TO_CLOSE, "1.60"))
    assert "position intent mismatch" in str(error)


def test_sell_to_close_needs_a_long_position(world: World) -> None:
    error = reject(world, single("c", XYZ_P90, PositionIntent.SELL_TO_CLOSE, "-0.40"))
    assert str(error) == "position intent mismatch, inferred: sell_to_open"


def test_closing_more_than_is_held_is_rejected(world: World) -> None:
    world.exchange.submit_order(put_spread("open", limit="-0.90"))
    world.step()
    error = reject(world, put_spread("close", limit="1.20", qty=2, open_=False))
    assert "insufficient qty available" in str(error) and error.code == CODE_FORBIDDEN


def test_working_closing_orders_claim_their_quantity(world: World) -> None:
    world.exchange.submit_order(put_spread("open", limit="-0.90"))
    world.step()
    world.exchange.submit_order(put_spread("close-1", limit="0.50", open_=False))
    error = reject(world, put_spread("close-2", limit="0.50", open_=False))
    assert "(requested: 1, available: 0)" in str(error)


def test_opening_against_a_position_is_rejected(world: World) -> None:
    world.exchange.submit_order(put_spread("open", limit="-0.90"))
    world.step()
    error = reject(world, single("c", XYZ_P95, PositionIntent.BUY_TO_OPEN, "1.60"))
    assert str(error) == "position intent mismatch, inferred: buy_to_close"
    error = reject(world, single("d", XYZ_P90, PositionIntent.SELL_TO_OPEN, "-0.40"))
    assert str(error) == "position intent mismatch, inferred: sell_to_close"


def test_uncovered_short_leg_in_mleg_is_rejected(world: World) -> None:
    # Sell two 105 calls, buy one 110 call: one call is naked.
    legs = (
        leg(XYZ_C105, PositionIntent.SELL_TO_OPEN, ratio=2),
        leg(XYZ_C110, PositionIntent.BUY_TO_OPEN, ratio=1),
    )
    request = OrderRequest(client_order_id="c", legs=legs, qty=1, limit_price=Decimal("-2.00"))
    error = reject(world, request)
    assert "uncovered short legs" in str(error) and error.code == CODE_UNPROCESSABLE


def test_naked_short_call_is_refused(world: World) -> None:
    error = reject(world, single("c", XYZ_C105, PositionIntent.SELL_TO_OPEN, "-1.20"))
    assert "unbounded risk" in str(error) and error.code == CODE_FORBIDDEN


def test_covered_call_is_accepted() -> None:
    world = make_world(options_level=1)
    world.quotes.set_quote("ABC260320C00060000", 0.50, 0.60)
    world.exchange.submit_order(single("stock", ABC, PositionIntent.BUY_TO_OPEN, "55.05", 100))
    world.step()
    order = world.exchange.submit_order(
        single("cc", "ABC260320C00060000", PositionIntent.SELL_TO_OPEN, "-0.50")
    )
    assert order.status is OrderStatus.NEW
    # Selling the shares now would leave the call naked.
    error = reject(world, single("sell", ABC, PositionIntent.SELL_TO_CLOSE, "-54.99", 100))
    assert "unbounded risk" in str(error)
    world.step()  # the call fills at the 0.50 bid
    assert {p.symbol: p.qty for p in world.exchange.get_positions()} == {
        ABC: 100,
        "ABC260320C00060000": -1,
    }
    error = reject(world, single("sell2", ABC, PositionIntent.SELL_TO_CLOSE, "-54.99", 100))
    assert "unbounded risk" in str(error)


@pytest.mark.parametrize(
    ("level", "request_factory", "needed"),
    [
        (0, lambda: single("c", ABC_P50, PositionIntent.SELL_TO_OPEN, "-1.00"), 1),
        (1, lambda: single("c", XYZ_C105, PositionIntent.BUY_TO_OPEN, "1.30"), 2),
        (2, lambda: put_spread("c"), 3),
    ],
)
def test_options_level_is_enforced(level: int, request_factory, needed: int) -> None:  # type: ignore[no-untyped-def]
    world = make_world(options_level=level)
    error = reject(world, request_factory())
    assert str(error) == f"account not eligible for level{needed} options trading"
    assert error.code == CODE_FORBIDDEN


def test_stock_needs_no_options_level() -> None:
    world = make_world(options_level=0)
    order = world.exchange.submit_order(single("c", ABC, PositionIntent.BUY_TO_OPEN, "55", 10))
    assert order.status is OrderStatus.NEW


def test_insufficient_buying_power_is_rejected() -> None:
    world = make_world(cash=Decimal(4_000))
    error = reject(world, single("c", ABC_P50, PositionIntent.SELL_TO_OPEN, "-1.00"))
    assert "insufficient options buying power" in str(error) and error.code == CODE_FORBIDDEN
    assert "required: 4900.00" in str(error)


def test_working_orders_reserve_buying_power() -> None:
    world = make_world(cash=Decimal(5_000))
    world.exchange.submit_order(single("c1", ABC_P50, PositionIntent.SELL_TO_OPEN, "-1.50"))
    assert world.exchange.get_account().buying_power == Decimal(5_000 - 4_850)
    error = reject(world, single("c2", XYZ_C105, PositionIntent.BUY_TO_OPEN, "2.00"))
    assert "insufficient options buying power" in str(error)


def test_closing_orders_pass_without_buying_power() -> None:
    world = make_world(cash=Decimal(500))
    world.exchange.submit_order(put_spread("open", limit="-0.90"))
    world.step()
    assert world.exchange.get_account().buying_power == Decimal(100)
    # Buying the spread back for 4.00 costs more than the 100 of buying power, but it cuts
    # the requirement by 500: the order reduces risk and passes.
    order = world.exchange.submit_order(put_spread("close", limit="4.00", open_=False))
    assert order.status is OrderStatus.NEW


def test_market_closed_rejects_orders() -> None:
    world = make_world(start=et(MONDAY, 9, 0))
    error = reject(world, put_spread("c"))
    assert "market is closed" in str(error) and error.code == CODE_UNPROCESSABLE
    world.go(et(MONDAY, 16, 0))
    reject(world, put_spread("c"))
    world.go(et(MONDAY, 20))  # after hours
    reject(world, put_spread("c"))
    world.go(et(MONDAY + timedelta(days=5), 11))  # Saturday
    reject(world, put_spread("c"))
    world.go(et(MONDAY + timedelta(days=7), 9, 30))  # the next Monday's open
    assert world.exchange.submit_order(put_spread("c")).status is OrderStatus.NEW


@pytest.mark.parametrize(
    ("symbol", "ok_at", "late_at"),
    [(AAPL_0DTE_P, (15, 15), (15, 16)), (SPY_0DTE_P, (15, 30), (15, 31))],
)
def test_same_day_expiry_cutoff(
    symbol: str, ok_at: tuple[int, int], late_at: tuple[int, int]
) -> None:
    world = make_world(start=et(FRIDAY, *ok_at))
    ok = world.exchange.submit_order(single("ok", symbol, PositionIntent.BUY_TO_OPEN, "0.15"))
    assert ok.status is OrderStatus.NEW
    world.go(et(FRIDAY, *late_at))
    error = reject(world, single("late", symbol, PositionIntent.BUY_TO_OPEN, "0.15"))
    assert "cannot be opened after" in str(error) and error.code == CODE_UNPROCESSABLE


def test_same_day_cutoff_spares_closing_orders() -> None:
    world = make_world(start=et(FRIDAY, 15, 0))
    world.exchange.submit_order(single("open", AAPL_0DTE_P, PositionIntent.BUY_TO_OPEN, "0.15"))
    world.go(et(FRIDAY, 15, 40))
    order = world.exchange.submit_order(
        single("close", AAPL_0DTE_P, PositionIntent.SELL_TO_CLOSE, "-0.10")
    )
    assert order.status is OrderStatus.NEW


def test_unlisted_contract_is_rejected(world: World) -> None:
    error = reject(world, single("c", "XYZ260320P00093000", PositionIntent.BUY_TO_OPEN, "1.00"))
    assert str(error) == 'asset "XYZ260320P00093000" not found' and error.code == CODE_VALIDATION


def test_expired_contract_is_rejected(world: World) -> None:
    world.quotes.set_quote("XYZ260227P00095000", 0.10, 0.20)
    error = reject(world, single("c", "XYZ260227P00095000", PositionIntent.BUY_TO_OPEN, "0.20"))
    assert "has expired" in str(error)


# ------------------------------------------------------------------ idempotency


def test_duplicate_client_order_id_raises_and_creates_nothing(world: World) -> None:
    first = world.exchange.submit_order(put_spread("same", limit="-1.20"))
    with pytest.raises(DuplicateClientOrderId) as info:
        world.exchange.submit_order(put_spread("same", limit="-1.10"))
    assert info.value.code == CODE_VALIDATION
    assert str(info.value) == "client_order_id must be unique"
    assert world.exchange.list_orders(status="all") == [first]
    assert world.exchange.get_order_by_client_id("same") == first


def test_duplicate_is_reported_even_after_the_close(world: World) -> None:
    world.exchange.submit_order(put_spread("same", limit="-1.20"))
    world.go(et(MONDAY, 17))
    with pytest.raises(DuplicateClientOrderId):
        world.exchange.submit_order(put_spread("same", limit="-1.20"))


def test_a_rejected_submit_leaves_its_client_id_free(world: World) -> None:
    with pytest.raises(OrderRejected):
        world.exchange.submit_order(put_spread("cid", limit="-1.005"))
    assert world.exchange.submit_order(put_spread("cid")).client_order_id == "cid"


# ------------------------------------------------------------------ cancel / replace / queries


def test_cancel(world: World) -> None:
    order = world.exchange.submit_order(put_spread("c", limit="-1.20"))
    world.step()
    world.exchange.cancel_order(order.order_id)
    canceled = world.exchange.get_order(order.order_id)
    assert canceled.status is OrderStatus.CANCELED and canceled.updated_at == world.clock.now()
    with pytest.raises(OrderRejected) as info:
        world.exchange.cancel_order(order.order_id)
    assert info.value.code == CODE_UNPROCESSABLE
    with pytest.raises(OrderNotFound):
        world.exchange.cancel_order(str(uuid.UUID(int=1)))


def test_cancel_a_filled_order_is_rejected(world: World) -> None:
    order = world.exchange.submit_order(put_spread("c", limit="-0.90"))
    world.step()
    with pytest.raises(OrderRejected, match="filled"):
        world.exchange.cancel_order(order.order_id)


def test_replace_gives_a_new_order_and_replaces_the_old(world: World) -> None:
    old = world.exchange.submit_order(put_spread("c1", limit="-1.20"))
    world.step()
    new = world.exchange.replace_order(
        old.order_id, limit_price=Decimal("-1.10"), client_order_id="c2"
    )
    assert new.order_id != old.order_id and new.replaces == old.order_id
    assert new.status is OrderStatus.NEW and new.limit_price == Decimal("-1.10") and new.qty == 1
    previous = world.exchange.get_order(old.order_id)
    assert previous.status is OrderStatus.REPLACED and previous.replaced_by == new.order_id
    assert world.exchange.get_order_by_client_id("c2") == new
    assert [o.order_id for o in world.exchange.list_orders(status="open")] == [new.order_id]


def test_replace_a_partially_filled_order_covers_the_rest() -> None:
    world = make_world(partial_fill_prob=1.0)
    old = world.exchange.submit_order(
        single("c1", ABC_P50, PositionIntent.SELL_TO_OPEN, "-0.95", 10)
    )
    world.step()
    partial = world.exchange.get_order(old.order_id)
    assert partial.status is OrderStatus.PARTIALLY_FILLED
    new = world.exchange.replace_order(
        old.order_id, limit_price=Decimal("-1.30"), client_order_id="c2"
    )
    assert new.qty == 10 - partial.filled_qty
    assert world.exchange.get_order(old.order_id).filled_qty == partial.filled_qty


def test_replace_rules(world: World) -> None:
    order = world.exchange.submit_order(put_spread("c1", limit="-1.20"))
    with pytest.raises(DuplicateClientOrderId):
        world.exchange.replace_order(
            order.order_id, limit_price=Decimal("-1.1"), client_order_id="c1"
        )
    with pytest.raises(OrderRejected, match="sub-penny"):
        world.exchange.replace_order(
            order.order_id, limit_price=Decimal("-1.101"), client_order_id="c2"
        )
    with pytest.raises(OrderRejected, match="whole number"):
        world.exchange.replace_order(
            order.order_id, limit_price=Decimal("-1.1"), client_order_id="c2", qty=0
        )
    buy = world.exchange.submit_order(single("b", XYZ_C105, PositionIntent.BUY_TO_OPEN, "0.10"))
    with pytest.raises(OrderRejected, match="signed"):
        world.exchange.replace_order(
            buy.order_id, limit_price=Decimal("-0.10"), client_order_id="b2"
        )
    assert world.exchange.get_order(buy.order_id).status is OrderStatus.NEW
    assert world.exchange.get_order(order.order_id).status is OrderStatus.NEW  # still working
    with pytest.raises(OrderNotFound):
        world.exchange.replace_order(
            str(uuid.UUID(int=2)), limit_price=Decimal(1), client_order_id="x"
        )
    world.exchange.cancel_order(order.order_id)
    with pytest.raises(OrderRejected, match="canceled"):
        world.exchange.replace_order(
            order.order_id, limit_price=Decimal("-1.1"), client_order_id="c3"
        )


def test_replace_does_not_double_count_its_own_reservation() -> None:
    world = make_world(cash=Decimal(5_000))
    order = world.exchange.submit_order(single("c1", ABC_P50, PositionIntent.SELL_TO_OPEN, "-1.50"))
    new = world.exchange.replace_order(
        order.order_id, limit_price=Decimal("-1.40"), client_order_id="c2"
    )
    assert new.status is OrderStatus.NEW


def test_list_orders_open_closed_all_and_after(world: World) -> None:
    a = world.exchange.submit_order(put_spread("a", limit="-1.20"))
    world.step()
    b = world.exchange.submit_order(single("b", XYZ_C105, PositionIntent.BUY_TO_OPEN, "0.10"))
    world.exchange.cancel_order(a.order_id)
    assert [o.order_id for o in world.exchange.list_orders()] == [b.order_id]
    assert [o.order_id for o in world.exchange.list_orders(status="closed")] == [a.order_id]
    assert [o.order_id for o in world.exchange.list_orders(status="all")] == [
        b.order_id,
        a.order_id,
    ]
    assert [o.order_id for o in world.exchange.list_orders(status="all", limit=1)] == [b.order_id]
    assert [o.order_id for o in world.exchange.list_orders(status="all", after=a.created_at)] == [
        b.order_id
    ]


def test_unknown_ids(world: World) -> None:
    with pytest.raises(OrderNotFound):
        world.exchange.get_order(str(uuid.UUID(int=3)))
    assert world.exchange.get_order_by_client_id("nope") is None
