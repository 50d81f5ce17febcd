"""Deterministic ids and closing orders."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from agent.domain import OptionRight, PositionIntent, PositionLeg, Side
from agent.execution.intents import (
    closing_orders,
    entry_intent_id,
    indexed_intent_id,
    signed_bound,
    trade_id_for_decision,
)


def pos(symbol: str, side: Side, qty: int) -> PositionLeg:
    option = len(symbol) > 6
    return PositionLeg(
        position_id=f"t:{symbol}",
        trade_id="t",
        symbol=symbol,
        underlying="XYZ",
        right=OptionRight.PUT if option else None,
        strike=Decimal(95) if option else None,
        expiry=date(2026, 3, 20) if option else None,
        side=side,
        qty=qty,
        entry_price=Decimal(1),
    )


def test_ids_are_deterministic() -> None:
    assert trade_id_for_decision("d1") == trade_id_for_decision("d1")
    assert trade_id_for_decision("d1") != trade_id_for_decision("d2")
    assert entry_intent_id("t") != indexed_intent_id("close", "t", 0)
    assert indexed_intent_id("close", "t", 0) != indexed_intent_id("close", "t", 1)


def test_a_spread_closes_as_one_multi_leg_order() -> None:
    orders = closing_orders(
        [pos("XYZ260320P00095000", Side.SELL, 3), pos("XYZ260320P00090000", Side.BUY, 3)]
    )
    assert len(orders) == 1
    legs, qty = orders[0]
    assert qty == 3
    assert [(leg.position_intent, leg.ratio_qty) for leg in legs] == [
        (PositionIntent.BUY_TO_CLOSE, 1),
        (PositionIntent.SELL_TO_CLOSE, 1),
    ]


def test_uneven_legs_keep_their_ratios() -> None:
    [(legs, qty)] = closing_orders(
        [pos("XYZ260320P00095000", Side.SELL, 4), pos("XYZ260320P00090000", Side.BUY, 2)]
    )
    assert qty == 2 and [leg.ratio_qty for leg in legs] == [2, 1]


def test_stock_and_options_are_cleaned_up_leg_by_leg() -> None:
    orders = closing_orders([pos("XYZ", Side.BUY, 100), pos("XYZ260320P00090000", Side.BUY, 1)])
    assert [(len(legs), qty) for legs, qty in orders] == [(1, 100), (1, 1)]
    assert orders[0][0][0].position_intent is PositionIntent.SELL_TO_CLOSE


def test_short_legs_are_bought_back_before_shares_are_sold() -> None:
    orders = closing_orders([pos("XYZ", Side.BUY, 100), pos("XYZ260417C00105000", Side.SELL, 1)])
    assert [legs[0].position_intent for legs, _ in orders] == [
        PositionIntent.BUY_TO_CLOSE,
        PositionIntent.SELL_TO_CLOSE,
    ]


def test_signed_bound_follows_the_side() -> None:
    assert signed_bound(Side.SELL, Decimal("48")) == Decimal("-48")
    assert signed_bound(Side.SELL, Decimal("-48")) == Decimal("-48")
    assert signed_bound(Side.BUY, Decimal("-2")) == Decimal("2")
