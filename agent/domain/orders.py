"""Orders as we request them, as the broker reports them, and the fills they produce.

Price convention, everywhere in optagent: a **net price** per structure unit, in USD per
share, signed like Alpaca's multi-leg limit price: positive = net debit (we pay), negative =
net credit (we receive); net = Σ legs (side sign × ratio × leg price), buys counted +.
Single-leg orders carry the same signed net price; the broker adapter sends its absolute
value with the leg's side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import reduce

from agent.domain.enums import OrderClass, OrderStatus, PositionIntent, Side, TimeInForce
from agent.errors import DataError

MAX_LEGS = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderLeg:
    symbol: str
    side: Side
    position_intent: PositionIntent
    ratio_qty: int = 1

    def __post_init__(self) -> None:
        if self.ratio_qty < 1:
            raise DataError(f"leg {self.symbol}: ratio_qty must be ≥ 1 (got {self.ratio_qty})")
        if self.position_intent.side is not self.side:
            raise DataError(
                f"leg {self.symbol}: side {self.side} contradicts intent {self.position_intent}"
            )


def validate_legs(legs: tuple[OrderLeg, ...]) -> None:
    """Alpaca's structural rules: 1-4 legs, unique symbols, multi-leg ratios with GCD 1."""
    if not 1 <= len(legs) <= MAX_LEGS:
        raise DataError(f"an order has 1 to {MAX_LEGS} legs (got {len(legs)})")
    symbols = [leg.symbol for leg in legs]
    if len(set(symbols)) != len(symbols):
        raise DataError(f"order legs must have unique symbols (got {symbols})")
    if len(legs) == 1 and legs[0].ratio_qty != 1:
        raise DataError("a single-leg order has ratio_qty 1")
    if len(legs) > 1 and reduce(math.gcd, (leg.ratio_qty for leg in legs)) != 1:
        raise DataError(f"the GCD of leg ratios must be 1 (got {[leg.ratio_qty for leg in legs]})")


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRequest:
    """A limit order to send: ``qty`` structure units at a signed net ``limit_price``."""

    client_order_id: str
    legs: tuple[OrderLeg, ...]
    qty: int
    limit_price: Decimal
    time_in_force: TimeInForce = TimeInForce.DAY

    def __post_init__(self) -> None:
        validate_legs(self.legs)
        if self.qty < 1:
            raise DataError(f"order qty must be a whole number ≥ 1 (got {self.qty})")
        if not self.client_order_id or len(self.client_order_id) > 128:
            raise DataError("client_order_id must be 1-128 characters")
        if self.order_class is OrderClass.SIMPLE:
            leg = self.legs[0]
            if self.limit_price == 0 or (self.limit_price > 0) != (leg.side is Side.BUY):
                raise DataError(
                    f"single-leg {leg.side} limit must be signed {'+' if leg.side is Side.BUY else '−'}"
                    f" (got {self.limit_price})"
                )

    @property
    def order_class(self) -> OrderClass:
        return OrderClass.MLEG if len(self.legs) > 1 else OrderClass.SIMPLE


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerOrderLeg:
    symbol: str
    side: Side
    position_intent: PositionIntent | None
    ratio_qty: int
    filled_qty: int
    """Contracts (or shares) filled on this leg so far."""
    filled_avg_price: Decimal | None
    """USD per share, unsigned."""
    leg_order_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerOrder:
    """The broker's view of an order; quantities are structure units for multi-leg orders."""

    order_id: str
    client_order_id: str
    status: OrderStatus
    order_class: OrderClass
    qty: int
    filled_qty: int
    limit_price: Decimal | None
    """Signed net price (see module doc)."""
    filled_avg_price: Decimal | None
    """Signed net price of what filled, per unit."""
    legs: tuple[BrokerOrderLeg, ...]
    created_at: datetime
    updated_at: datetime
    time_in_force: TimeInForce = TimeInForce.DAY
    filled_at: datetime | None = None
    replaces: str | None = None
    replaced_by: str | None = None
    reject_reason: str | None = None

    @property
    def underlying_symbols(self) -> tuple[str, ...]:
        return tuple(leg.symbol for leg in self.legs)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """One execution on one leg. ``qty`` is positive contracts/shares; ``price`` USD/share."""

    fill_id: str
    """Deterministic: the same execution always has the same id (idempotent storage)."""
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: int
    price: Decimal
    filled_at: datetime
    position_intent: PositionIntent | None = None
    fee_usd: Decimal = Decimal(0)
