"""Broker activities into the book: expiry, assignment, exercise and their stock trades.

Each activity becomes synthetic fills with deterministic ids (``act:<activity id>:<trade id>``)
on the trades that hold the symbol (oldest first), so re-reading an activity changes nothing
and every trade's P&L stays the sum of its fills:

- ``OPEXP`` (expired out of the money): the option legs close at $0.
- ``OPASN`` (assigned, short legs) / ``OPEXC`` (exercised, long legs): the option legs close
  at $0, and a stock *delivery* is noted: which trades held how many contracts, the strike
  and the direction (short put / long call take shares, short call / long put give them).
- ``OPTRD`` (the stock side of an assignment or exercise: shares at the strike): matched to
  the delivery due on that underlying and strike, and booked as a stock leg **of the same
  trades**: a cash-secured put that is assigned stays one trade from the premium to the
  sale of the shares.
- ``FILL`` activities are skipped: our fills are booked from order state, and a fill on an
  order we never placed (a broker sell-out, a manual trade) is never booked silently; it
  shows as a position difference in ``reconcile()`` (matching FILLs by order id is not
  reliable: a multi-leg fill may carry the leg's order id).
- An activity whose ``status`` is ``correct`` or ``canceled`` (a broker correction or
  reversal) is not applied: it is recorded as a CRITICAL event for a human, and the position
  comparison of ``reconcile()`` shows any difference it leaves.

The cursor (last activity id) and the deliveries still due are one state document, written
in the same transaction as each activity's fills.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.domain import (
    CONTRACT_MULTIPLIER,
    Activity,
    ActivityStatus,
    ActivityType,
    AlertLevel,
    ExitReason,
    Fill,
    OptionRight,
    PositionIntent,
    PositionLeg,
    PositionStatus,
    Side,
    is_option_symbol,
    parse_occ,
)
from agent.execution.desk import Desk
from agent.execution.ledger import Book
from agent.execution.records import ActivityState
from agent.logging import logger
from agent.ports import StoreSession

__all__ = ["ActivityIngestor"]

_REASONS = {
    ActivityType.OPTION_ASSIGNMENT: ExitReason.ASSIGNED,
    ActivityType.OPTION_EXERCISE: ExitReason.EXERCISED,
    ActivityType.OPTION_EXPIRY: ExitReason.EXPIRED_WORTHLESS,
}


class ActivityIngestor:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def run(self) -> int:
        """Ingest new activities; returns how many were consumed (the cursor moved past)."""
        desk = self.desk
        with desk.tx() as tx:
            cursor = ActivityState.load(tx).after_id
        activities = desk.retrier.call(
            "get activities", lambda: desk.broker.get_activities(after_id=cursor)
        )
        consumed = 0
        for activity in sorted(activities, key=lambda a: a.activity_id):
            with desk.tx() as tx:
                state = ActivityState.load(tx)
                if state.after_id is not None and activity.activity_id <= state.after_id:
                    continue
                self._apply(tx, activity, state)
                state.after_id = activity.activity_id
                state.save(tx)
            consumed += 1
        return consumed

    # ------------------------------------------------------------------ dispatch

    def _apply(self, tx: StoreSession, activity: Activity, state: ActivityState) -> None:
        if activity.status is not ActivityStatus.EXECUTED:
            self.desk.event(
                tx,
                "reconcile.activity_correction",
                f"activity {activity.activity_id} ({activity.activity_type} {activity.symbol}) "
                f"has status {activity.status}: not applied, check the book by hand",
                level=AlertLevel.CRITICAL,
                subject=activity.symbol,
                payload=_payload(activity),
                alert=True,
            )
            return
        kind = activity.activity_type
        if kind is ActivityType.FILL:
            return  # fills are booked from order state; strangers show in positions
        if kind is ActivityType.OPTION_TRADE:
            self._stock_delivery(tx, activity, state)
        else:
            self._option_closed(tx, activity, state)

    # ------------------------------------------------------------------ options

    def _option_closed(self, tx: StoreSession, activity: Activity, state: ActivityState) -> None:
        kind = activity.activity_type
        symbol = activity.symbol
        if not is_option_symbol(symbol):
            self._unmatched(tx, activity, "not an option symbol")
            return
        contracts = abs(int(activity.qty))
        legs = [
            leg
            for leg in tx.positions.list(symbol=symbol, status=PositionStatus.OPEN)
            if leg.qty > 0 and _side_matches(kind, activity.qty, leg)
        ]
        legs.sort(key=lambda leg: (leg.opened_at or self.desk.clock.now(), leg.position_id))
        at = self._time_of(activity)
        book = Book(tx)
        allocations: list[list[Any]] = []
        remaining = contracts
        for leg in legs:
            take = min(leg.qty, remaining)
            if take <= 0:
                break
            closing_side = leg.side.opposite()
            fill = Fill(
                fill_id=f"act:{activity.activity_id}:{leg.trade_id}",
                order_id=f"activity:{activity.activity_id}",
                client_order_id=f"activity:{activity.activity_id}",
                symbol=symbol,
                side=closing_side,
                qty=take,
                price=Decimal(0),
                filled_at=at,
                position_intent=(
                    PositionIntent.BUY_TO_CLOSE
                    if closing_side is Side.BUY
                    else PositionIntent.SELL_TO_CLOSE
                ),
            )
            if book.record_fill(fill, trade_id=leg.trade_id):
                allocations.append([leg.trade_id, take])
            remaining -= take
        if not legs:
            self._unmatched(tx, activity, "no open leg of ours holds it")
        elif remaining > 0:
            self.desk.event(
                tx,
                "reconcile.difference",
                f"{kind} of {contracts} {symbol} but we held {contracts - remaining}",
                level=AlertLevel.WARNING,
                subject=symbol,
                payload=_payload(activity),
                alert=True,
            )
        if kind in (ActivityType.OPTION_ASSIGNMENT, ActivityType.OPTION_EXERCISE) and allocations:
            contract = parse_occ(symbol)
            long_holder = kind is ActivityType.OPTION_EXERCISE
            takes_shares = (contract.right is OptionRight.CALL) == long_holder
            state.deliveries.append(
                {
                    "activity_id": activity.activity_id,
                    "option_symbol": symbol,
                    "underlying": contract.underlying,
                    "strike": str(contract.strike),
                    "sign": 1 if takes_shares else -1,
                    "allocations": allocations,
                    "reason": _REASONS[kind].value,
                }
            )
            for trade_id, take in allocations:
                self._note_assignment(tx, trade_id, activity, take)
        self.desk.later_journal(
            "adjustment",
            activity=kind.value,
            activity_id=activity.activity_id,
            symbol=symbol,
            contracts=contracts,
            allocations=allocations,
        )
        self._settle(tx, [a[0] for a in allocations], _REASONS[kind], at, state)

    def _note_assignment(
        self, tx: StoreSession, trade_id: str, activity: Activity, contracts: int
    ) -> None:
        trade = tx.trades.get(trade_id)
        if trade is None:
            return
        execution = dict(trade.execution)
        key = (
            "assignments"
            if activity.activity_type is ActivityType.OPTION_ASSIGNMENT
            else "exercises"
        )
        previous = execution.get(key)
        notes: list[object] = list(previous) if isinstance(previous, list | tuple) else []
        notes.append(
            {
                "activity_id": activity.activity_id,
                "symbol": activity.symbol,
                "contracts": contracts,
                "on": activity.occurred_on,
            }
        )
        execution[key] = notes
        tx.trades.update(replace(trade, execution=execution))
        self.desk.event(
            tx,
            f"trade.{'assigned' if key == 'assignments' else 'exercised'}",
            f"{activity.symbol} ×{contracts} {key[:-1]} on trade {trade_id}",
            level=AlertLevel.WARNING,
            subject=trade_id,
            payload=_payload(activity),
            alert=True,
        )

    # ------------------------------------------------------------------ stock

    def _stock_delivery(self, tx: StoreSession, activity: Activity, state: ActivityState) -> None:
        shares = int(activity.qty)
        price = activity.price
        sign = 1 if shares > 0 else -1
        match = None
        for delivery in state.deliveries:
            if (
                delivery["underlying"] == activity.symbol
                and price is not None
                and Decimal(delivery["strike"]) == price
                and delivery["sign"] == sign
            ):
                match = delivery
                break
        if match is None or price is None or shares == 0:
            self._unmatched(tx, activity, "no assignment or exercise of ours is due")
            return
        state.deliveries.remove(match)
        at = self._time_of(activity)
        book = Book(tx)
        left = abs(shares)
        touched: list[str] = []
        for trade_id, contracts in match["allocations"]:
            qty = min(left, int(contracts) * CONTRACT_MULTIPLIER)
            if qty <= 0:
                break
            fill = Fill(
                fill_id=f"act:{activity.activity_id}:{trade_id}",
                order_id=f"activity:{activity.activity_id}",
                client_order_id=f"activity:{activity.activity_id}",
                symbol=activity.symbol,
                side=Side.BUY if sign > 0 else Side.SELL,
                qty=qty,
                price=price,
                filled_at=at,
            )
            if book.record_fill(fill, trade_id=str(trade_id)):
                touched.append(str(trade_id))
            left -= qty
        if left > 0:
            self.desk.event(
                tx,
                "reconcile.difference",
                f"stock delivery of {shares} {activity.symbol}: {left} shares matched no trade",
                level=AlertLevel.WARNING,
                subject=activity.symbol,
                payload=_payload(activity),
                alert=True,
            )
        self.desk.later_journal(
            "adjustment",
            activity="stock_delivery",
            activity_id=activity.activity_id,
            symbol=activity.symbol,
            shares=shares,
            price=price,
            trades=touched,
        )
        self._settle(tx, touched, ExitReason(match["reason"]), at, state)

    # ------------------------------------------------------------------ helpers

    def _settle(
        self,
        tx: StoreSession,
        trade_ids: list[str],
        reason: ExitReason,
        at: datetime,
        state: ActivityState,
    ) -> None:
        due = state.trades_due
        for trade_id in dict.fromkeys(trade_ids):
            trade = tx.trades.get(trade_id)
            if trade is None:
                continue
            closing = (
                ExitReason.ASSIGNED
                if trade.execution.get("assignments") and reason is not ExitReason.ASSIGNED
                else reason
            )
            closed = Book(tx).settle(trade_id, at=at, reason=closing, deliveries_due=due)
            if closed is not None:
                self.desk.event(
                    tx,
                    "trade.closed",
                    f"{closed.underlying} {closed.strategy} closed ({closed.exit_reason}): "
                    f"P&L {closed.realized_pnl}",
                    subject=trade_id,
                    payload={"realized_pnl": closed.realized_pnl, "reason": closed.exit_reason},
                )
                self.desk.later_journal(
                    "exit",
                    trade_id=trade_id,
                    reason=closed.exit_reason,
                    realized_pnl=closed.realized_pnl,
                    pnl_pct=closed.pnl_pct,
                )

    def _unmatched(self, tx: StoreSession, activity: Activity, why: str) -> None:
        logger.warning("activity {} not booked: {}", activity.activity_id, why)
        self.desk.event(
            tx,
            "reconcile.unmatched_activity",
            f"{activity.activity_type} {activity.qty} {activity.symbol}: {why}",
            level=AlertLevel.WARNING,
            subject=activity.symbol,
            payload=_payload(activity),
            alert=True,
        )

    def _time_of(self, activity: Activity) -> datetime:
        if activity.occurred_at is not None:
            return activity.occurred_at
        session = self.desk.calendar.session(activity.occurred_on)
        return session.close_at if session is not None else self.desk.clock.now()


def _side_matches(kind: ActivityType, qty: Decimal, leg: PositionLeg) -> bool:
    if kind is ActivityType.OPTION_ASSIGNMENT:
        return leg.side is Side.SELL
    if kind is ActivityType.OPTION_EXERCISE:
        return leg.side is Side.BUY
    if qty < 0:
        return leg.side is Side.SELL
    if qty > 0:
        return leg.side is Side.BUY
    return True


def _payload(activity: Activity) -> dict[str, object]:
    return {
        "activity_id": activity.activity_id,
        "type": activity.activity_type.value,
        "symbol": activity.symbol,
        "qty": activity.qty,
        "price": activity.price,
        "status": activity.status.value,
        "order_id": activity.order_id,
    }
