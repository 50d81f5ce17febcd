"""Book accounting: legs moved by fills, cash flows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from agent.domain import Fill, PositionIntent, PositionStatus, Side
from agent.execution.ledger import apply_fill_to_leg, cash_flow_usd, position_id_for

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
PUT = "XYZ260320P00095000"


def fill(side: Side, qty: int, price: str, symbol: str = PUT, fee: str = "0") -> Fill:
    return Fill(
        fill_id=f"{side}-{qty}-{price}",
        order_id="o",
        client_order_id="c",
        symbol=symbol,
        side=side,
        qty=qty,
        price=Decimal(price),
        filled_at=AT,
        position_intent=PositionIntent.SELL_TO_OPEN if side is Side.SELL else None,
        fee_usd=Decimal(fee),
    )


def test_cash_flow_signs_and_multiplier() -> None:
    assert cash_flow_usd(fill(Side.SELL, 2, "1.50")) == Decimal("300")
    assert cash_flow_usd(fill(Side.BUY, 1, "0.50", fee="0.65")) == Decimal("-50.65")
    assert cash_flow_usd(fill(Side.BUY, 100, "50", symbol="XYZ")) == Decimal("-5000")


def test_open_grow_reduce_close() -> None:
    leg = apply_fill_to_leg(None, trade_id="t", fill=fill(Side.SELL, 1, "1.50"))
    assert leg.position_id == position_id_for("t", PUT)
    assert (leg.side, leg.qty, leg.entry_price, leg.strike) == (
        Side.SELL,
        1,
        Decimal("1.50"),
        Decimal(95),
    )
    leg = apply_fill_to_leg(leg, trade_id="t", fill=fill(Side.SELL, 1, "1.70"))
    assert (leg.qty, leg.entry_price) == (2, Decimal("1.6"))
    leg = apply_fill_to_leg(leg, trade_id="t", fill=fill(Side.BUY, 1, "0.60"))
    assert (leg.qty, leg.status, leg.realized_pnl) == (1, PositionStatus.OPEN, Decimal("100"))
    leg = apply_fill_to_leg(
        leg, trade_id="t", fill=fill(Side.BUY, 1, "0.40"), exit_price=Decimal("0.50")
    )
    assert (leg.qty, leg.status, leg.exit_price) == (0, PositionStatus.CLOSED, Decimal("0.50"))
    assert leg.realized_pnl == Decimal("220")


def test_through_zero_opens_the_other_side() -> None:
    leg = apply_fill_to_leg(None, trade_id="t", fill=fill(Side.BUY, 100, "50", symbol="XYZ"))
    assert leg.right is None and leg.underlying == "XYZ"
    leg = apply_fill_to_leg(leg, trade_id="t", fill=fill(Side.SELL, 150, "52", symbol="XYZ"))
    assert (leg.side, leg.qty, leg.entry_price, leg.realized_pnl) == (
        Side.SELL,
        50,
        Decimal("52"),
        Decimal("200"),
    )


def test_a_closed_leg_reopens_fresh() -> None:
    leg = apply_fill_to_leg(None, trade_id="t", fill=fill(Side.SELL, 1, "1.0"))
    leg = apply_fill_to_leg(leg, trade_id="t", fill=fill(Side.BUY, 1, "0.5"))
    leg = apply_fill_to_leg(leg, trade_id="t", fill=fill(Side.BUY, 2, "0.7"))
    assert (leg.side, leg.qty, leg.status, leg.entry_price) == (
        Side.BUY,
        2,
        PositionStatus.OPEN,
        Decimal("0.7"),
    )
    assert leg.realized_pnl == Decimal("50")
