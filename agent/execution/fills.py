"""Fills derived from broker order state, so any Alpaca-compatible server will do.

A broker order reports, per leg, the cumulative filled quantity and its average price. Between
two polls the change in cumulative quantity is one :class:`~agent.domain.Fill`; its price
comes from the change in cumulative notional:

    price = (cum_qty₁ × avg₁ − cum_qty₀ × avg₀) / (cum_qty₁ − cum_qty₀)

and its id is ``"{order_id}:{symbol}:{cum_qty₁}"``: the same execution seen twice (a retried
poll, a restarted actor) has the same id, and the fills table stores it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from agent.domain import BrokerOrder, Fill, OrderLeg
from agent.errors import InvariantViolation

__all__ = ["PRICE_QUANTUM", "LegFilled", "derive_fills", "fill_id_for", "legs_filled_of"]

PRICE_QUANTUM = Decimal("0.000001")
"""Fill prices are kept to a millionth of a dollar (the store's money precision)."""

LegFilled = tuple[str, int, Decimal | None]
"""(symbol, cumulative filled contracts/shares, average price USD/share)."""


def fill_id_for(order_id: str, symbol: str, cum_qty: int) -> str:
    return f"{order_id}:{symbol}:{cum_qty}"


def legs_filled_of(order: BrokerOrder, legs: Sequence[OrderLeg]) -> tuple[LegFilled, ...]:
    """Cumulative fills per leg of ``order``, in the order of ``legs`` (the intent's legs).

    A single-leg order may come without leg detail: its parent quantities are the leg's.
    """
    by_symbol = {leg.symbol: leg for leg in order.legs}
    out: list[LegFilled] = []
    for leg in legs:
        reported = by_symbol.get(leg.symbol)
        if reported is not None:
            out.append((leg.symbol, reported.filled_qty, reported.filled_avg_price))
        elif len(legs) == 1 and not order.legs:
            avg = None if order.filled_avg_price is None else abs(order.filled_avg_price)
            out.append((leg.symbol, order.filled_qty, avg))
        else:
            raise InvariantViolation(f"order {order.order_id} has no leg {leg.symbol}")
    return tuple(out)


def derive_fills(
    *,
    order: BrokerOrder,
    legs: Sequence[OrderLeg],
    previous: Sequence[LegFilled],
    at: datetime,
) -> tuple[list[Fill], tuple[LegFilled, ...]]:
    """New fills since ``previous`` and the cumulative state to store.

    A leg whose new average price is not reported yet is left for the next poll (its stored
    cumulative state does not move), so nothing is ever priced from a guess.
    """
    before = {symbol: (qty, avg) for symbol, qty, avg in previous}
    current = legs_filled_of(order, legs)
    intents = {leg.symbol: leg for leg in legs}
    fills: list[Fill] = []
    stored: list[LegFilled] = []
    for symbol, cum_qty, avg in current:
        old_qty, old_avg = before.get(symbol, (0, None))
        if cum_qty < old_qty:
            raise InvariantViolation(
                f"order {order.order_id} leg {symbol}: filled qty fell {old_qty} → {cum_qty}"
            )
        if cum_qty == old_qty or avg is None:
            stored.append((symbol, old_qty, old_avg))
            continue
        delta = cum_qty - old_qty
        notional = cum_qty * avg - old_qty * (old_avg or Decimal(0))
        price = (notional / delta).quantize(PRICE_QUANTUM)
        if price < 0:
            raise InvariantViolation(f"order {order.order_id} leg {symbol}: negative fill price")
        leg = intents[symbol]
        fills.append(
            Fill(
                fill_id=fill_id_for(order.order_id, symbol, cum_qty),
                order_id=order.order_id,
                client_order_id=order.client_order_id,
                symbol=symbol,
                side=leg.side,
                qty=delta,
                price=price,
                filled_at=order.filled_at or order.updated_at or at,
                position_intent=leg.position_intent,
            )
        )
        stored.append((symbol, cum_qty, avg))
    return fills, tuple(stored)
