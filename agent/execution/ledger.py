"""The book: position legs and trades moved by fills, inside the fill's own transaction.

Accounting rules (money in USD, prices USD per share):

- A fill's **cash flow** is ``−side sign × qty × price × multiplier − fee`` (sells +, buys −;
  multiplier 100 for options, 1 for stock). A trade's ``realized_pnl`` is the sum of the
  cash flows of its fills, so the P&L of every trade equals the sum of its fills by
  construction. While the trade is open this is the net premium (cash basis); once it is
  flat it is the realized P&L.
- A **position leg** is one ``(trade, symbol)`` with a signed quantity. A fill that grows it
  moves the average entry price; a fill that shrinks it realizes
  ``closed × (price − entry) × direction × multiplier`` on the leg and keeps the entry price;
  a fill past zero closes the leg and opens the rest on the other side at the fill price.
  A leg at zero is ``CLOSED``.
- A trade is ``OPEN`` from its first opening fill; ``CLOSED`` when every leg is flat (and no
  stock delivery from an assignment or exercise is still due).

Every update happens only when the fill is new (``fills.add`` returned True), so replaying a
fill (a retried poll, a restarted actor, a re-read activity) changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from agent.domain import (
    CONTRACT_MULTIPLIER,
    ExitReason,
    Fill,
    PositionLeg,
    PositionStatus,
    Side,
    Trade,
    TradeStatus,
    is_option_symbol,
    parse_occ,
)
from agent.errors import InvariantViolation
from agent.ports import StoreSession

__all__ = [
    "AVG_QUANTUM",
    "Book",
    "apply_fill_to_leg",
    "cash_flow_usd",
    "multiplier_of",
    "position_id_for",
]

AVG_QUANTUM = Decimal("0.000001")
_ZERO = Decimal(0)


def multiplier_of(symbol: str) -> int:
    return CONTRACT_MULTIPLIER if is_option_symbol(symbol) else 1


def cash_flow_usd(fill: Fill) -> Decimal:
    """Cash the fill brought in (negative when we paid), fees included."""
    gross = -fill.side.sign * fill.qty * fill.price * multiplier_of(fill.symbol)
    return gross - fill.fee_usd


def position_id_for(trade_id: str, symbol: str) -> str:
    return f"{trade_id}:{symbol}"


def _new_leg(
    *, trade_id: str, symbol: str, side: Side, qty: int, price: Decimal, at: datetime
) -> PositionLeg:
    if is_option_symbol(symbol):
        contract = parse_occ(symbol)
        underlying, right, strike, expiry = (
            contract.underlying,
            contract.right,
            contract.strike,
            contract.expiry,
        )
    else:
        underlying, right, strike, expiry = symbol, None, None, None
    return PositionLeg(
        position_id=position_id_for(trade_id, symbol),
        trade_id=trade_id,
        symbol=symbol,
        underlying=underlying,
        right=right,
        strike=strike,
        expiry=expiry,
        side=side,
        qty=qty,
        entry_price=price,
        opened_at=at,
    )


def apply_fill_to_leg(
    leg: PositionLeg | None,
    *,
    trade_id: str,
    fill: Fill,
    exit_price: Decimal | None = None,
) -> PositionLeg:
    """The leg after ``fill`` (see the module doc). ``exit_price`` is the average price of
    every fill that has reduced this leg, this one included (computed by the caller)."""
    delta = fill.side.sign * fill.qty
    price = fill.price
    at = fill.filled_at
    held = 0 if leg is None or leg.status is PositionStatus.CLOSED else leg.signed_qty
    if leg is None:
        return _new_leg(
            trade_id=trade_id, symbol=fill.symbol, side=fill.side, qty=fill.qty, price=price, at=at
        )
    if held == 0:
        return replace(
            leg,
            side=fill.side,
            qty=fill.qty,
            entry_price=price,
            status=PositionStatus.OPEN,
            exit_price=None,
            opened_at=at,
            closed_at=None,
        )
    if (held > 0) == (delta > 0):
        total = abs(held) + abs(delta)
        entry = ((abs(held) * leg.entry_price + abs(delta) * price) / total).quantize(AVG_QUANTUM)
        return replace(leg, qty=total, entry_price=entry)
    closed = min(abs(delta), abs(held))
    direction = 1 if held > 0 else -1
    realized = closed * (price - leg.entry_price) * direction * multiplier_of(fill.symbol)
    left = held + delta
    updated = replace(
        leg,
        realized_pnl=leg.realized_pnl + realized,
        exit_price=exit_price if exit_price is not None else price,
    )
    if left == 0:
        return replace(updated, qty=0, status=PositionStatus.CLOSED, closed_at=at)
    if (left > 0) == (held > 0):
        return replace(updated, qty=abs(left))
    # Through zero: the rest opens on the other side at this price.
    return replace(
        updated,
        side=Side.BUY if left > 0 else Side.SELL,
        qty=abs(left),
        entry_price=price,
        opened_at=at,
        closed_at=None,
    )


class Book:
    """Fills → fills table, position legs and trades, all in the caller's transaction."""

    def __init__(self, tx: StoreSession) -> None:
        self.tx = tx

    def record_fill(
        self,
        fill: Fill,
        *,
        trade_id: str,
        entry_deltas: Mapping[str, float] | None = None,
    ) -> bool:
        """Store ``fill`` for ``trade_id`` and move the book; False if it was stored before."""
        tx = self.tx
        trade = tx.trades.get(trade_id)
        if trade is None:
            raise InvariantViolation(f"fill {fill.fill_id} for unknown trade {trade_id}")
        if not tx.fills.add(fill, trade_id=trade_id):
            return False
        leg = tx.positions.get(position_id_for(trade_id, fill.symbol))
        held = 0 if leg is None or leg.status is PositionStatus.CLOSED else leg.signed_qty
        delta = fill.side.sign * fill.qty
        reduces = held != 0 and (held > 0) != (delta > 0)
        exit_price = self._exit_average(trade_id, leg) if reduces and leg is not None else None
        updated = apply_fill_to_leg(leg, trade_id=trade_id, fill=fill, exit_price=exit_price)
        if leg is None and entry_deltas and fill.symbol in entry_deltas:
            updated = replace(updated, entry_delta=entry_deltas[fill.symbol])
        tx.positions.upsert(updated)
        opens = abs(held + delta) > abs(held)
        moved = replace(trade, realized_pnl=trade.realized_pnl + cash_flow_usd(fill))
        if trade.status is TradeStatus.PENDING and opens:
            moved = replace(moved, status=TradeStatus.OPEN, opened_at=fill.filled_at)
        tx.trades.update(moved)
        return True

    def _exit_average(self, trade_id: str, leg: PositionLeg) -> Decimal:
        """Average price of the fills that reduced ``leg`` (the new fill is stored already)."""
        closing_side = leg.side.opposite()
        fills = [
            f
            for f in self.tx.fills.list(trade_id=trade_id)
            if f.symbol == leg.symbol and f.side is closing_side
        ]
        qty = sum(f.qty for f in fills)
        if qty == 0:
            return _ZERO
        return (sum((f.qty * f.price for f in fills), _ZERO) / qty).quantize(AVG_QUANTUM)

    def open_legs(self, trade_id: str) -> list[PositionLeg]:
        return [
            leg
            for leg in self.tx.positions.list(trade_id=trade_id, status=PositionStatus.OPEN)
            if leg.qty > 0
        ]

    def settle(
        self,
        trade_id: str,
        *,
        at: datetime,
        reason: ExitReason,
        deliveries_due: Collection[str] = (),
    ) -> Trade | None:
        """Close the trade if it is open and flat; returns the closed trade (else None)."""
        trade = self.tx.trades.get(trade_id)
        if trade is None or trade.status not in (TradeStatus.OPEN, TradeStatus.CLOSING):
            return None
        if self.open_legs(trade_id) or trade_id in deliveries_due:
            return None
        fills = self.tx.fills.list(trade_id=trade_id)
        if not fills:
            return None
        entry_cash = sum(
            (
                cash_flow_usd(f) + f.fee_usd
                for f in fills
                if f.position_intent is not None and f.position_intent.opens
            ),
            _ZERO,
        )
        gross = sum((cash_flow_usd(f) + f.fee_usd for f in fills), _ZERO)
        units = max(trade.qty, 1)
        exit_net = (-(gross - entry_cash) / (CONTRACT_MULTIPLIER * units)).quantize(AVG_QUANTUM)
        opened_at = trade.opened_at
        days_held = max(0.0, (at - opened_at).total_seconds() / 86400.0)
        pnl_pct = (
            float(trade.realized_pnl / trade.capital_usd * 100) if trade.capital_usd > 0 else None
        )
        closed = replace(
            trade,
            status=TradeStatus.CLOSED,
            closed_at=at,
            exit_reason=reason,
            exit_net_price=exit_net,
            pnl_pct=pnl_pct,
            days_held=days_held,
        )
        self.tx.trades.update(closed)
        return closed
