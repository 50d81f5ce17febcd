"""The Broker contract: what every :class:`agent.ports.Broker` adapter must do.

Written against the port only, so the same tests run against SimExchange (over a scripted or
the real simulated market) and against the Alpaca adapter talking to our Alpaca-compatible
HTTP server on loopback.

How to use: in a ``test_*.py`` module, subclass :class:`BrokerContract` and give it a
``harness`` fixture that returns a :class:`BrokerHarness` whose market is open (a regular
session with at least an hour left) and whose account is options level 3 with enough buying
power for a few one-lot spreads. A fresh account per test is best; the tests only look at
their own orders and at position *changes*, so a shared account works as long as it holds
no short position in the harness's puts.

Fills are awaited by advancing simulated time a minute at a time (never by sleeping), and
orders meant to rest are priced far beyond the mid so no fill model fills them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

import pytest

from agent.domain import (
    ActivityType,
    BrokerOrder,
    OrderClass,
    OrderLeg,
    OrderRequest,
    OrderStatus,
    PositionIntent,
    Side,
)
from agent.errors import DuplicateClientOrderId, OrderNotFound, OrderRejected
from agent.ports import Broker

CENT = Decimal("0.01")
MAX_WAIT_MIN = 30
"""Minutes of simulated time a marketable order may take to fill."""
UNKNOWN_ORDER_ID = "00000000-0000-4000-8000-000000000000"
WORKING = frozenset({OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})


class BrokerHarness(Protocol):
    """What the contract tests need besides the broker: time and a few listed contracts."""

    @property
    def broker(self) -> Broker: ...

    def advance(self, minutes: int) -> None:
        """Move simulated time forward by ``minutes`` and let the broker process it."""
        ...

    def underlying(self) -> str:
        """An optionable underlying whose chain is listed and quoted now."""
        ...

    def listed_put(self, underlying: str) -> str:
        """A listed put (OCC symbol), expiring after today, with a bid of at least 0.10, that
        is not one of :meth:`listed_put_spread`'s legs."""
        ...

    def listed_put_spread(self, underlying: str) -> tuple[str, str]:
        """(short, long): two listed puts of one expiry below the money, short strike higher,
        whose natural credit (short bid − long ask) is at least 0.10."""
        ...

    def nbbo(self, symbol: str) -> tuple[Decimal, Decimal]:
        """The current (bid, ask) of ``symbol`` in USD per share."""
        ...


# --------------------------------------------------------------------------- order builders


def _leg(symbol: str, intent: PositionIntent) -> OrderLeg:
    return OrderLeg(symbol=symbol, side=intent.side, position_intent=intent)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def put_buy(harness: BrokerHarness, cid: str, *, marketable: bool) -> OrderRequest:
    """Buy one listed put: at the ask + 0.05 (marketable) or at 0.01 (rests)."""
    symbol = harness.listed_put(harness.underlying())
    _, ask = harness.nbbo(symbol)
    limit = _cents(ask + Decimal("0.05")) if marketable else CENT
    return OrderRequest(
        client_order_id=cid,
        legs=(_leg(symbol, PositionIntent.BUY_TO_OPEN),),
        qty=1,
        limit_price=limit,
    )


def put_spread(harness: BrokerHarness, cid: str, *, marketable: bool) -> OrderRequest:
    """Open one put credit spread: 0.05 worse than natural (marketable) or asking more than
    the widest possible credit, short ask − long bid (rests)."""
    short, long = harness.listed_put_spread(harness.underlying())
    short_bid, short_ask = harness.nbbo(short)
    long_bid, long_ask = harness.nbbo(long)
    if marketable:
        limit = _cents(long_ask - short_bid + Decimal("0.05"))
    else:
        limit = _cents(long_bid - short_ask - Decimal("0.10"))
    return OrderRequest(
        client_order_id=cid,
        legs=(
            _leg(short, PositionIntent.SELL_TO_OPEN),
            _leg(long, PositionIntent.BUY_TO_OPEN),
        ),
        qty=1,
        limit_price=limit,
    )


def wait_for(
    harness: BrokerHarness,
    order_id: str,
    done: Callable[[BrokerOrder], bool],
    *,
    max_minutes: int = MAX_WAIT_MIN,
) -> BrokerOrder:
    """Advance a minute at a time until ``done(order)``; fail after ``max_minutes``."""
    order = harness.broker.get_order(order_id)
    for _ in range(max_minutes):
        if done(order):
            return order
        harness.advance(1)
        order = harness.broker.get_order(order_id)
    assert done(order), f"order {order_id} still {order.status} after {max_minutes} min"
    return order


def filled(order: BrokerOrder) -> bool:
    return order.status is OrderStatus.FILLED


def holdings(broker: Broker) -> dict[str, int]:
    return {p.symbol: p.qty for p in broker.get_positions()}


# --------------------------------------------------------------------------- the suite


class BrokerContract:
    """The contract tests. Subclasses provide a ``harness`` fixture (see module doc)."""

    @pytest.fixture
    def cid(self, request: pytest.FixtureRequest) -> Callable[[str], str]:
        """Client order ids unique to the test (deterministic, so reruns look alike)."""
        base = uuid.uuid5(uuid.NAMESPACE_URL, request.node.nodeid)

        def make(tag: str) -> str:
            return f"contract-{base.hex[:12]}-{tag}"

        return make

    # ------------------------------------------------------------------ account

    def test_account_fields_are_sane(self, harness: BrokerHarness) -> None:
        account = harness.broker.get_account()
        assert account.equity > 0 and account.last_equity > 0
        assert account.options_buying_power >= 0 and account.buying_power >= 0
        assert account.options_level >= 3  # the suite places multi-leg orders
        assert account.as_of.tzinfo is not None
        for money in (account.equity, account.cash, account.buying_power, account.last_equity):
            assert isinstance(money, Decimal)

    # ------------------------------------------------------------------ submit and query

    def test_submit_single_leg_and_look_it_up(
        self, harness: BrokerHarness, cid: Callable[[str], str]
    ) -> None:
        request = put_buy(harness, cid("single"), marketable=False)
        order = harness.broker.submit_order(request)
        assert uuid.UUID(order.order_id)
        assert order.client_order_id == request.client_order_id
        assert order.status in WORKING and order.order_class is OrderClass.SIMPLE
        assert order.qty == 1 and order.filled_qty == 0
        assert order.limit_price == request.limit_price
        assert [(leg.symbol, leg.side) for leg in order.legs] == [
            (request.legs[0].symbol, Side.BUY)
        ]
        assert harness.broker.get_order(order.order_id).order_id == order.order_id
        by_cid = harness.broker.get_order_by_client_id(request.client_order_id)
        assert by_cid is not None and by_cid.order_id == order.order_id
        assert order.order_id in {o.order_id for o in harness.broker.list_orders(status="open")}
        harness.broker.cancel_order(order.order_id)

    def test_submit_multi_leg(self, harness: BrokerHarness, cid: Callable[[str], str]) -> None:
        request = put_spread(harness, cid("mleg"), marketable=False)
        order = harness.broker.submit_order(request)
        assert order.status in WORKING and order.order_class is OrderClass.MLEG
        assert order.limit_price == request.limit_price and order.limit_price < 0
        assert [(leg.symbol, leg.side, leg.ratio_qty) for leg in order.legs] == [
            (leg.symbol, leg.side, 1) for leg in request.legs
        ]
        harness.broker.cancel_order(order.order_id)

    def test_unknown_client_order_id_is_none(
        self, harness: BrokerHarness, cid: Callable[[str], str]
    ) -> None:
        assert harness.broker.get_order_by_client_id(cid("never-sent")) is None

    def test_list_orders_open_closed_all(
        self, harness: BrokerHarness, cid: Callable[[str], str]
    ) -> None:
        working = harness.broker.submit_order(put_buy(harness, cid("working"), marketable=False))
        done = harness.broker.submit_order(put_spread(harness, cid("done"), marketable=False))
        harness.broker.cancel_order(done.order_id)
        wait_for(harness, done.order_id, lambda o: o.status is OrderStatus.CANCELED)

        def ids(status: str) -> set[str]:
            return {o.order_id for o in harness.broker.list_orders(status=status)}  # type: ignore[arg-type]

        assert working.order_id in ids("open") and done.order_id not in ids("open")
        assert done.order_id in ids("closed") and working.order_id not in ids("closed")
        assert {working.order_id, done.order_id} <= ids("all")
        harness.broker.cancel_order(working.order_id)

    # ------------------------------------------------------------------ idempotency

    def test_duplicate_client_order_id_is_refused(
        self, harness: BrokerHarness, cid: Callable[[str], str]
    ) -> None:
        first = harness.broker.submit_order(put_buy(harness, cid("dup"), marketable=False))
        with pytest.raises(DuplicateClientOrderId):
            harness.broker.submit_order(put_spread(harness, cid("dup"), marketable=False))
        same = [
            o for o in harness.broker.list_orders(status="all") if o.client_order_id == cid("dup")
        ]
        assert [o.order_id for o in same] == [first.order_id]
        harness.broker.cancel_order(first.order_id)

    # ------------------------------------------------------------------ cancel and replace

    def test_cancel(self, harness: BrokerHarness, cid: Callable[[str], str]) -> None:
        order = harness.broker.submit_order(put_spread(harness, cid("cancel"), marketable=False))
        harness.broker.cancel_order(order.order_id)
        canceled = wait_for(harness, order.order_id, lambda o: o.status is OrderStatus.CANCELED)
        assert canceled.filled_qty == 0

    def test_cancel_a_filled_order_is_refused(
        self, harness: BrokerHarness, cid: Callable[[str], str]
    ) -> None:
        order = harness.broker.submit_order(put_buy(harness, cid("fill"), marketable=True))
        wait_for(harness, order.order_id, filled)
        with pytest.raises(OrderRejected):
            harness.broker.cancel_order(order.order_id)

    def test_replace_gives_a_new_order(
        self, harness: BrokerHarness, cid: Callable[[str], str]
    ) -> None:
        old = harness.broker.submit_order(put_spread(harness, cid("old"), marketable=False))
        new_limit = (old.limit_price or Decimal(0)) + CENT
        new = harness.broker.replace_order(
            old.order_id, limit_price=new_limit, client_order_id=cid("new")
        )
        assert new.order_id != old.order_id and new.replaces == old.order_id
        assert new.limit_price == new_limit and new.status in WORKING
        replaced = wait_for(harness, old.order_id, lambda o: o.status is OrderStatus.REPLACED)
        assert replaced.replaced_by == new.order_id
        by_cid = harness.broker.get_order_by_client_id(cid("new"))
        assert by_cid is not None and by_cid.order_id == new.order_id
        harness.broker.cancel_order(new.order_id)

    # ------------------------------------------------------------------ fills

    def test_fills_show_in_positions_with_signed_qty(
        self, harness: BrokerHarness, cid: Callable[[str], str]
    ) -> None:
        before = holdings(harness.broker)
        request = put_spread(harness, cid("spread"), marketable=True)
        order = wait_for(harness, harness.broker.submit_order(request).order_id, filled)
        assert order.filled_qty == 1 and order.filled_avg_price is not None
        assert order.filled_avg_price <= request.limit_price  # never worse than the limit
        legs_net = sum(
            (leg.side.sign * leg.ratio_qty * (leg.filled_avg_price or 0) for leg in order.legs),
            Decimal(0),
        )
        assert abs(legs_net - order.filled_avg_price) < CENT
        after = holdings(harness.broker)
        short, long = (leg.symbol for leg in request.legs)
        assert after.get(short, 0) - before.get(short, 0) == -1
        assert after.get(long, 0) - before.get(long, 0) == 1

    def test_single_leg_fill_is_a_long_position(
        self, harness: BrokerHarness, cid: Callable[[str], str]
    ) -> None:
        before = holdings(harness.broker)
        request = put_buy(harness, cid("long"), marketable=True)
        order = wait_for(harness, harness.broker.submit_order(request).order_id, filled)
        assert order.filled_avg_price is not None and order.filled_avg_price > 0
        assert order.filled_avg_price <= request.limit_price
        symbol = request.legs[0].symbol
        assert holdings(harness.broker).get(symbol, 0) - before.get(symbol, 0) == 1

    # ------------------------------------------------------------------ activities

    def test_activities_after_a_cursor_are_ascending_and_strictly_after(
        self, harness: BrokerHarness, cid: Callable[[str], str]
    ) -> None:
        existing = harness.broker.get_activities()
        cursor = existing[-1].activity_id if existing else None
        request = put_spread(harness, cid("acts"), marketable=True)
        order = wait_for(harness, harness.broker.submit_order(request).order_id, filled)
        new = harness.broker.get_activities(after_id=cursor)
        ids = [a.activity_id for a in new]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert cursor is None or all(i > cursor for i in ids)
        fills = [a for a in new if a.activity_type is ActivityType.FILL]
        assert {a.symbol for a in fills if a.order_id == order.order_id} == {
            leg.symbol for leg in request.legs
        }
        assert [a.activity_id for a in harness.broker.get_activities(after_id=ids[0])] == ids[1:]
        only_fills = harness.broker.get_activities(after_id=cursor, types=[ActivityType.FILL])
        assert [a.activity_id for a in only_fills] == [a.activity_id for a in fills]

    # ------------------------------------------------------------------ unknown ids

    def test_unknown_order_id_is_not_found(self, harness: BrokerHarness) -> None:
        with pytest.raises(OrderNotFound):
            harness.broker.get_order(UNKNOWN_ORDER_ID)
        with pytest.raises(OrderNotFound):
            harness.broker.cancel_order(UNKNOWN_ORDER_ID)
        with pytest.raises(OrderNotFound):
            harness.broker.replace_order(
                UNKNOWN_ORDER_ID, limit_price=Decimal("1.00"), client_order_id="contract-x"
            )
