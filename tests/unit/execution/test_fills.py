"""Fills derived from cumulative broker order state."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from agent.domain import (
    BrokerOrder,
    BrokerOrderLeg,
    OrderClass,
    OrderLeg,
    OrderStatus,
    PositionIntent,
    Side,
)
from agent.errors import InvariantViolation
from agent.execution.fills import derive_fills, fill_id_for

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
LEGS = (
    OrderLeg(symbol="P95", side=Side.SELL, position_intent=PositionIntent.SELL_TO_OPEN),
    OrderLeg(symbol="P90", side=Side.BUY, position_intent=PositionIntent.BUY_TO_OPEN),
)


def order(filled: int, legs: list[tuple[int, str | None]], *, simple: bool = False) -> BrokerOrder:
    status = OrderStatus.FILLED if filled == 3 else OrderStatus.PARTIALLY_FILLED
    broker_legs = tuple(
        BrokerOrderLeg(
            symbol=leg.symbol,
            side=leg.side,
            position_intent=leg.position_intent,
            ratio_qty=1,
            filled_qty=qty,
            filled_avg_price=None if avg is None else Decimal(avg),
        )
        for leg, (qty, avg) in zip(LEGS, legs, strict=False)
    )
    return BrokerOrder(
        order_id="ord-1",
        client_order_id="cid-1",
        status=status,
        order_class=OrderClass.SIMPLE if simple else OrderClass.MLEG,
        qty=3,
        filled_qty=filled,
        limit_price=Decimal("-1.00"),
        filled_avg_price=None,
        legs=() if simple else broker_legs,
        created_at=AT,
        updated_at=AT,
    )


def test_each_increment_is_one_fill_priced_from_the_notional_change() -> None:
    first, stored = derive_fills(
        order=order(1, [(1, "1.50"), (1, "0.50")]), legs=LEGS, previous=(), at=AT
    )
    assert [(f.symbol, f.qty, f.price, f.side) for f in first] == [
        ("P95", 1, Decimal("1.500000"), Side.SELL),
        ("P90", 1, Decimal("0.500000"), Side.BUY),
    ]
    assert first[0].fill_id == fill_id_for("ord-1", "P95", 1)
    # Two more at 1.56 / 0.47: cumulative averages 1.54 and 0.48.
    second, stored2 = derive_fills(
        order=order(3, [(3, "1.54"), (3, "0.48")]), legs=LEGS, previous=stored, at=AT
    )
    assert [(f.symbol, f.qty, f.price) for f in second] == [
        ("P95", 2, Decimal("1.560000")),
        ("P90", 2, Decimal("0.470000")),
    ]
    assert second[0].fill_id == "ord-1:P95:3"
    # Polling again finds nothing new.
    again, _ = derive_fills(
        order=order(3, [(3, "1.54"), (3, "0.48")]), legs=LEGS, previous=stored2, at=AT
    )
    assert again == []


def test_a_leg_without_an_average_waits_for_the_next_poll() -> None:
    fills, stored = derive_fills(
        order=order(1, [(1, "1.50"), (1, None)]), legs=LEGS, previous=(), at=AT
    )
    assert [f.symbol for f in fills] == ["P95"]
    assert stored == (("P95", 1, Decimal("1.50")), ("P90", 0, None))


def test_filled_quantity_never_falls() -> None:
    with pytest.raises(InvariantViolation):
        derive_fills(
            order=order(1, [(1, "1.5"), (1, "0.5")]),
            legs=LEGS,
            previous=(("P95", 2, Decimal("1.5")), ("P90", 2, Decimal("0.5"))),
            at=AT,
        )


def test_simple_order_without_leg_detail_uses_the_parent() -> None:
    single = (LEGS[0],)
    broker = order(2, [], simple=True)
    broker = BrokerOrder(
        **{
            **{f: getattr(broker, f) for f in broker.__dataclass_fields__},
            "filled_avg_price": Decimal("-1.25"),
        }
    )
    fills, _ = derive_fills(order=broker, legs=single, previous=(), at=AT)
    assert [(f.symbol, f.qty, f.price) for f in fills] == [("P95", 2, Decimal("1.250000"))]
