"""Reconciliation with the broker (start-up and every 15 minutes) and end-of-day clean-up.

Order of work in :meth:`Reconciler.run`:

1. every active intent is synced without walking: PENDING/UNKNOWN records are looked up by
   client order id (adopted if found; on confirmed absence re-sent if still wanted, else
   NOT_SUBMITTED), working orders are refreshed and their fills booked;
2. orders we track as working although their intent is finished (stale) are cancelled;
3. the broker's open orders are compared with ours: ours are adopted back into their
   intent if it is still active, or cancelled if it is not (stale); orders whose client id
   is not ours are *external*: flagged (event + alert, once per order) or, with
   ``execution.external_orders: adopt``, recorded as external order rows and followed, but
   never cancelled or replaced;
4. account activities after the stored cursor are booked (see :mod:`.activities`);
5. the broker's positions are compared, symbol by symbol (signed quantity), with the open
   legs of our trades; each difference is an ``reconcile.difference`` event and an alert.
   If a fill lands while the comparison is taken, it is taken once more; if it moves again
   it is skipped this round rather than reporting a difference that is only a race.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from agent.domain import (
    AlertLevel,
    BrokerOrder,
    BrokerPosition,
    Fill,
    OrderRecord,
    PositionIntent,
    PositionStatus,
    ReconcileReport,
    Side,
    Trade,
    TradeStatus,
    underlying_of,
)
from agent.errors import BrokerAuthError, InvariantViolation
from agent.execution import walklog as wl
from agent.execution.activities import ActivityIngestor
from agent.execution.desk import Desk
from agent.execution.intents import adopted_trade_id, structure_of_single
from agent.execution.ledger import Book
from agent.execution.records import ACTIVE_INTENT_STATUSES
from agent.execution.state import (
    UNRESOLVED_STATUSES,
    WORKING_STATUSES,
    normalize_broker_status,
)
from agent.logging import logger
from agent.ports import StoreSession

__all__ = ["Reconciler"]

T = TypeVar("T")
EXTERNAL_STATE_KEY = "execution.external_orders"
_MAX_REMEMBERED = 500


class Reconciler:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.activities = ActivityIngestor(desk)

    # ------------------------------------------------------------------ passes

    def sync_active(self, *, walk: bool) -> int:
        """Sync every active intent (oldest first); returns how many are still active."""
        desk = self.desk
        with desk.tx() as tx:
            intents = tx.orders.list_intents(statuses=ACTIVE_INTENT_STATUSES)
        for intent in intents:
            try:
                desk.sync(intent.intent_id, walk=walk)
            except (BrokerAuthError, InvariantViolation):
                raise
            except Exception:
                desk.counters.errors += 1
                logger.exception("execution: intent {} failed this pass", intent.intent_id)
        with desk.tx() as tx:
            return len(tx.orders.list_intents(statuses=ACTIVE_INTENT_STATUSES))

    def cancel_stale(self) -> int:
        """Cancel working orders of ours whose intent is finished; returns how many."""
        desk = self.desk
        with desk.tx() as tx:
            stale: list[OrderRecord] = []
            for record in tx.orders.list_orders(statuses=WORKING_STATUSES):
                if record.intent_id is None or record.order_id is None:
                    continue
                intent = tx.orders.get_intent(record.intent_id)
                if intent is not None and intent.status not in ACTIVE_INTENT_STATUSES:
                    stale.append(record)
        for record in stale:
            assert record.order_id is not None and record.intent_id is not None
            try:
                desk.cancel(record.order_id)
                desk.refresh(record.intent_id, record)
            except (BrokerAuthError, InvariantViolation):
                raise
            except Exception:
                desk.counters.errors += 1
                logger.exception("execution: stale order {} not cancelled", record.order_id)
                continue
            with desk.tx() as tx:
                desk.event(
                    tx,
                    "order.stale_canceled",
                    f"order {record.order_id} was working for a finished intent: cancelled",
                    level=AlertLevel.WARNING,
                    subject=record.order_id,
                    payload={"intent_id": record.intent_id, "cid": record.client_order_id},
                )
        desk.counters.canceled += len(stale)
        return len(stale)

    def run(self) -> ReconcileReport:
        """One reconciliation; a phase that fails is logged and counted, the others run."""
        desk = self.desk
        self._guard("sync intents", lambda: self.sync_active(walk=False), 0)
        self._guard("stale orders", self.cancel_stale, 0)
        external = self._guard("broker orders", self._broker_orders, 0)
        activities = self._guard("activities", self.activities.run, 0)
        nothing: tuple[tuple[str, ...], int] = ((), 0)
        differences, adopted = self._guard("positions", self._positions, nothing)
        return ReconcileReport(
            activities=activities,
            differences=differences,
            resolved_unknown=desk.counters.resolved,
            external_orders=external,
            adopted_positions=adopted,
        )

    def _guard(self, what: str, phase: Callable[[], T], default: T) -> T:
        """A loop boundary: auth and invariant errors propagate, the rest is counted."""
        try:
            return phase()
        except (BrokerAuthError, InvariantViolation):
            raise
        except Exception:
            self.desk.counters.errors += 1
            logger.exception("reconcile: {} failed this round", what)
            return default

    def end_of_day(self) -> int:
        """Cancel every working order of ours (entries, exits, rolls) before the close."""
        desk = self.desk
        before = desk.counters.canceled
        self.sync_active(walk=False)
        with desk.tx() as tx:
            intents = tx.orders.list_intents(statuses=ACTIVE_INTENT_STATUSES)
        for intent in intents:
            try:
                desk.control_cancel(intent.intent_id, wl.EOD_CANCEL)
            except (BrokerAuthError, InvariantViolation):
                raise
            except Exception:
                desk.counters.errors += 1
                logger.exception("execution: end-of-day cancel of {} failed", intent.intent_id)
        self.cancel_stale()
        return desk.counters.canceled - before

    # ------------------------------------------------------------------ broker orders

    def _broker_orders(self) -> int:
        desk = self.desk
        orders = desk.retrier.call(
            "list open orders", lambda: desk.broker.list_orders(status="open")
        )
        external = 0
        for order in orders:
            with desk.tx() as tx:
                record = tx.orders.get_order_by_client_id(order.client_order_id)
                intent = (
                    tx.orders.get_intent(record.intent_id)
                    if record is not None and record.intent_id is not None
                    else None
                )
            if record is None or record.external:
                external += 1
                self._external(order, record)
                continue
            assert record.intent_id is not None
            if intent is not None and intent.status in ACTIVE_INTENT_STATUSES:
                if record.status in UNRESOLVED_STATUSES:
                    desk.ingest(
                        record.intent_id,
                        record.client_order_id,
                        order,
                        step_outcome=desk.price_outcome(record),
                    )
                elif record.order_id != order.order_id or record.status not in WORKING_STATUSES:
                    desk.ingest(record.intent_id, record.client_order_id, order)
                continue
            # Ours, working, for an intent we consider finished: cancel it (never adopt).
            desk.cancel(order.order_id)
            desk.counters.canceled += 1
            settled = not record.status.is_terminal
            if settled:
                desk.ingest(record.intent_id, record.client_order_id, desk.fetch(order.order_id))
            with desk.tx() as tx:
                desk.event(
                    tx,
                    "order.stale_canceled",
                    f"order {order.order_id} ({order.client_order_id}) was working at the "
                    "broker for a finished intent: cancelled"
                    + ("" if settled else f" (we had it as {record.status}: check its fills)"),
                    level=AlertLevel.WARNING if settled else AlertLevel.CRITICAL,
                    subject=order.order_id,
                    alert=True,
                )
        return external

    def _external(self, order: BrokerOrder, record: OrderRecord | None) -> None:
        desk = self.desk
        adopt = desk.exec.external_orders == "adopt"
        with desk.tx() as tx:
            seen = dict(tx.state.get(EXTERNAL_STATE_KEY) or {})
            flagged = list(seen.get("flagged") or [])
            if adopt:
                status = normalize_broker_status(order.status, order.qty, order.filled_qty)
                base = record or OrderRecord(
                    client_order_id=order.client_order_id,
                    intent_id=None,
                    status=status,
                    qty=order.qty,
                    limit_price=order.limit_price,
                    external=True,
                )
                tx.orders.upsert_order(
                    replace(
                        base,
                        order_id=order.order_id,
                        status=status,
                        qty=order.qty,
                        filled_qty=order.filled_qty,
                        filled_avg_price=order.filled_avg_price,
                        limit_price=order.limit_price,
                        submitted_at=base.submitted_at or order.created_at,
                        updated_at=order.updated_at,
                        external=True,
                    )
                )
            if order.order_id in flagged:
                return
            flagged = [*flagged, order.order_id][-_MAX_REMEMBERED:]
            tx.state.put(EXTERNAL_STATE_KEY, {"flagged": flagged})
            desk.event(
                tx,
                "order.external",
                f"order {order.order_id} ({', '.join(order.underlying_symbols)}) was not "
                f"placed by optagent: {'adopted (followed, never touched)' if adopt else 'flagged'}",
                level=AlertLevel.WARNING,
                subject=order.order_id,
                payload={
                    "client_order_id": order.client_order_id,
                    "status": order.status.value,
                    "qty": order.qty,
                    "limit_price": order.limit_price,
                },
                alert=True,
            )

    # ------------------------------------------------------------------ positions

    def _adopt(self, tx: StoreSession, position: BrokerPosition) -> None:
        """Take a broker position no trade holds into the book (``monitor.external_positions:
        adopt``): a STOCK or SINGLE_OPTION trade opened by one synthetic fill at the broker's
        average entry price, so its P&L stays the sum of its fills. The monitor marks it and
        closes it on request; no strategy manages it."""
        desk = self.desk
        now = desk.clock.now()
        symbol = position.symbol
        side = Side.BUY if position.qty > 0 else Side.SELL
        trade_id = adopted_trade_id(symbol, now)
        tx.trades.add(
            Trade(
                trade_id=trade_id,
                underlying=underlying_of(symbol),
                strategy=structure_of_single(symbol),
                status=TradeStatus.PENDING,
                qty=abs(position.qty),
                opened_at=now,
                reason_tags=("adopted",),
                notes="adopted from the broker by reconciliation",
            )
        )
        fill = Fill(
            fill_id=f"adopt:{symbol}:{now.isoformat()}",
            order_id="adopted",
            client_order_id="adopted",
            symbol=symbol,
            side=side,
            qty=abs(position.qty),
            price=position.avg_entry_price,
            filled_at=now,
            position_intent=(
                PositionIntent.BUY_TO_OPEN if side is Side.BUY else PositionIntent.SELL_TO_OPEN
            ),
        )
        Book(tx).record_fill(fill, trade_id=trade_id)
        desk.event(
            tx,
            "reconcile.adopted",
            f"{symbol}: adopted {position.qty:+d} at {position.avg_entry_price} as trade {trade_id}",
            level=AlertLevel.WARNING,
            subject=symbol,
            payload={"symbol": symbol, "qty": position.qty, "trade_id": trade_id},
            alert=True,
        )

    def _ours(self) -> dict[str, int]:
        with self.desk.tx() as tx:
            legs = tx.positions.list(status=PositionStatus.OPEN)
        ours: dict[str, int] = defaultdict(int)
        for leg in legs:
            ours[leg.symbol] += leg.signed_qty
        return dict(ours)

    def _positions(self) -> tuple[tuple[str, ...], int]:
        """Broker positions against ours: the differences flagged, and how many external
        positions were adopted (``monitor.external_positions``)."""
        desk = self.desk
        for _ in range(2):
            fills_before = desk.counters.fills
            positions = {
                p.symbol: p for p in desk.retrier.call("get positions", desk.broker.get_positions)
            }
            broker = {symbol: p.qty for symbol, p in positions.items()}
            self.sync_active(walk=False)
            if desk.counters.fills == fills_before:
                break
        else:
            logger.info("positions moved while reconciling; comparison skipped this round")
            return (), 0
        ours = self._ours()
        differences: list[str] = []
        adopted = 0
        with desk.tx() as tx:
            for symbol in sorted(set(broker) | set(ours)):
                at_broker, held = broker.get(symbol, 0), ours.get(symbol, 0)
                if at_broker == held:
                    continue
                if held == 0 and desk.settings.monitor.external_positions == "adopt":
                    self._adopt(tx, positions[symbol])
                    adopted += 1
                    continue
                text = f"{symbol}: broker {at_broker:+d}, optagent {held:+d}"
                differences.append(text)
                desk.event(
                    tx,
                    "reconcile.difference",
                    text,
                    level=AlertLevel.WARNING,
                    subject=symbol,
                    payload={"symbol": symbol, "broker_qty": at_broker, "our_qty": held},
                    alert=True,
                )
        return tuple(differences), adopted
