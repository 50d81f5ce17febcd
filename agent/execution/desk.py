"""The order desk: sends, tracks and walks the orders of every intent, crash-only.

Nothing here lives only in memory: each step reads the intent, its order records and its
walk log from the store, talks to the broker *outside* any transaction, and writes what it
learned in one transaction (order record, fills, positions, trade, walk step together).

Submission follows ALPACA_NOTES §2's idempotent recipe:

1. the order record (client order id, PENDING) is committed before the request is sent;
2. a non-ambiguous transient error is retried with the same client order id; a duplicate
   client order id means the first try landed: look it up and adopt it;
3. an ambiguous failure marks the record UNKNOWN and looks it up at once; if the broker has
   nothing yet, the record waits ``unknown_grace_s`` (visibility lag) and is looked up
   again on the next pass. Only a confirmed absence lets the same client order id be sent
   again, and only if the order is still wanted; otherwise it becomes NOT_SUBMITTED.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal

from agent.calendar import MarketCalendar
from agent.clock import Clock
from agent.config import AgentSettings
from agent.domain import (
    AlertLevel,
    BrokerOrder,
    Event,
    Fill,
    OrderIntent,
    OrderLeg,
    OrderPurpose,
    OrderRecord,
    OrderRequest,
    OrderStatus,
    Side,
    Trade,
    TradeStatus,
    WalkStep,
    client_order_id_for,
)
from agent.errors import (
    DataError,
    DuplicateClientOrderId,
    OrderNotFound,
    OrderRejected,
    TransientBrokerError,
)
from agent.execution import walklog as wl
from agent.execution.fills import derive_fills
from agent.execution.intents import entry_deltas, entry_intent_id, roll_intent_id
from agent.execution.ledger import Book, multiplier_of
from agent.execution.records import (
    ACTIVE_INTENT_STATUSES,
    FIXED_BOUND_PREFIX,
    ActivityState,
    IntentView,
    PassCounters,
    QuoteProvider,
    exit_reason_of,
)
from agent.execution.retry import Retrier
from agent.execution.state import (
    UNRESOLVED_STATUSES,
    WORKING_STATUSES,
    OrderState,
    confirm_absent,
    mark_not_submitted,
    mark_unknown,
    normalize_broker_status,
    observe,
)
from agent.execution.walker import NetQuote, exit_bound, net_quote, plan_price
from agent.logging import journal, logger
from agent.ports import Alerts, Broker, Store, StoreSession

__all__ = ["Desk"]


class Desk:
    """Order submission, tracking, walking and finalisation for the execution service."""

    def __init__(
        self,
        *,
        broker: Broker,
        store: Store,
        clock: Clock,
        settings: AgentSettings,
        alerts: Alerts,
        quotes: QuoteProvider,
        calendar: MarketCalendar,
        retrier: Retrier,
        unknown_grace_s: float,
        new_id: Callable[[], str],
    ) -> None:
        self.broker = broker
        self.store = store
        self.clock = clock
        self.settings = settings
        self.exec = settings.execution
        self.alerts = alerts
        self.quotes = quotes
        self.calendar = calendar
        self.retrier = retrier
        self.unknown_grace_s = unknown_grace_s
        self.new_id = new_id
        self.counters = PassCounters()
        self._outbox: list[Callable[[], None]] = []

    # ================================================================== plumbing

    @contextmanager
    def tx(self) -> Iterator[StoreSession]:
        """A store transaction; alerts and journal lines queued in it go out after commit."""
        mark = len(self._outbox)
        try:
            with self.store.transaction() as session:
                yield session
        except BaseException:
            del self._outbox[mark:]
            raise
        self.flush()

    def flush(self) -> None:
        outbox, self._outbox = self._outbox, []
        for send in outbox:
            try:
                send()
            except Exception:  # an alert channel failing must not stop trading
                logger.exception("alert or journal delivery failed")

    def later_journal(self, kind: str, **fields: object) -> None:
        self._outbox.append(lambda: journal(kind, **fields))

    def later_alert(self, level: AlertLevel, title: str, body: str) -> None:
        self._outbox.append(lambda: self.alerts.send(level=level, title=title, body=body))

    def event(
        self,
        tx: StoreSession,
        kind: str,
        message: str,
        *,
        level: AlertLevel = AlertLevel.INFO,
        subject: str | None = None,
        payload: Mapping[str, object] | None = None,
        alert: bool = False,
    ) -> None:
        tx.events.add(
            Event(
                event_id=self.new_id(),
                kind=kind,
                occurred_at=self.clock.now(),
                level=level,
                message=message,
                subject=subject,
                payload=dict(payload or {}),
            )
        )
        if alert:
            self.later_alert(level, kind, message)

    def view(self, tx: StoreSession, intent_id: str) -> IntentView:
        intent = tx.orders.get_intent(intent_id)
        if intent is None:
            raise LookupError(f"no intent {intent_id}")
        return IntentView(
            intent=intent,
            records=tuple(tx.orders.list_orders(intent_id=intent_id)),
            log=wl.WalkLog.of(tx.orders.list_walk_steps(intent_id)),
        )

    def load(self, intent_id: str) -> IntentView:
        with self.tx() as tx:
            return self.view(tx, intent_id)

    def step(
        self,
        tx: StoreSession,
        intent_id: str,
        outcome: str,
        *,
        limit: Decimal | None,
        client_order_id: str,
        natural: Decimal | None = None,
        mid: Decimal | None = None,
    ) -> None:
        steps = tx.orders.list_walk_steps(intent_id)
        number = max((s.step for s in steps), default=-1) + 1
        tx.orders.add_walk_step(
            WalkStep(
                intent_id=intent_id,
                step=number,
                at=self.clock.now(),
                limit_price=limit if limit is not None else Decimal(0),
                natural_price=natural,
                mid_price=mid,
                spread_width=None if natural is None or mid is None else natural - mid,
                client_order_id=client_order_id,
                outcome=outcome,
            )
        )
        if outcome in wl.PRICE_OUTCOMES:
            self.counters.steps += 1 if outcome != wl.SUBMITTED else 0

    def fresh_net(self, legs: Sequence[OrderLeg]) -> NetQuote | None:
        """Net quote of ``legs`` now, or None (no quote, or the provider failed)."""
        try:
            quotes = self.quotes([leg.symbol for leg in legs])
        except (DataError, TransientBrokerError, LookupError, ValueError) as exc:
            logger.warning("quotes for {} unavailable: {}", [leg.symbol for leg in legs], exc)
            return None
        return net_quote(legs, quotes, self.exec)

    def market_open(self) -> bool:
        return self.calendar.is_open(self.clock.now())

    # ================================================================== broker calls

    def lookup(self, client_order_id: str) -> BrokerOrder | None:
        return self.retrier.call(
            f"look up {client_order_id}",
            lambda: self.broker.get_order_by_client_id(client_order_id),
        )

    def fetch(self, order_id: str) -> BrokerOrder:
        return self.retrier.call(f"get order {order_id}", lambda: self.broker.get_order(order_id))

    def cancel(self, order_id: str) -> None:
        """Ask the broker to cancel (idempotent: an order already done is fine)."""
        try:
            self.retrier.call(f"cancel {order_id}", lambda: self.broker.cancel_order(order_id))
        except OrderRejected as exc:
            logger.info("cancel of {} refused ({}); it is already done", order_id, exc)
        except OrderNotFound:
            logger.warning("cancel of {}: the broker does not know the order", order_id)

    # ================================================================== submission

    def prepare(
        self,
        tx: StoreSession,
        intent: OrderIntent,
        *,
        attempt: int,
        qty: int,
        limit: Decimal,
        replaces_order_id: str | None = None,
    ) -> OrderRecord:
        """Commit the next attempt's order record (PENDING) before anything is sent."""
        cid = client_order_id_for(intent.intent_id, attempt)
        if tx.orders.get_order_by_client_id(cid) is not None:
            raise LookupError(f"client order id {cid} is already recorded")
        record = OrderRecord(
            client_order_id=cid,
            intent_id=intent.intent_id,
            status=OrderStatus.PENDING,
            qty=qty,
            limit_price=limit,
            updated_at=self.clock.now(),
            replaces_order_id=replaces_order_id,
        )
        tx.orders.upsert_order(record)
        tx.orders.update_intent(replace(intent, attempt=attempt))
        return record

    def send(
        self,
        intent_id: str,
        client_order_id: str,
        *,
        outcome: str,
        natural: Decimal | None = None,
        mid: Decimal | None = None,
    ) -> None:
        """Submit a PENDING record; every outcome is written down."""
        view = self.load(intent_id)
        record = view.record(client_order_id)
        if record is None or record.status is not OrderStatus.PENDING:
            raise LookupError(f"{client_order_id} is not a pending order of {intent_id}")
        if record.limit_price is None:
            raise ValueError(f"{client_order_id} has no limit price")
        request = OrderRequest(
            client_order_id=client_order_id,
            legs=view.intent.legs,
            qty=record.qty,
            limit_price=record.limit_price,
        )
        try:
            order: BrokerOrder | None = self.retrier.call(
                f"submit {client_order_id}",
                lambda: self.broker.submit_order(request),
                retry_ambiguous=False,
            )
        except DuplicateClientOrderId:
            # An earlier try landed: the order exists; adopt it.
            order = self._lookup_or_unknown(intent_id, client_order_id)
        except TransientBrokerError as exc:
            if not exc.ambiguous:
                logger.warning("submit {} not applied ({}); it stays pending", client_order_id, exc)
                return
            self.mark_unknown(intent_id, client_order_id, str(exc))
            order = self._lookup_or_unknown(intent_id, client_order_id)
        except OrderRejected as exc:
            self.rejected(intent_id, client_order_id, exc)
            return
        if order is not None:
            self.ingest(
                intent_id,
                client_order_id,
                order,
                step_outcome=outcome,
                natural=natural if natural is not None else view.intent.natural_price,
                mid=mid if mid is not None else view.intent.mid_price,
            )

    def _lookup_or_unknown(self, intent_id: str, client_order_id: str) -> BrokerOrder | None:
        try:
            found = self.lookup(client_order_id)
        except TransientBrokerError as exc:
            logger.warning("look-up of {} failed ({}); resolved later", client_order_id, exc)
            found = None
        if found is None:
            with self.tx() as tx:
                record = tx.orders.get_order_by_client_id(client_order_id)
                if record is not None and record.status is OrderStatus.PENDING:
                    self._write_unknown(tx, intent_id, record, "not visible yet")
        return found

    def mark_unknown(self, intent_id: str, client_order_id: str, why: str) -> None:
        with self.tx() as tx:
            record = tx.orders.get_order_by_client_id(client_order_id)
            if record is not None and record.status is OrderStatus.PENDING:
                self._write_unknown(tx, intent_id, record, why)

    def _write_unknown(
        self, tx: StoreSession, intent_id: str, record: OrderRecord, why: str
    ) -> None:
        state = mark_unknown(OrderState(status=record.status, qty=record.qty))
        tx.orders.upsert_order(replace(record, status=state.status, updated_at=self.clock.now()))
        intent = tx.orders.get_intent(intent_id)
        if intent is not None and intent.status in ACTIVE_INTENT_STATUSES:
            tx.orders.update_intent(replace(intent, status=OrderStatus.UNKNOWN))
        self.step(
            tx,
            intent_id,
            wl.UNKNOWN,
            limit=record.limit_price,
            client_order_id=record.client_order_id,
        )
        self.later_journal(
            "order", action="unknown", intent_id=intent_id, cid=record.client_order_id, why=why
        )

    def rejected(self, intent_id: str, client_order_id: str, error: OrderRejected) -> None:
        """The broker refused a submit: final for the order (and the intent, if it has no
        other order working)."""
        with self.tx() as tx:
            record = tx.orders.get_order_by_client_id(client_order_id)
            if record is None:
                return
            state = observe(
                OrderState(status=record.status, qty=record.qty), OrderStatus.REJECTED, 0
            )
            tx.orders.upsert_order(
                replace(
                    record,
                    status=state.status,
                    reject_reason=str(error),
                    updated_at=self.clock.now(),
                )
            )
            self.step(
                tx,
                intent_id,
                wl.REJECTED,
                limit=record.limit_price,
                client_order_id=client_order_id,
            )
            intent = tx.orders.get_intent(intent_id)
            self.event(
                tx,
                "order.rejected",
                f"order {client_order_id} rejected: {error}",
                level=AlertLevel.WARNING,
                subject=intent.trade_id if intent else intent_id,
                payload={"intent_id": intent_id, "code": error.code, "reason": str(error)},
                alert=True,
            )
            self.later_journal(
                "order",
                action="rejected",
                intent_id=intent_id,
                cid=client_order_id,
                reason=str(error),
            )
            view = self.view(tx, intent_id)
            if not view.working and not view.unresolved:
                self.finalize(tx, view, OrderStatus.REJECTED)

    # ================================================================== ingesting broker state

    def ingest(
        self,
        intent_id: str,
        client_order_id: str,
        order: BrokerOrder,
        *,
        step_outcome: str | None = None,
        natural: Decimal | None = None,
        mid: Decimal | None = None,
    ) -> int:
        """Write what the broker says about one of our orders; returns the new fills."""
        if order.client_order_id != client_order_id:
            raise LookupError(f"order {order.order_id} is not {client_order_id}")
        with self.tx() as tx:
            view = self.view(tx, intent_id)
            record = view.record(client_order_id)
            if record is None:
                raise LookupError(f"no order record {client_order_id}")
            if (
                step_outcome is None
                and record.order_id == order.order_id
                and record.status is order.status
                and record.filled_qty == order.filled_qty
                and record.updated_at == order.updated_at
            ):
                return 0  # nothing new since the last poll
            if step_outcome is not None and not view.log.has_price_step_for(client_order_id):
                self.step(
                    tx,
                    intent_id,
                    step_outcome,
                    limit=order.limit_price,
                    client_order_id=client_order_id,
                    natural=natural,
                    mid=mid,
                )
                self.later_journal(
                    "order",
                    action=step_outcome,
                    intent_id=intent_id,
                    trade_id=view.intent.trade_id,
                    cid=client_order_id,
                    order_id=order.order_id,
                    limit=order.limit_price,
                    qty=order.qty,
                    legs=[leg.symbol for leg in view.intent.legs],
                )
            new_fills = self._apply_order(tx, view, record, order)
            view = self.view(tx, intent_id)
            if (
                view.filled_units >= view.intent.qty
                and view.intent.status in ACTIVE_INTENT_STATUSES
                and not view.unresolved  # an order in doubt must be settled first
                and not view.working
            ):
                self.finalize(tx, view, OrderStatus.FILLED)
            elif view.intent.status in ACTIVE_INTENT_STATUSES:
                self._update_intent_status(tx, view)
            return new_fills

    def _apply_order(
        self, tx: StoreSession, view: IntentView, record: OrderRecord, order: BrokerOrder
    ) -> int:
        intent = view.intent
        status = normalize_broker_status(order.status, order.qty, order.filled_qty)
        qty = order.qty if record.status in UNRESOLVED_STATUSES else record.qty
        before = OrderState(status=record.status, qty=qty, filled_qty=record.filled_qty)
        after = observe(before, status, order.filled_qty)
        fills, legs_filled = derive_fills(
            order=order, legs=intent.legs, previous=record.legs_filled, at=self.clock.now()
        )
        new = 0
        touched: set[str] = set()
        book = Book(tx)
        for fill in fills:
            trade_id = self._trade_for_leg(intent, fill)
            trade = tx.trades.get(trade_id)
            deltas = entry_deltas(trade.params) if trade is not None else {}
            if book.record_fill(fill, trade_id=trade_id, entry_deltas=deltas):
                new += 1
                touched.add(trade_id)
                self.later_journal(
                    "fill",
                    trade_id=trade_id,
                    intent_id=intent.intent_id,
                    fill_id=fill.fill_id,
                    order_id=fill.order_id,
                    symbol=fill.symbol,
                    side=fill.side,
                    qty=fill.qty,
                    price=fill.price,
                    at=fill.filled_at,
                )
        tx.orders.upsert_order(
            replace(
                record,
                order_id=order.order_id,
                status=after.status,
                qty=qty,
                filled_qty=after.filled_qty,
                filled_avg_price=order.filled_avg_price,
                limit_price=order.limit_price
                if order.limit_price is not None
                else record.limit_price,
                submitted_at=record.submitted_at or order.created_at,
                updated_at=order.updated_at,
                replaces_order_id=record.replaces_order_id or order.replaces,
                legs_filled=legs_filled,
                reject_reason=order.reject_reason or record.reject_reason,
            )
        )
        if new:
            self.counters.fills += new
            fresh = self.view(tx, intent.intent_id)
            outcome = wl.FILLED if after.status is OrderStatus.FILLED else wl.PARTIAL
            self.step(
                tx,
                intent.intent_id,
                outcome,
                limit=order.limit_price,
                client_order_id=record.client_order_id,
            )
            if fresh.filled_units > intent.qty:
                self.event(
                    tx,
                    "order.overfilled",
                    f"intent {intent.intent_id} filled {fresh.filled_units} of {intent.qty}",
                    level=AlertLevel.CRITICAL,
                    subject=intent.trade_id,
                    alert=True,
                )
            self._after_fills(tx, fresh, touched)
        return new

    @staticmethod
    def _trade_for_leg(intent: OrderIntent, fill: Fill) -> str:
        if (
            intent.purpose is OrderPurpose.ROLL
            and intent.closes_trade_id is not None
            and fill.position_intent is not None
            and not fill.position_intent.opens
        ):
            return intent.closes_trade_id
        return intent.trade_id

    def _after_fills(self, tx: StoreSession, view: IntentView, touched: set[str]) -> None:
        intent = view.intent
        if self._opens_trade(intent):
            self._record_entry_price(tx, view)
        due = ActivityState.load(tx).trades_due
        for trade_id in sorted(touched):
            trade = tx.trades.get(trade_id)
            if trade is None:
                continue
            reason = exit_reason_of(intent, assigned=_was_assigned(trade))
            closed = Book(tx).settle(
                trade_id, at=self.clock.now(), reason=reason, deliveries_due=due
            )
            if closed is not None:
                self._closed(tx, closed)

    def _closed(self, tx: StoreSession, trade: Trade) -> None:
        self.later_journal(
            "exit",
            trade_id=trade.trade_id,
            underlying=trade.underlying,
            reason=trade.exit_reason,
            realized_pnl=trade.realized_pnl,
            pnl_pct=trade.pnl_pct,
            exit_net_price=trade.exit_net_price,
            days_held=trade.days_held,
        )
        self.event(
            tx,
            "trade.closed",
            f"{trade.underlying} {trade.strategy} closed ({trade.exit_reason}): "
            f"P&L {trade.realized_pnl}",
            subject=trade.trade_id,
            payload={"realized_pnl": trade.realized_pnl, "reason": trade.exit_reason},
        )

    @staticmethod
    def _opens_trade(intent: OrderIntent) -> bool:
        return intent.intent_id in (
            entry_intent_id(intent.trade_id),
            roll_intent_id(intent.trade_id),
        )

    def _record_entry_price(self, tx: StoreSession, view: IntentView) -> None:
        summary = self.summary(tx, view)
        avg = summary.get("avg_fill_price")
        trade = tx.trades.get(view.intent.trade_id)
        if trade is None or not isinstance(avg, Decimal):
            return
        if view.intent.purpose is OrderPurpose.ROLL:
            # The new trade holds only the opening legs: its entry price is theirs, not the
            # whole roll order's (whose closing legs book into the rolled trade).
            opening = self._opening_net(tx, view)
            if opening is None:
                return
            avg = opening
        tx.trades.update(replace(trade, entry_net_price=avg))

    @staticmethod
    def _opening_net(tx: StoreSession, view: IntentView) -> Decimal | None:
        """Signed net price per unit of the opening legs' fills of an intent (None if none)."""
        units = view.filled_units
        fills: list[Fill] = []
        for record in view.records:
            if record.order_id is not None:
                fills.extend(tx.fills.list(order_id=record.order_id))
        opening = [f for f in fills if f.position_intent is not None and f.position_intent.opens]
        if units <= 0 or not opening:
            return None
        notional = sum((f.side.sign * f.qty * f.price for f in opening), Decimal(0))
        return (notional / units).quantize(Decimal("0.000001"))

    def _update_intent_status(self, tx: StoreSession, view: IntentView) -> None:
        intent = view.intent
        status = intent.status
        if view.unresolved:
            unknown = any(r.status is OrderStatus.UNKNOWN for r in view.unresolved)
            status = OrderStatus.UNKNOWN if unknown else OrderStatus.PENDING
        elif view.working:
            live = view.working[-1]
            partial = 0 < view.filled_units < intent.qty
            status = OrderStatus.PARTIALLY_FILLED if partial else live.status
        if status is not intent.status:
            tx.orders.update_intent(replace(intent, status=status))

    # ================================================================== finishing an intent

    def summary(self, tx: StoreSession, view: IntentView) -> dict[str, object]:
        """Fill price and slippage of an intent (prices signed per unit; USD totals)."""
        intent = view.intent
        fills: list[Fill] = []
        for record in view.records:
            if record.order_id is not None:
                fills.extend(tx.fills.list(order_id=record.order_id))
        units = view.filled_units
        out: dict[str, object] = {
            "intent_id": intent.intent_id,
            "purpose": intent.purpose.value,
            "qty": intent.qty,
            "filled_units": units,
            "mid_at_decision": intent.mid_price,
            "natural_at_decision": intent.natural_price,
            "limit_bound": intent.limit_bound,
            "first_limit": view.log.first_limit,
            "rounds": view.log.rounds,
            "price_steps": view.log.price_steps,
            "orders": len([r for r in view.records if r.order_id is not None]),
        }
        if units <= 0 or not fills:
            return out
        multiplier = multiplier_of(intent.legs[0].symbol)
        notional = sum((f.side.sign * f.qty * f.price for f in fills), Decimal(0))
        avg = (notional / units).quantize(Decimal("0.000001"))
        out["avg_fill_price"] = avg
        out["slippage_vs_mid"] = avg - intent.mid_price
        out["slippage_vs_mid_usd"] = (avg - intent.mid_price) * units * multiplier
        first = view.log.first_limit
        if first is not None:
            out["slippage_vs_first_limit"] = avg - first
            out["slippage_vs_first_limit_usd"] = (avg - first) * units * multiplier
        out["fees_usd"] = sum((f.fee_usd for f in fills), Decimal(0))
        return out

    def finalize(self, tx: StoreSession, view: IntentView, status: OrderStatus) -> None:
        """Make the intent terminal and move its trades accordingly."""
        intent = view.intent
        if not status.is_terminal:
            raise ValueError(f"{status} is not terminal")
        tx.orders.update_intent(replace(intent, status=status))
        outcome = {
            OrderStatus.FILLED: wl.FILLED,
            OrderStatus.CANCELED: wl.CANCELED,
            OrderStatus.EXPIRED: wl.EXPIRED,
            OrderStatus.REJECTED: wl.REJECTED,
            OrderStatus.NOT_SUBMITTED: wl.NOT_SUBMITTED,
        }.get(status, wl.CANCELED)
        last_cid = view.records[-1].client_order_id if view.records else intent.client_order_id
        if not (view.log.steps and view.log.steps[-1].outcome == outcome):
            last_limit = view.records[-1].limit_price if view.records else intent.start_price
            self.step(tx, intent.intent_id, outcome, limit=last_limit, client_order_id=last_cid)
        view = self.view(tx, intent.intent_id)
        summary = self.summary(tx, view)
        summary["status"] = status.value
        now = self.clock.now()
        if intent.purpose is OrderPurpose.OPEN or intent.purpose is OrderPurpose.ROLL:
            self._finish_opening(tx, view, summary)
        if intent.purpose is OrderPurpose.CLOSE or intent.purpose is OrderPurpose.ROLL:
            closed_id = (
                intent.closes_trade_id if intent.purpose is OrderPurpose.ROLL else intent.trade_id
            )
            if closed_id is not None:
                self._finish_closing(tx, view, closed_id, summary, status)
        if status is not OrderStatus.FILLED and intent.purpose is OrderPurpose.CLOSE:
            self.event(
                tx,
                "exit.incomplete",
                f"exit order of trade {intent.trade_id} ended {status} with "
                f"{view.filled_units}/{intent.qty} filled",
                level=AlertLevel.WARNING,
                subject=intent.trade_id,
                payload={"intent_id": intent.intent_id},
            )
        self.later_journal(
            "order",
            action="finished",
            intent_id=intent.intent_id,
            trade_id=intent.trade_id,
            at=now,
            **{k: v for k, v in summary.items() if k != "intent_id"},
        )

    def _store_summary(
        self, tx: StoreSession, trade_id: str, key: str, summary: Mapping[str, object]
    ) -> Trade | None:
        trade = tx.trades.get(trade_id)
        if trade is None:
            return None
        if not self.exec.record_slippage:
            return trade
        execution = dict(trade.execution)
        intents = dict(_mapping(execution.get("intents")))
        intents[str(summary["intent_id"])] = dict(summary)
        execution["intents"] = intents
        execution[key] = dict(summary)
        updated = replace(trade, execution=execution)
        tx.trades.update(updated)
        return updated

    def _finish_opening(
        self, tx: StoreSession, view: IntentView, summary: Mapping[str, object]
    ) -> None:
        intent = view.intent
        key = "entry" if intent.purpose is OrderPurpose.OPEN else "roll_entry"
        trade = self._store_summary(tx, intent.trade_id, key, summary)
        if trade is None or not self._opens_trade(intent):
            return
        filled = view.filled_units
        if trade.status is TradeStatus.PENDING and filled == 0:
            tx.trades.update(replace(trade, status=TradeStatus.CANCELED))
            self.later_journal(
                "trade", action="canceled", trade_id=trade.trade_id, reason=summary.get("status")
            )
            return
        if filled > 0 and filled != trade.qty and trade.qty > 0:
            scale = Decimal(filled) / Decimal(trade.qty)
            tx.trades.update(
                replace(
                    trade,
                    qty=filled,
                    max_loss_usd=(trade.max_loss_usd * scale).quantize(Decimal("0.01")),
                    capital_usd=(trade.capital_usd * scale).quantize(Decimal("0.01")),
                )
            )

    def _finish_closing(
        self,
        tx: StoreSession,
        view: IntentView,
        trade_id: str,
        summary: Mapping[str, object],
        status: OrderStatus,
    ) -> None:
        intent = view.intent
        key = "exit" if intent.purpose is OrderPurpose.CLOSE else "roll_exit"
        trade = self._store_summary(tx, trade_id, key, summary)
        if trade is None or trade.status is not TradeStatus.CLOSING:
            return
        others = [
            i
            for i in tx.orders.list_intents(statuses=ACTIVE_INTENT_STATUSES)
            if i.intent_id != intent.intent_id
            and (
                (i.trade_id == trade_id and i.purpose is OrderPurpose.CLOSE)
                or i.closes_trade_id == trade_id
            )
        ]
        if others:
            return
        book = Book(tx)
        closed = book.settle(
            trade_id,
            at=self.clock.now(),
            reason=exit_reason_of(intent, assigned=_was_assigned(trade)),
            deliveries_due=ActivityState.load(tx).trades_due,
        )
        if closed is not None:
            self._closed(tx, closed)
            return
        if book.open_legs(trade_id):
            tx.trades.update(replace(trade, status=TradeStatus.OPEN))

    # ================================================================== syncing an intent

    def sync(self, intent_id: str, *, walk: bool) -> None:
        """One pass over an intent: refresh, resolve, then walk or finish it."""
        view = self.load(intent_id)
        if view.intent.status not in ACTIVE_INTENT_STATUSES:
            return
        for record in view.working:
            self.refresh(intent_id, record)
        view = self.load(intent_id)
        for record in view.unresolved:
            self.resolve(intent_id, record.client_order_id)
        view = self.load(intent_id)
        if view.intent.status not in ACTIVE_INTENT_STATUSES:
            return
        if view.unresolved:
            return  # blocked until the look-up settles it
        if view.filled_units >= view.intent.qty:
            for record in view.working:  # more than the intent asked for must not work on
                if record.order_id is not None:
                    self.cancel(record.order_id)
                    self.refresh(intent_id, record)
            with self.tx() as tx:
                current = self.view(tx, intent_id)
                if current.intent.status in ACTIVE_INTENT_STATUSES:
                    self.finalize(tx, current, OrderStatus.FILLED)
            return
        control = view.log.pending_control
        if view.working:
            if control is not None:
                for record in view.working:  # a cancel we asked for is not done yet: ask again
                    if record.order_id is not None:
                        self.cancel(record.order_id)
                        self.refresh(intent_id, record)
                self._after_cancel(intent_id)
            elif walk:
                self.walk(intent_id)
            return
        self._after_cancel(intent_id)

    def refresh(self, intent_id: str, record: OrderRecord) -> None:
        if record.order_id is None:
            return
        order = self.fetch(record.order_id)
        self.ingest(intent_id, record.client_order_id, order)

    def resolve(self, intent_id: str, client_order_id: str) -> bool:
        """Settle a PENDING/UNKNOWN record by looking it up; True if it was settled."""
        view = self.load(intent_id)
        record = view.record(client_order_id)
        if record is None or record.status not in UNRESOLVED_STATUSES:
            return True
        since = record.updated_at or view.intent.created_at
        if (self.clock.now() - since).total_seconds() < self.unknown_grace_s:
            return False
        try:
            found = self.lookup(client_order_id)
        except TransientBrokerError as exc:
            logger.warning("look-up of {} failed ({}); retried next pass", client_order_id, exc)
            return False
        if found is not None:
            outcome = self.price_outcome(record)
            self.ingest(intent_id, client_order_id, found, step_outcome=outcome)
            if found.replaces:
                previous = self.load(intent_id).by_order_id(found.replaces)
                if previous is not None and previous.status in WORKING_STATUSES:
                    self.refresh(intent_id, previous)
            self.counters.resolved += 1
            return True
        # Confirmed absent: the same client order id may go out again.
        with self.tx() as tx:
            current = tx.orders.get_order_by_client_id(client_order_id)
            if current is None or current.status not in UNRESOLVED_STATUSES:
                return True
            state = confirm_absent(OrderState(status=current.status, qty=current.qty))
            tx.orders.upsert_order(replace(current, status=state.status))
        self.counters.resolved += 1
        view = self.load(intent_id)
        record = view.record(client_order_id)
        assert record is not None
        if self._may_resend(view, record):
            logger.info("{} confirmed absent: sending it again", client_order_id)
            self.send(intent_id, client_order_id, outcome=self.price_outcome(record))
        else:
            self.not_submitted(intent_id, client_order_id)
        return True

    def _may_resend(self, view: IntentView, record: OrderRecord) -> bool:
        """Whether a confirmed-absent order may go out again under the same client id.

        Only a fresh order (the first of a round, or one sent after its predecessor was
        cancelled) is re-sent, and only for no more than what is still unfilled: a replace
        request that never landed is dropped (its predecessor is still the order, or has
        finished), so a re-send can never double an order that traded meanwhile.
        """
        if record.limit_price is None or record.qty > view.remaining:
            return False
        if record.replaces_order_id is not None:
            predecessor = view.by_order_id(record.replaces_order_id)
            if predecessor is None or predecessor.status not in (
                OrderStatus.CANCELED,
                OrderStatus.EXPIRED,
            ):
                return False
        return self.still_wanted(view)

    def price_outcome(self, record: OrderRecord) -> str:
        if record.replaces_order_id is None:
            return wl.SUBMITTED
        return wl.REPLACED if self.exec.use_replace else wl.RESUBMITTED

    def not_submitted(self, intent_id: str, client_order_id: str) -> None:
        with self.tx() as tx:
            record = tx.orders.get_order_by_client_id(client_order_id)
            if record is None or record.status is not OrderStatus.PENDING:
                return
            state = mark_not_submitted(OrderState(status=record.status, qty=record.qty))
            tx.orders.upsert_order(
                replace(record, status=state.status, updated_at=self.clock.now())
            )
            self.step(
                tx,
                intent_id,
                wl.NOT_SUBMITTED,
                limit=record.limit_price,
                client_order_id=client_order_id,
            )
            self.later_journal(
                "order", action="not_submitted", intent_id=intent_id, cid=client_order_id
            )

    def still_wanted(self, view: IntentView) -> bool:
        """Whether an order of this intent should still go out now."""
        if self.settings.dry_run or not self.market_open():
            return False
        if view.log.pending_control in (wl.EOD_CANCEL, wl.FLATTEN_CANCEL):
            return False  # we asked for this intent to stop
        intent = view.intent
        with self.tx() as tx:
            trade = tx.trades.get(intent.trade_id)
            if trade is None:
                return False
            if intent.purpose is OrderPurpose.CLOSE:
                held = {leg.symbol for leg in Book(tx).open_legs(intent.trade_id)}
                return all(leg.symbol in held for leg in intent.legs)
            started = view.log.round_started_at or intent.created_at
            if (self.clock.now() - started).total_seconds() >= self.exec.fill_timeout_s:
                return False
            if intent.purpose is OrderPurpose.ROLL and intent.closes_trade_id is not None:
                held = {leg.symbol for leg in Book(tx).open_legs(intent.closes_trade_id)}
                closing = [leg.symbol for leg in intent.legs if not leg.position_intent.opens]
                return all(symbol in held for symbol in closing)
            if self._opens_trade(intent):
                return trade.status in (TradeStatus.PENDING, TradeStatus.OPEN)
            return trade.status is TradeStatus.OPEN

    # ================================================================== walking

    def _bound(self, intent: OrderIntent, net: NetQuote) -> Decimal:
        single = len(intent.legs) == 1
        if intent.purpose is OrderPurpose.CLOSE and not intent.reason.startswith(
            FIXED_BOUND_PREFIX
        ):
            return Decimal(exit_bound(net, self.exec, single_leg=single))
        return intent.limit_bound

    def _side(self, intent: OrderIntent) -> Side | None:
        return intent.legs[0].side if len(intent.legs) == 1 else None

    def walk(self, intent_id: str) -> None:
        """Time out, or step the price of the working order toward the natural price."""
        view = self.load(intent_id)
        intent = view.intent
        live = view.working[-1]
        now = self.clock.now()
        log = view.log
        round_start = log.round_started_at or live.submitted_at or intent.created_at
        elapsed = (now - round_start).total_seconds()
        exit_like = intent.purpose is OrderPurpose.CLOSE
        if elapsed >= self.exec.fill_timeout_s:
            if exit_like and log.rounds >= self.exec.max_submit_attempts:
                if not log.exhausted:
                    with self.tx() as tx:
                        self.step(
                            tx,
                            intent_id,
                            wl.ATTEMPTS_EXHAUSTED,
                            limit=live.limit_price,
                            client_order_id=live.client_order_id,
                        )
                        self.event(
                            tx,
                            "exit.attempts_exhausted",
                            f"exit of trade {intent.trade_id} not filled after "
                            f"{log.rounds} attempts; the last order keeps working",
                            level=AlertLevel.CRITICAL,
                            subject=intent.trade_id,
                            payload={"intent_id": intent_id},
                            alert=True,
                        )
                # fall through: keep the last order working at the natural price
            elif exit_like or self.exec.cancel_on_timeout:
                self.control_cancel(intent_id, wl.TIMEOUT)
                return
            else:
                return  # entries left to the broker's day expiry
        last_price = log.last_price_step
        if (
            last_price is not None
            and (now - last_price.at).total_seconds() < self.exec.walk_interval_s
        ):
            return
        net = self.fresh_net(intent.legs)
        if net is None:
            return
        plan = plan_price(
            net=net,
            bound=self._bound(intent, net),
            elapsed_s=elapsed,
            settings=self.exec,
            side=self._side(intent),
        )
        if plan is None:
            return
        if plan.clamped and not log.floor_noted:
            with self.tx() as tx:
                self.step(
                    tx,
                    intent_id,
                    wl.FLOOR_REACHED,
                    limit=plan.limit,
                    client_order_id=live.client_order_id,
                    natural=plan.natural,
                    mid=plan.mid,
                )
        if live.limit_price is not None and plan.limit == live.limit_price:
            return
        if self.exec.use_replace:
            self._replace(intent_id, live, plan.limit, plan.natural, plan.mid)
        else:
            with self.tx() as tx:
                self.step(
                    tx,
                    intent_id,
                    wl.CANCEL_FOR_STEP,
                    limit=plan.limit,
                    client_order_id=live.client_order_id,
                    natural=plan.natural,
                    mid=plan.mid,
                )
            assert live.order_id is not None
            self.cancel(live.order_id)
            self.refresh(intent_id, live)
            self._after_cancel(intent_id)

    def _replace(
        self,
        intent_id: str,
        live: OrderRecord,
        limit: Decimal,
        natural: Decimal | None,
        mid: Decimal | None,
    ) -> None:
        assert live.order_id is not None
        with self.tx() as tx:
            intent = self.view(tx, intent_id).intent
            record = self.prepare(
                tx,
                intent,
                attempt=intent.attempt + 1,
                qty=max(1, live.qty - live.filled_qty),
                limit=limit,
                replaces_order_id=live.order_id,
            )
        cid = record.client_order_id
        try:
            new = self.retrier.call(
                f"replace {live.order_id}",
                lambda: self.broker.replace_order(
                    live.order_id or "", limit_price=limit, client_order_id=cid
                ),
                retry_ambiguous=False,
            )
        except DuplicateClientOrderId:
            found = self._lookup_or_unknown(intent_id, cid)
            if found is not None:
                self.ingest(
                    intent_id, cid, found, step_outcome=wl.REPLACED, natural=natural, mid=mid
                )
            self.refresh(intent_id, live)
            return
        except OrderRejected as exc:
            # Often "already filled": the old order raced us. Keep it; look at it again.
            with self.tx() as tx:
                current = tx.orders.get_order_by_client_id(cid)
                assert current is not None
                observe(OrderState(status=current.status, qty=current.qty), OrderStatus.REJECTED, 0)
                tx.orders.upsert_order(
                    replace(current, status=OrderStatus.REJECTED, reject_reason=str(exc))
                )
                self.step(tx, intent_id, wl.REPLACE_REJECTED, limit=limit, client_order_id=cid)
            self.refresh(intent_id, live)
            return
        except TransientBrokerError as exc:
            if exc.ambiguous:
                self.mark_unknown(intent_id, cid, str(exc))
                found = self._lookup_or_unknown(intent_id, cid)
                if found is not None:
                    self.ingest(
                        intent_id, cid, found, step_outcome=wl.REPLACED, natural=natural, mid=mid
                    )
            else:
                self.not_submitted(intent_id, cid)
            self.refresh(intent_id, self.load(intent_id).by_order_id(live.order_id) or live)
            return
        self.ingest(intent_id, cid, new, step_outcome=wl.REPLACED, natural=natural, mid=mid)
        # A success code does not guarantee the replace: read the old order's final state.
        old = self.load(intent_id).by_order_id(live.order_id)
        if old is not None and old.status in WORKING_STATUSES:
            self.refresh(intent_id, old)
        logger.debug("{} stepped to {} (natural {}, mid {})", intent_id, limit, natural, mid)

    def control_cancel(self, intent_id: str, control: str) -> int:
        """Cancel the intent's working orders for ``control`` (timeout, EOD, flatten)."""
        view = self.load(intent_id)
        if view.log.pending_control != control:
            with self.tx() as tx:
                live = (
                    view.working[-1]
                    if view.working
                    else (view.records[-1] if view.records else None)
                )
                self.step(
                    tx,
                    intent_id,
                    control,
                    limit=live.limit_price if live else view.intent.start_price,
                    client_order_id=live.client_order_id if live else view.intent.client_order_id,
                )
        canceled = 0
        for record in view.working:
            if record.order_id is None:
                continue
            self.cancel(record.order_id)
            canceled += 1
            self.refresh(intent_id, record)
        self.counters.canceled += canceled
        self._after_cancel(intent_id)
        return canceled

    def _after_cancel(self, intent_id: str) -> None:
        """No order working: continue the walk, start a new round, or finish the intent."""
        view = self.load(intent_id)
        intent = view.intent
        if intent.status not in ACTIVE_INTENT_STATUSES or view.working or view.unresolved:
            return
        if view.filled_units >= intent.qty:
            with self.tx() as tx:
                self.finalize(tx, self.view(tx, intent_id), OrderStatus.FILLED)
            return
        control = view.log.pending_control
        last_sent = next((r for r in reversed(view.records) if r.order_id is not None), None)
        if (
            control == wl.CANCEL_FOR_STEP
            and last_sent is not None
            and last_sent.status
            in (
                OrderStatus.CANCELED,
                OrderStatus.REPLACED,
            )
        ):
            if self.still_wanted(view):
                self._next_order(view, outcome=wl.RESUBMITTED, replaces=last_sent.order_id)
                return
        elif (
            control == wl.TIMEOUT
            and intent.purpose is OrderPurpose.CLOSE
            and view.log.rounds < self.exec.max_submit_attempts
            and self.still_wanted(view)
        ):
            self._next_order(view, outcome=wl.SUBMITTED, replaces=None)
            return
        with self.tx() as tx:
            self.finalize(tx, self.view(tx, intent_id), self._final_status(view))

    def _final_status(self, view: IntentView) -> OrderStatus:
        if view.filled_units >= view.intent.qty:
            return OrderStatus.FILLED
        reached = [r for r in view.records if r.order_id is not None]
        if reached:
            last = reached[-1].status
            return (
                last
                if last in (OrderStatus.EXPIRED, OrderStatus.REJECTED)
                else OrderStatus.CANCELED
            )
        if any(r.status is OrderStatus.REJECTED for r in view.records):
            return OrderStatus.REJECTED
        return OrderStatus.NOT_SUBMITTED

    def _next_order(self, view: IntentView, *, outcome: str, replaces: str | None) -> None:
        """Send the next order of the intent (a walk step by cancel-and-new, or a new round)."""
        intent = view.intent
        net = self.fresh_net(intent.legs)
        if net is None:
            return  # no quote: try again next pass
        round_start = view.log.round_started_at if outcome != wl.SUBMITTED else None
        elapsed = 0.0 if round_start is None else (self.clock.now() - round_start).total_seconds()
        plan = plan_price(
            net=net,
            bound=self._bound(intent, net),
            elapsed_s=elapsed,
            settings=self.exec,
            side=self._side(intent),
        )
        if plan is None:
            return
        with self.tx() as tx:
            current = self.view(tx, intent.intent_id).intent
            record = self.prepare(
                tx,
                current,
                attempt=current.attempt + 1,
                qty=view.remaining,
                limit=plan.limit,
                replaces_order_id=replaces,
            )
        self.send(
            intent.intent_id,
            record.client_order_id,
            outcome=outcome,
            natural=plan.natural,
            mid=plan.mid,
        )


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _was_assigned(trade: Trade) -> bool:
    return bool(_mapping(trade.execution).get("assignments"))
