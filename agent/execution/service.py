"""ExecutionService: intents, orders, the walker, fills, the book, reconciliation, dry run.

Crash-only: the constructor only wires collaborators; everything it needs is read from the
store when it is needed, and ``reconcile()`` (run at start-up by the actor) settles whatever
a previous process left half-done. The Ray ``Execution`` actor runs with
``max_concurrency=1`` and no task retries, so the service is used by one caller at a time;
its methods are still safe to repeat: trade and intent ids are derived from the decision,
so a repeated ``open_trade`` finds its trade instead of placing a second order.

See ``docs/execution.md`` for the whole story.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from agent.calendar import MarketCalendar
from agent.clock import Clock
from agent.config import AgentSettings
from agent.domain import (
    AccountSnapshot,
    AlertLevel,
    Candidate,
    ExitAction,
    ExitReason,
    OrderIntent,
    OrderLeg,
    OrderPurpose,
    OrderRecord,
    OrderStatus,
    PositionIntent,
    ReconcileReport,
    RiskDecision,
    RollAction,
    Side,
    Trade,
    TradeStatus,
    WorkReport,
    client_order_id_for,
)
from agent.domain.orders import validate_legs
from agent.errors import BrokerAuthError, DataError, InvariantViolation
from agent.execution import walklog as wl
from agent.execution.desk import Desk
from agent.execution.intents import (
    candidate_legs,
    closing_leg,
    closing_orders,
    entry_intent_id,
    indexed_intent_id,
    market_snapshot,
    mleg_compatible,
    risk_snapshot,
    roll_intent_id,
    signed_bound,
    structure_of_single,
    trade_id_for_decision,
    trade_params,
)
from agent.execution.ledger import Book
from agent.execution.reconcile import Reconciler
from agent.execution.records import (
    ACTIVE_INTENT_STATUSES,
    DRY_RUN_REASON,
    FIXED_BOUND_PREFIX,
    PassCounters,
    QuoteProvider,
)
from agent.execution.retry import Retrier, RetryPolicy
from agent.execution.state import OrderState, mark_not_submitted
from agent.execution.walker import NetQuote, exit_bound, plan_price
from agent.logging import logger
from agent.ports import Alerts, Broker, Store, StoreSession

__all__ = ["ExecutionService", "QuoteProvider"]

ACCOUNT_SNAPSHOT_INTERVAL = timedelta(minutes=1)
DEFAULT_UNKNOWN_GRACE_S = 5.0
"""How long an unresolved order waits before a look-up that finds nothing counts as a
confirmed absence (order visibility lag at the broker)."""


def _clock_sleep(clock: Clock) -> Callable[[float], None]:
    """Sleep ``s`` seconds of *clock* time: real seconds live, none under a stepped clock."""

    def sleep(seconds: float) -> None:
        wait = clock.real_seconds_until(clock.now() + timedelta(seconds=seconds))
        if wait > 0:
            time.sleep(wait)

    return sleep


class ExecutionService:
    """Turns approved decisions and exit/roll actions into orders, and orders into a book."""

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
        sleep: Callable[[float], None] | None = None,
        seed: int | None = None,
        retry_policy: RetryPolicy | None = None,
        unknown_grace_s: float = DEFAULT_UNKNOWN_GRACE_S,
    ) -> None:
        """``sleep`` (seconds) and ``seed`` (retry jitter) are injectable for tests; the
        broker is not called here (``reconcile()`` does that)."""
        self.broker = broker
        self.store = store
        self.clock = clock
        self.settings = settings
        self.alerts = alerts
        self.calendar = calendar
        self.retrier = Retrier(
            retry_policy,
            sleep=sleep if sleep is not None else _clock_sleep(clock),
            rng=random.Random(seed),
        )
        self.desk = Desk(
            broker=broker,
            store=store,
            clock=clock,
            settings=settings,
            alerts=alerts,
            quotes=quotes,
            calendar=calendar,
            retrier=self.retrier,
            unknown_grace_s=unknown_grace_s,
            new_id=lambda: str(uuid.uuid4()),
        )
        self.reconciler = Reconciler(self.desk)
        self.errors_total = 0
        """Errors caught at loop boundaries since start (a health counter)."""

    @property
    def dry_run(self) -> bool:
        return self.settings.dry_run

    # ================================================================== entries

    def open_trade(self, candidate: Candidate, decision: RiskDecision) -> str | None:
        """Record the trade and its entry intent, then send the first order.

        Returns the trade id, or None if nothing was placed (denied, dry run, rejected).
        """
        if not decision.approved or decision.qty < 1:
            logger.info("open_trade: decision {} is not an approval", decision.decision_id)
            return None
        if decision.candidate_id != candidate.candidate_id:
            raise InvariantViolation(
                f"decision {decision.decision_id} is for candidate {decision.candidate_id}, "
                f"not {candidate.candidate_id}"
            )
        trade_id = trade_id_for_decision(decision.decision_id)
        existing = self._placed(trade_id, entry_intent_id(trade_id))
        if existing is not None:
            return existing or None
        legs = candidate_legs(candidate)
        bound = (
            decision.limit_bound
            if decision.limit_bound is not None
            else candidate.net_price_natural
        )
        single = len(legs) == 1
        net = NetQuote(
            mid=candidate.net_price_mid,
            natural=candidate.net_price_natural,
            touch=_candidate_touch(candidate, self.settings) if single else None,
        )
        plan = plan_price(
            net=net,
            bound=bound,
            elapsed_s=0.0,
            settings=self.settings.execution,
            side=legs[0].side if single else None,
        )
        if plan is None:
            self._refuse(trade_id, f"no valid limit price within the bound {bound}")
            return None
        now = self.clock.now()
        dry = self.dry_run
        trade = Trade(
            trade_id=trade_id,
            underlying=candidate.underlying,
            strategy=candidate.strategy,
            status=TradeStatus.CANCELED if dry else TradeStatus.PENDING,
            qty=decision.qty,
            opened_at=now,
            max_loss_usd=candidate.max_loss_usd * decision.qty,
            capital_usd=candidate.capital_usd * decision.qty,
            candidate_id=candidate.candidate_id,
            risk_decision_id=decision.decision_id,
            params=trade_params(candidate, decision),
            market_snapshot=market_snapshot(candidate),
            risk=risk_snapshot(decision),
            reason_tags=("dry_run",) if dry else (),
            notes="dry run: nothing sent" if dry else "",
            sector=candidate.sector,
        )
        intent = OrderIntent(
            intent_id=entry_intent_id(trade_id),
            trade_id=trade_id,
            purpose=OrderPurpose.OPEN,
            structure=candidate.strategy,
            legs=legs,
            qty=decision.qty,
            start_price=plan.limit,
            limit_bound=bound,
            natural_price=candidate.net_price_natural,
            mid_price=candidate.net_price_mid,
            reason=DRY_RUN_REASON if dry else f"entry: {candidate.strategy} ({decision.summary()})",
            created_at=now,
            risk_decision_id=decision.decision_id,
        )
        with self.desk.tx() as tx:
            tx.trades.add(trade)
            self._record_intent(tx, intent)
        return trade_id if self._go(intent) else None

    def _placed(self, trade_id: str, intent_id: str) -> str | None:
        """For a repeated call: None if new; else the id to return ("" if not placed)."""
        with self.desk.tx() as tx:
            if tx.trades.get(trade_id) is None:
                return None
            intent = tx.orders.get_intent(intent_id)
        if intent is None or intent.status in (OrderStatus.NOT_SUBMITTED, OrderStatus.REJECTED):
            return ""
        return trade_id

    def _record_intent(self, tx: StoreSession, intent: OrderIntent) -> None:
        """Commit the intent and its first order record (NOT_SUBMITTED in a dry run)."""
        dry = self.dry_run
        tx.orders.add_intent(replace(intent, status=OrderStatus.PENDING))
        record = OrderRecord(
            client_order_id=client_order_id_for(intent.intent_id, 0),
            intent_id=intent.intent_id,
            status=OrderStatus.PENDING,
            qty=intent.qty,
            limit_price=intent.start_price,
            updated_at=self.clock.now(),
        )
        if dry:
            state = mark_not_submitted(OrderState(status=record.status, qty=record.qty))
            record = replace(record, status=state.status)
            tx.orders.update_intent(replace(intent, status=OrderStatus.NOT_SUBMITTED))
        tx.orders.upsert_order(record)
        if dry:
            self.desk.step(
                tx,
                intent.intent_id,
                wl.NOT_SUBMITTED,
                limit=intent.start_price,
                client_order_id=record.client_order_id,
                natural=intent.natural_price,
                mid=intent.mid_price,
            )
        self.desk.later_journal(
            "order",
            action="dry_run" if dry else "intent",
            intent_id=intent.intent_id,
            trade_id=intent.trade_id,
            purpose=intent.purpose,
            structure=intent.structure,
            legs=[(leg.symbol, leg.position_intent.value, leg.ratio_qty) for leg in intent.legs],
            qty=intent.qty,
            start_price=intent.start_price,
            limit_bound=intent.limit_bound,
            natural=intent.natural_price,
            mid=intent.mid_price,
            reason=intent.reason,
            cid=record.client_order_id,
        )

    def _go(self, intent: OrderIntent) -> bool:
        """Send the first order of a recorded intent; True if it may be at the broker."""
        if self.dry_run:
            return False
        self.desk.send(intent.intent_id, intent.client_order_id, outcome=wl.SUBMITTED)
        with self.desk.tx() as tx:
            stored = tx.orders.get_intent(intent.intent_id)
        return stored is not None and stored.status not in (
            OrderStatus.REJECTED,
            OrderStatus.NOT_SUBMITTED,
        )

    def _refuse(self, subject: str, message: str) -> None:
        with self.desk.tx() as tx:
            self.desk.event(
                tx,
                "execution.refused",
                message,
                level=AlertLevel.WARNING,
                subject=subject,
                alert=False,
            )
        logger.warning("execution refused ({}): {}", subject, message)

    # ================================================================== exits

    def close_trade(self, action: ExitAction) -> str | None:
        """Close an open trade with limit orders that walk toward the natural price.

        No-op (None) if the trade is not OPEN (pending, already closing, closed) or has an
        order working. Returns the (first) closing intent id.
        """
        with self.desk.tx() as tx:
            trade = tx.trades.get(action.trade_id)
            if trade is None or trade.status is not TradeStatus.OPEN:
                return None
            if self._active_intents(tx, action.trade_id):
                return None
            orders = closing_orders(Book(tx).open_legs(action.trade_id))
            first_index = len(tx.orders.list_intents(trade_id=action.trade_id))
        if not orders:
            return None
        priced: list[tuple[tuple[OrderLeg, ...], int, NetQuote, Decimal]] = []
        for legs, qty in orders:
            net = self.desk.fresh_net(legs)
            if net is None:
                self._refuse(action.trade_id, f"exit of {action.trade_id}: no usable quote")
                return None
            single = len(legs) == 1
            bound = exit_bound(net, self.settings.execution, single_leg=single)
            plan = plan_price(
                net=net,
                bound=bound,
                elapsed_s=0.0,
                settings=self.settings.execution,
                side=legs[0].side if single else None,
            )
            if plan is None:
                self._refuse(action.trade_id, f"exit of {action.trade_id}: no valid price")
                return None
            priced.append((legs, qty, net, plan.limit))
        now = self.clock.now()
        intents: list[OrderIntent] = []
        with self.desk.tx() as tx:
            trade = tx.trades.get(action.trade_id)
            if trade is None or trade.status is not TradeStatus.OPEN:
                return None
            for n, (legs, qty, net, start) in enumerate(priced):
                single = len(legs) == 1
                intent = OrderIntent(
                    intent_id=indexed_intent_id("close", action.trade_id, first_index + n),
                    trade_id=action.trade_id,
                    purpose=OrderPurpose.CLOSE,
                    structure=structure_of_single(legs[0].symbol)
                    if single and len(priced) > 1
                    else trade.strategy,
                    legs=legs,
                    qty=qty,
                    start_price=start,
                    limit_bound=exit_bound(net, self.settings.execution, single_leg=single),
                    natural_price=net.natural,
                    mid_price=net.mid,
                    reason=f"{action.reason.value}: {action.detail}",
                    created_at=now,
                )
                self._record_intent(tx, intent)
                intents.append(intent)
            if not self.dry_run:
                tx.trades.update(replace(trade, status=TradeStatus.CLOSING))
        if self.dry_run:
            return None
        for intent in intents:
            self._go(intent)
        return intents[0].intent_id

    @staticmethod
    def _active_intents(tx: StoreSession, trade_id: str) -> list[OrderIntent]:
        return [
            i
            for i in tx.orders.list_intents(statuses=ACTIVE_INTENT_STATUSES)
            if trade_id in (i.trade_id, i.closes_trade_id)
        ]

    # ================================================================== rolls

    def roll_trade(self, roll: RollAction, decision: RiskDecision) -> str | None:
        """Close ``roll.close_symbols`` of a trade and open the candidate as ONE multi-leg
        order (at most 4 legs). The new legs form a new trade (``rolled_from_trade_id``).
        Returns the roll intent id, or None if nothing was placed."""
        if not decision.approved or decision.qty < 1:
            return None
        candidate = roll.candidate
        new_trade_id = trade_id_for_decision(decision.decision_id)
        intent_id = roll_intent_id(new_trade_id)
        existing = self._placed(new_trade_id, intent_id)
        if existing is not None:
            return intent_id if existing else None
        with self.desk.tx() as tx:
            old = tx.trades.get(roll.trade_id)
            if old is None or old.status is not TradeStatus.OPEN:
                return None
            if self._active_intents(tx, roll.trade_id):
                return None
            held = {leg.symbol: leg for leg in Book(tx).open_legs(roll.trade_id)}
        closing = [held.get(symbol) for symbol in roll.close_symbols]
        if not roll.close_symbols or any(leg is None for leg in closing):
            self._refuse(roll.trade_id, f"roll of {roll.trade_id}: legs to close are not open")
            return None
        units_held = 0
        for leg in closing:
            assert leg is not None
            units_held = math.gcd(units_held, leg.qty)
        units = min(decision.qty, units_held)
        legs: list[OrderLeg] = []
        for leg in closing:
            assert leg is not None
            legs.append(closing_leg(leg, leg.qty // units_held))
        legs.extend(candidate_legs(candidate))
        try:
            validate_legs(tuple(legs))
        except DataError as exc:
            self._refuse(roll.trade_id, f"roll of {roll.trade_id}: {exc}")
            return None
        if not mleg_compatible([leg.symbol for leg in legs]):
            self._refuse(roll.trade_id, f"roll of {roll.trade_id}: not one multi-leg order")
            return None
        bound = (
            decision.limit_bound
            if decision.limit_bound is not None
            else candidate.net_price_natural
        )
        plan = plan_price(
            net=NetQuote(mid=candidate.net_price_mid, natural=candidate.net_price_natural),
            bound=bound,
            elapsed_s=0.0,
            settings=self.settings.execution,
            side=None,
        )
        if plan is None:
            self._refuse(roll.trade_id, f"roll of {roll.trade_id}: no price within {bound}")
            return None
        now = self.clock.now()
        dry = self.dry_run
        new_trade = Trade(
            trade_id=new_trade_id,
            underlying=candidate.underlying,
            strategy=candidate.strategy,
            status=TradeStatus.CANCELED if dry else TradeStatus.PENDING,
            qty=units,
            opened_at=now,
            max_loss_usd=candidate.max_loss_usd * units,
            capital_usd=candidate.capital_usd * units,
            candidate_id=candidate.candidate_id,
            risk_decision_id=decision.decision_id,
            rolled_from_trade_id=roll.trade_id,
            params=trade_params(candidate, decision),
            market_snapshot=market_snapshot(candidate),
            risk=risk_snapshot(decision),
            reason_tags=("roll", "dry_run") if dry else ("roll",),
            notes=f"rolled from {roll.trade_id}: {roll.detail}",
            sector=candidate.sector,
        )
        intent = OrderIntent(
            intent_id=intent_id,
            trade_id=new_trade_id,
            purpose=OrderPurpose.ROLL,
            structure=candidate.strategy,
            legs=tuple(legs),
            qty=units,
            start_price=plan.limit,
            limit_bound=bound,
            natural_price=candidate.net_price_natural,
            mid_price=candidate.net_price_mid,
            reason=DRY_RUN_REASON if dry else f"{roll.reason.value}: roll: {roll.detail}",
            created_at=now,
            risk_decision_id=decision.decision_id,
            closes_trade_id=roll.trade_id,
        )
        with self.desk.tx() as tx:
            tx.trades.add(new_trade)
            self._record_intent(tx, intent)
            old_now = tx.trades.get(roll.trade_id)
            if old_now is not None and not dry:
                tx.trades.update(replace(old_now, status=TradeStatus.CLOSING))
        return intent_id if self._go(intent) else None

    # ================================================================== single legs

    def submit_single_leg(
        self,
        *,
        trade_id: str,
        symbol: str,
        side: Side,
        intent: PositionIntent,
        qty: int,
        limit_bound: Decimal,
        reason: str,
    ) -> str | None:
        """A single-leg limit order inside an existing trade: selling assigned stock, or
        writing a covered call on it. ``limit_bound`` is the worst price per share accepted
        (its sign follows ``side``); it stays fixed for the whole walk.
        Returns the intent id, or None if nothing was placed."""
        if qty < 1:
            return None
        leg = OrderLeg(symbol=symbol, side=side, position_intent=intent)
        bound = signed_bound(side, limit_bound)
        with self.desk.tx() as tx:
            trade = tx.trades.get(trade_id)
            if trade is None or trade.status is not TradeStatus.OPEN:
                return None
            if any(
                any(leg_.symbol == symbol for leg_ in i.legs)
                for i in self._active_intents(tx, trade_id)
            ):
                return None
            index = len(tx.orders.list_intents(trade_id=trade_id))
        net = self.desk.fresh_net((leg,)) or NetQuote(mid=bound, natural=bound, touch=bound)
        plan = plan_price(
            net=net, bound=bound, elapsed_s=0.0, settings=self.settings.execution, side=side
        )
        if plan is None:
            self._refuse(trade_id, f"{symbol}: no valid {side} price within {bound}")
            return None
        purpose = OrderPurpose.OPEN if intent.opens else OrderPurpose.CLOSE
        order_intent = OrderIntent(
            intent_id=indexed_intent_id("single", trade_id, index),
            trade_id=trade_id,
            purpose=purpose,
            structure=structure_of_single(symbol),
            legs=(leg,),
            qty=qty,
            start_price=plan.limit,
            limit_bound=bound,
            natural_price=net.natural,
            mid_price=net.mid,
            reason=DRY_RUN_REASON if self.dry_run else f"{FIXED_BOUND_PREFIX}{reason}",
            created_at=self.clock.now(),
        )
        with self.desk.tx() as tx:
            self._record_intent(tx, order_intent)
            trade = tx.trades.get(trade_id)
            if trade is not None and purpose is OrderPurpose.CLOSE and not self.dry_run:
                tx.trades.update(replace(trade, status=TradeStatus.CLOSING))
        return order_intent.intent_id if self._go(order_intent) else None

    # ================================================================== flatten

    def flatten(self) -> int:
        """Cancel every opening order and close every open trade with limit orders.

        Trades whose entry was still working are closed on a later call once the cancel has
        settled what filled. Returns the number of trades acted on.
        """
        desk = self.desk
        acted: set[str] = set()
        with desk.tx() as tx:
            opening = [
                i
                for i in tx.orders.list_intents(statuses=ACTIVE_INTENT_STATUSES)
                if i.purpose is not OrderPurpose.CLOSE
            ]
            open_trades = tx.trades.list(statuses=[TradeStatus.OPEN])
        for intent in opening:
            try:
                desk.control_cancel(intent.intent_id, wl.FLATTEN_CANCEL)
                acted.add(intent.trade_id)
            except Exception as exc:
                self._boundary(exc, f"flatten: cancel {intent.intent_id}")
        for trade in open_trades:
            try:
                if (
                    self.close_trade(
                        ExitAction(
                            trade_id=trade.trade_id,
                            reason=ExitReason.FLATTEN,
                            detail="flatten requested",
                        )
                    )
                    is not None
                ):
                    acted.add(trade.trade_id)
            except Exception as exc:
                self._boundary(exc, f"flatten: close {trade.trade_id}")
        return len(acted)

    # ================================================================== passes

    def work(self) -> WorkReport:
        """One pass over working orders: fills, walk steps, timeouts, resubmissions."""
        counters = self._reset()
        working = self.reconciler.sync_active(walk=True)
        try:
            self.reconciler.cancel_stale()
        except Exception as exc:
            self._boundary(exc, "work: stale orders")
        self.errors_total += counters.errors
        return WorkReport(
            working=working,
            fills=counters.fills,
            steps=counters.steps,
            canceled=counters.canceled,
            errors=counters.errors,
        )

    def reconcile(self) -> ReconcileReport:
        """Settle unknown orders, refresh working ones, book activities, compare positions."""
        counters = self._reset()
        report = self.reconciler.run()
        self.errors_total += counters.errors
        return report

    def end_of_day(self) -> int:
        """Cancel optagent's working day orders before the close; returns how many."""
        counters = self._reset()
        canceled = self.reconciler.end_of_day()
        self.errors_total += counters.errors
        return canceled

    def account(self) -> AccountSnapshot:
        """The broker's account; a snapshot is stored at most once per minute (clock time)."""
        snapshot = self.retrier.call("get account", self.broker.get_account)
        now = self.clock.now()
        with self.desk.tx() as tx:
            latest = tx.account_snapshots.latest()
            if latest is None or now - latest.as_of >= ACCOUNT_SNAPSHOT_INTERVAL:
                tx.account_snapshots.add(replace(snapshot, as_of=now))
        return snapshot

    # ================================================================== helpers

    def _reset(self) -> PassCounters:
        self.desk.counters = PassCounters()
        return self.desk.counters

    def _boundary(self, exc: Exception, what: str) -> None:
        """The loop boundary: auth and invariant errors propagate, the rest is counted."""
        if isinstance(exc, BrokerAuthError | InvariantViolation):
            raise exc
        self.desk.counters.errors += 1
        self.errors_total += 1
        logger.opt(exception=exc).error("execution: {} failed", what)


def _candidate_touch(candidate: Candidate, settings: AgentSettings) -> Decimal | None:
    leg = candidate.legs[0]
    cfg = settings.execution
    if leg.side is Side.BUY:
        return Decimal(repr(leg.ask)) * Decimal(repr(cfg.single_leg_buy_pct_of_ask)) / 100
    return -Decimal(repr(leg.bid)) * Decimal(repr(cfg.single_leg_sell_pct_of_bid)) / 100
