"""MonitorService: every minute the market is open, re-price every open trade and decide.

One :meth:`MonitorService.run` pass (docs/monitoring.md has the whole story):

1. **Marks.** Every trade that is OPEN or CLOSING (PENDING ones have nothing to mark yet)
   is re-priced from fresh quotes (:mod:`agent.monitor.marks`); each leg with a usable quote
   has its mark columns written with ``positions.update_marks`` (never ``upsert``: execution
   owns quantities). A trade whose underlying has no spot gets no mark (risk then treats it
   as unpriced) and a problem line.
2. **Decisions**, only while the regular session is open (orders are accepted only then;
   outside it a pass only marks) and only for OPEN trades with no order working (an exit,
   roll or single-leg order in flight is execution's to finish), first that applies:

   a. a pending **manual** close request → ``ExitAction(MANUAL)``;
   b. the trade **holds shares** (an assignment) → :mod:`agent.monitor.assigned`;
   c. a leg has **no usable quote** → no price-driven rule fires (only pin risk, which
      needs the spot and the clock, not option prices);
   d. the strategy's **exit rules** (take-profit, stop-loss, condor breach, expiry approaching;
      :meth:`Strategy.should_exit`); when :meth:`Strategy.should_roll` says roll, the roll
      search (:mod:`agent.monitor.rolls`) — one multi-leg order — else a close with the
      rule's reason and why no roll qualified;
   e. **early-assignment risk** (:mod:`agent.monitor.rules`): roll if one qualifies, else close;
   f. **pin risk** on the expiry day: close.

3. **Alerts** (through the ``Alerts`` port) and ``monitor.*`` events for every new exit, roll,
   single-leg order and assignment. An action repeated on later passes (execution could not
   place it yet) is alerted once per trade, action and day.

The service holds no state of its own: requests, the alert log and the assignment log are
state documents in the store, so a restarted monitor carries on where the last one stopped.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from agent.calendar import ET, MarketCalendar
from agent.clock import Clock
from agent.config import AgentSettings
from agent.domain import (
    CONTRACT_MULTIPLIER,
    AlertLevel,
    Event,
    ExitAction,
    ExitReason,
    MarketEvent,
    MonitorReport,
    OrderPurpose,
    OrderStatus,
    PositionLeg,
    PositionStatus,
    Quote,
    RollAction,
    SingleLegAction,
    StructureKind,
    Trade,
    TradeMark,
    TradeStatus,
    TradingState,
    UnderlyingSnapshot,
)
from agent.errors import DataError, TransientBrokerError
from agent.logging import logger
from agent.marketdata.service import MarketDataService, realized_vol
from agent.monitor.assigned import covered_call_action, pick_covered_call, plan_assigned
from agent.monitor.manual import drop_manual_requests, pending_manual_closes
from agent.monitor.marks import MarkInput, MarkResult, StockQuote, mark_trades
from agent.monitor.rolls import RollSearch, find_roll
from agent.monitor.rules import early_assignment_risk, pin_risk
from agent.ports import Alerts, ChainEnricher, Store
from agent.pricing.enriched import EnrichedChain
from agent.signals import strategy_context
from agent.strategies import strategy_for
from agent.strategies.base import Strategy

__all__ = ["NOTIFIED_KEY", "MonitorService"]

NOTIFIED_KEY = "monitor.notified"
"""State document: the last alerted action per trade, and the assignments already alerted."""
MAX_REMEMBERED_ASSIGNMENTS = 1000
RECENTLY_CLOSED = timedelta(days=7)
"""Closed trades this recent are still scanned for assignments to alert."""
STRATEGY_KINDS = frozenset(
    {StructureKind.BULL_PUT_SPREAD, StructureKind.CASH_SECURED_PUT, StructureKind.IRON_CONDOR}
)

_LEVELS = {
    ExitReason.TAKE_PROFIT: AlertLevel.INFO,
    ExitReason.MANUAL: AlertLevel.INFO,
    ExitReason.EXPIRY_APPROACHING: AlertLevel.INFO,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class _Book:
    """What the store says at the start of a pass."""

    trades: tuple[Trade, ...]
    legs: Mapping[str, tuple[PositionLeg, ...]]
    busy: frozenset[str]
    manual: Mapping[str, str]
    gone_requests: frozenset[str]
    notified: Mapping[str, Any]
    recently_closed: tuple[Trade, ...] = ()
    roll_refused: frozenset[str] = frozenset()
    """Trades whose roll the broker rejected today: closed instead of rolled again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Notice:
    """An action to alert and record (sent only when new for its trade and day)."""

    trade_id: str
    key: str
    """What the action is (``exit:stop_loss``, ``roll:breach``…), for the once-a-day rule."""
    level: AlertLevel
    title: str
    body: str
    payload: dict[str, object]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Assignment:
    activity_id: str
    trade_id: str
    text: str


@dataclass(slots=True)
class _Pass:
    """What one pass decides (filled in as it goes)."""

    now: datetime
    state: TradingState
    marks: list[TradeMark] = field(default_factory=list)
    leg_marks: dict[str, tuple[float | None, Decimal]] = field(default_factory=dict)
    exits: list[ExitAction] = field(default_factory=list)
    rolls: list[RollAction] = field(default_factory=list)
    single_legs: list[SingleLegAction] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notices: list[_Notice] = field(default_factory=list)
    assignments: list[_Assignment] = field(default_factory=list)
    """Assignments and exercises noted on the trades looked at."""


class MonitorService:
    """Marks, exit rules, rolls, assignment/expiry handling, pin risk, manual closes."""

    def __init__(
        self,
        *,
        market: MarketDataService,
        store: Store,
        clock: Clock,
        settings: AgentSettings,
        alerts: Alerts,
        calendar: MarketCalendar,
        enrich: ChainEnricher | None = None,
    ) -> None:
        """``enrich``: how roll and covered-call searches enrich a chain; by default the
        kernels in this process (:func:`agent.pricing.chain.enrich_chain`, loaded at the
        first search). The actor system passes the scanner pool's, so the Monitor process
        never loads numba."""
        self.market = market
        self._enrich = enrich
        self.store = store
        self.clock = clock
        self.settings = settings
        self.alerts = alerts
        self.calendar = calendar
        self._strategies: dict[StructureKind, Strategy] = {}

    # ================================================================== the pass

    def run(self, state: TradingState) -> MonitorReport:
        """Mark every open trade, decide exits/rolls/single legs, alert; see the module doc."""
        now = self.clock.now()
        book = self._read_book(now)
        work = _Pass(now=now, state=state)
        live = [t for t in book.trades if t.status in (TradeStatus.OPEN, TradeStatus.CLOSING)]
        underlyings = sorted({t.underlying for t in live if book.legs.get(t.trade_id)})
        snapshots = self._snapshots(underlyings, work)
        quotes = self._option_quotes(live, book, work)

        inputs: list[MarkInput] = []
        for trade in live:
            legs = book.legs.get(trade.trade_id, ())
            if not legs:
                continue
            snapshot = snapshots.get(trade.underlying)
            if snapshot is None or not (math.isfinite(snapshot.price) and snapshot.price > 0):
                work.problems.append(
                    f"{trade.trade_id} {trade.underlying}: no spot price; not marked"
                )
                continue
            inputs.append(
                MarkInput(
                    trade=trade,
                    legs=legs,
                    spot=StockQuote(price=snapshot.price, bid=snapshot.bid, ask=snapshot.ask),
                    dividend_yield=self.settings.market_data.dividend_yields.get(
                        trade.underlying, 0.0
                    ),
                )
            )
        results = mark_trades(
            inputs,
            quotes,
            as_of=now,
            rate=self.settings.market_data.risk_free_rate,
            max_quote_age_s=self.settings.universe.max_quote_age_s,
        )
        trading = self.calendar.is_open(now)  # outside the session: marks only
        for item, result in zip(inputs, results, strict=True):
            work.marks.append(result.mark)
            work.leg_marks.update(result.leg_marks)
            if result.mark.quote_problems:
                work.problems.append(
                    f"{item.trade.trade_id} {item.trade.underlying}: "
                    + "; ".join(result.mark.quote_problems)
                )
            self._assignments_seen(item.trade, work)
            if (
                not trading
                or item.trade.status is not TradeStatus.OPEN
                or item.trade.trade_id in book.busy
            ):
                continue
            try:
                self._decide(item, result, book, snapshots, work)
            except _DATA_TROUBLE as exc:  # this trade this pass; the others go on
                work.problems.append(f"{item.trade.trade_id}: {exc}")
        for trade in book.recently_closed:
            self._assignments_seen(trade, work)
        notices, assignments = self._commit(book, work)
        self._notify(book, notices, assignments)
        for problem in work.problems:
            logger.warning("monitor: {}", problem)
        return MonitorReport(
            marks=tuple(work.marks),
            exits=tuple(work.exits),
            rolls=tuple(work.rolls),
            single_legs=tuple(work.single_legs),
            problems=tuple(work.problems),
        )

    # ================================================================== reading

    def _read_book(self, now: datetime) -> _Book:
        with self.store.transaction() as tx:
            trades = tuple(
                tx.trades.list(
                    statuses=[TradeStatus.PENDING, TradeStatus.OPEN, TradeStatus.CLOSING]
                )
            )
            open_legs = tx.positions.list(status=PositionStatus.OPEN)
            busy: set[str] = set()
            for intent in tx.orders.list_intents(statuses=_ACTIVE):
                busy.add(intent.trade_id)
                if intent.closes_trade_id is not None:
                    busy.add(intent.closes_trade_id)
            requests = pending_manual_closes(tx)
            gone = set()
            for trade_id in requests:
                trade = tx.trades.get(trade_id)
                if trade is None or trade.status not in (
                    TradeStatus.PENDING,
                    TradeStatus.OPEN,
                    TradeStatus.CLOSING,
                ):
                    gone.add(trade_id)
            notified = dict(tx.state.get(NOTIFIED_KEY) or {})
            today = now.astimezone(ET).date()
            refused = frozenset(
                intent.closes_trade_id
                for intent in tx.orders.list_intents(statuses=[OrderStatus.REJECTED])
                if intent.purpose is OrderPurpose.ROLL
                and intent.closes_trade_id is not None
                and intent.created_at.astimezone(ET).date() == today
            )
            # Assignments that closed a trade at once (both legs delivered) are alerted too.
            recently_closed = tuple(
                tx.trades.list(statuses=[TradeStatus.CLOSED], closed_since=now - RECENTLY_CLOSED)
            )
        legs: dict[str, list[PositionLeg]] = {}
        for leg in open_legs:
            if leg.qty > 0:
                legs.setdefault(leg.trade_id, []).append(leg)
        return _Book(
            trades=trades,
            legs={k: tuple(sorted(v, key=lambda leg: leg.symbol)) for k, v in legs.items()},
            busy=frozenset(busy),
            manual={k: v.reason for k, v in requests.items() if k not in gone},
            gone_requests=frozenset(gone),
            notified=notified,
            recently_closed=recently_closed,
            roll_refused=refused,
        )

    def _snapshots(self, underlyings: Sequence[str], work: _Pass) -> dict[str, UnderlyingSnapshot]:
        if not underlyings:
            return {}
        try:
            return self.market.snapshots(underlyings)
        except _DATA_TROUBLE as exc:  # no marks this pass; risk sees them age
            work.problems.append(f"snapshots unavailable: {exc}")
            return {}

    def _option_quotes(self, live: Sequence[Trade], book: _Book, work: _Pass) -> dict[str, Quote]:
        symbols = sorted(
            {
                leg.symbol
                for trade in live
                for leg in book.legs.get(trade.trade_id, ())
                if leg.right is not None
            }
        )
        if not symbols:
            return {}
        try:
            return dict(self.market.quotes(symbols))
        except _DATA_TROUBLE as exc:  # marked with what is known; no price rule fires
            work.problems.append(f"option quotes unavailable: {exc}")
            return {}

    # ================================================================== deciding

    def _strategy(self, kind: StructureKind) -> Strategy:
        strategy = self._strategies.get(kind)
        if strategy is None:
            strategy = strategy_for(kind, self.settings)
            self._strategies[kind] = strategy
        return strategy

    def _decide(
        self,
        item: MarkInput,
        result: MarkResult,
        book: _Book,
        snapshots: Mapping[str, UnderlyingSnapshot],
        work: _Pass,
    ) -> None:
        trade, mark, legs = item.trade, result.mark, item.legs
        now = work.now
        manual = book.manual.get(trade.trade_id)
        if manual is not None:
            self._exit(work, trade, ExitReason.MANUAL, f"manual close requested: {manual}")
            return
        if trade.strategy not in STRATEGY_KINDS:
            return  # adopted or external positions: flagged by reconciliation, not managed
        if any(leg.right is None for leg in legs):
            self._assigned(item, mark, snapshots, work)
            return
        strategy = self._strategy(trade.strategy)
        if not mark.quote_problems:
            judged = replace(trade, entry_net_price=_held_entry_net(mark))
            signal = strategy.should_exit(judged, mark, now)
            if signal is not None:
                if strategy.should_roll(judged, mark, now):
                    self._roll_or_close(
                        trade=trade,
                        mark=mark,
                        legs=legs,
                        strategy=strategy,
                        snapshots=snapshots,
                        work=work,
                        reason=signal.reason,
                        detail=signal.detail,
                        refused=trade.trade_id in book.roll_refused,
                    )
                else:
                    self._exit(work, trade, signal.reason, signal.detail)
                return
            if not self._accepts_assignment(trade):
                hit = early_assignment_risk(mark, now, self.settings.monitor)
                if hit is not None:
                    self._roll_or_close(
                        trade=trade,
                        mark=mark,
                        legs=legs,
                        strategy=strategy,
                        snapshots=snapshots,
                        work=work,
                        reason=hit.reason,
                        detail=hit.detail,
                        refused=trade.trade_id in book.roll_refused,
                    )
                    return
        if not self._accepts_assignment(trade):
            hit = pin_risk(mark, now, self.settings.monitor, legs=mark.legs)
            if hit is not None:
                self._exit(work, trade, hit.reason, hit.detail)

    def _accepts_assignment(self, trade: Trade) -> bool:
        return (
            trade.strategy is StructureKind.CASH_SECURED_PUT
            and self.settings.strategies.cash_secured_put.accept_assignment
        )

    def _exit(self, work: _Pass, trade: Trade, reason: ExitReason, detail: str) -> None:
        action = ExitAction(trade_id=trade.trade_id, reason=reason, detail=detail)
        work.exits.append(action)
        level = _LEVELS.get(reason, AlertLevel.WARNING)
        work.notices.append(
            _Notice(
                trade_id=trade.trade_id,
                key=f"exit:{reason.value}",
                level=level,
                title=f"exit {trade.underlying} {trade.strategy.value}: {reason.value}",
                body=f"trade {trade.trade_id}: {detail}",
                payload={"action": "exit", "reason": reason.value, "detail": detail},
            )
        )

    def _roll_or_close(
        self,
        *,
        trade: Trade,
        mark: TradeMark,
        legs: Sequence[PositionLeg],
        strategy: Strategy,
        snapshots: Mapping[str, UnderlyingSnapshot],
        work: _Pass,
        reason: ExitReason,
        detail: str,
        refused: bool = False,
    ) -> None:
        if refused:
            # The broker rejected a roll of this trade today (e.g. a rule of its own about
            # multi-leg orders): proposing it again every minute would only repeat that.
            self._exit(work, trade, reason, f"{detail}; the broker refused a roll today: closing")
            return
        search = self._search_roll(
            trade=trade,
            mark=mark,
            legs=legs,
            strategy=strategy,
            snapshots=snapshots,
            work=work,
            reason=reason,
            detail=detail,
        )
        if search.action is None:
            self._exit(work, trade, reason, f"{detail}; no acceptable roll: {search.why_not()}")
            return
        roll = search.action
        work.rolls.append(roll)
        candidate = roll.candidate
        work.notices.append(
            _Notice(
                trade_id=trade.trade_id,
                key=f"roll:{reason.value}",
                level=AlertLevel.INFO,
                title=f"roll {trade.underlying} {trade.strategy.value}: {reason.value}",
                body=f"trade {trade.trade_id}: {roll.detail}",
                payload={
                    "action": "roll",
                    "reason": reason.value,
                    "close_symbols": list(roll.close_symbols),
                    "open_symbols": list(candidate.symbols),
                    "net_price_natural": str(candidate.net_price_natural),
                    "net_price_mid": str(candidate.net_price_mid),
                    "candidate_id": candidate.candidate_id,
                },
            )
        )

    def _search_roll(
        self,
        *,
        trade: Trade,
        mark: TradeMark,
        legs: Sequence[PositionLeg],
        strategy: Strategy,
        snapshots: Mapping[str, UnderlyingSnapshot],
        work: _Pass,
        reason: ExitReason,
        detail: str,
    ) -> RollSearch:
        symbol = trade.underlying
        snapshot = snapshots.get(symbol)
        try:
            enriched = self._enriched(symbol, mark.spot, work.now)
            ctx = strategy_context(
                enriched,
                self.settings,
                scan_id=f"monitor-{work.now.astimezone(ET):%Y%m%dT%H%M}",
                snapshot=snapshot,
                realized_vol=self._realized_vol(symbol),
                sector=self.settings.universe.sectors.get(symbol),
                events=self._events(symbol),
                trade_id=trade.trade_id,
            )
        except DataError as exc:
            return RollSearch(action=None, rejections=(f"no chain for {symbol}: {exc}",))
        return find_roll(
            trade=trade,
            mark=mark,
            legs=legs,
            strategy=strategy,
            chain=enriched,
            ctx=ctx,
            settings=self.settings,
            reason=reason,
            detail=detail,
        )

    def _enriched(self, symbol: str, spot: float, now: datetime) -> EnrichedChain:
        if self._enrich is None:
            from agent.pricing.chain import enrich_chain  # noqa: PLC0415 - loads numba

            self._enrich = enrich_chain
        md = self.settings.market_data
        return self._enrich(
            self.market.chain(symbol),
            spot,
            md.risk_free_rate,
            md.dividend_yields.get(symbol, 0.0),
            now,
            max_quote_age_s=self.settings.universe.max_quote_age_s,
            vendor_iv_tolerance=md.vendor_iv_tolerance,
        )

    def _realized_vol(self, symbol: str) -> float:
        try:
            return realized_vol(self.market.bars_summary(symbol).closes)
        except DataError:
            return math.nan

    def _events(self, symbol: str) -> tuple[MarketEvent, ...]:
        try:
            return self.market.context().events_for(symbol)
        except DataError:
            return ()

    def _assigned(
        self,
        item: MarkInput,
        mark: TradeMark,
        snapshots: Mapping[str, UnderlyingSnapshot],
        work: _Pass,
    ) -> None:
        trade, legs = item.trade, item.legs
        plan = plan_assigned(
            trade=trade,
            legs=legs,
            stock_bid=item.spot.bid,
            settings=self.settings.strategies.cash_secured_put,
            state=work.state,
        )
        if plan.exit is not None:
            self._exit(work, trade, plan.exit.reason, plan.exit.detail)
            return
        single = plan.single_leg
        if plan.needs_covered_call:
            s = self.settings.strategies.cash_secured_put
            shares = sum(leg.signed_qty for leg in legs if leg.right is None)
            try:
                enriched = self._enriched(trade.underlying, mark.spot, work.now)
            except DataError as exc:
                work.problems.append(f"{trade.trade_id}: no chain for a covered call: {exc}")
                return
            call = pick_covered_call(
                enriched, target_delta=s.covered_call_delta, target_dte=s.covered_call_dte
            )
            if call is None:
                work.problems.append(f"{trade.trade_id}: no usable call to cover the shares")
                return
            single = covered_call_action(trade, shares, call, stock_symbol=trade.underlying)
        if single is None:
            return
        work.single_legs.append(single)
        work.notices.append(
            _Notice(
                trade_id=trade.trade_id,
                key=f"single:{single.position_intent.value}:{single.symbol}",
                level=AlertLevel.INFO,
                title=f"{trade.underlying}: {single.side.value} {single.qty} {single.symbol}",
                body=f"trade {trade.trade_id}: {single.detail}",
                payload={
                    "action": "single_leg",
                    "symbol": single.symbol,
                    "side": single.side.value,
                    "position_intent": single.position_intent.value,
                    "qty": single.qty,
                    "limit_bound": str(single.limit_bound),
                },
            )
        )

    def _assignments_seen(self, trade: Trade, work: _Pass) -> None:
        for key, word in (("assignments", "assigned"), ("exercises", "exercised")):
            notes = trade.execution.get(key)
            if not isinstance(notes, list | tuple):
                continue
            for note in notes:
                if not isinstance(note, Mapping):
                    continue
                activity_id = str(note.get("activity_id", ""))
                if not activity_id:
                    continue
                work.assignments.append(
                    _Assignment(
                        activity_id=activity_id,
                        trade_id=trade.trade_id,
                        text=f"{note.get('symbol')} ×{note.get('contracts')} {word} "
                        f"on {note.get('on')}",
                    )
                )

    # ================================================================== writing

    def _commit(self, book: _Book, work: _Pass) -> tuple[list[_Notice], list[_Assignment]]:
        """Marks, dropped requests and the monitor's events, in one transaction; returns
        what is new to alert."""
        notices = self._fresh_notices(book, work)
        assignments = self._fresh_assignments(book, work)
        with self.store.transaction() as tx:
            for position_id, (delta, pnl) in work.leg_marks.items():
                tx.positions.update_marks(
                    position_id,
                    current_delta=delta if delta is not None and math.isfinite(delta) else None,
                    unrealized_pnl=pnl.quantize(Decimal("0.01")),
                )
            drop_manual_requests(tx, set(book.gone_requests))
            for notice in notices:
                tx.events.add(
                    Event(
                        event_id=f"evt-{uuid.uuid4().hex}",
                        kind=f"monitor.{notice.payload['action']}",
                        occurred_at=work.now,
                        level=notice.level,
                        message=f"{notice.title}: {notice.body}",
                        subject=notice.trade_id,
                        payload=notice.payload,
                    )
                )
            for assignment in assignments:
                tx.events.add(
                    Event(
                        event_id=f"evt-{uuid.uuid4().hex}",
                        kind="monitor.assignment",
                        occurred_at=work.now,
                        level=AlertLevel.WARNING,
                        message=assignment.text,
                        subject=assignment.trade_id,
                        payload={"activity_id": assignment.activity_id},
                    )
                )
            if notices or assignments:
                tx.state.put(NOTIFIED_KEY, self._notified_after(book, work, notices, assignments))
        return notices, assignments

    def _day_key(self, work: _Pass, key: str) -> str:
        return f"{work.now.astimezone(ET).date().isoformat()}:{key}"

    def _fresh_notices(self, book: _Book, work: _Pass) -> list[_Notice]:
        """Actions not yet alerted today for their trade."""
        actions = book.notified.get("actions", {})
        last: Mapping[str, Any] = actions if isinstance(actions, Mapping) else {}
        return [n for n in work.notices if last.get(n.trade_id) != self._day_key(work, n.key)]

    def _fresh_assignments(self, book: _Book, work: _Pass) -> list[_Assignment]:
        seen_raw = book.notified.get("assignments", [])
        seen = set(seen_raw) if isinstance(seen_raw, list) else set()
        fresh: list[_Assignment] = []
        for assignment in work.assignments:
            if assignment.activity_id not in seen:
                seen.add(assignment.activity_id)
                fresh.append(assignment)
        return fresh

    def _notified_after(
        self,
        book: _Book,
        work: _Pass,
        notices: Sequence[_Notice],
        assignments: Sequence[_Assignment],
    ) -> dict[str, Any]:
        live = {t.trade_id for t in book.trades}
        actions_raw = book.notified.get("actions", {})
        actions = (
            {k: v for k, v in actions_raw.items() if k in live}
            if isinstance(actions_raw, Mapping)
            else {}
        )
        for notice in notices:
            actions[notice.trade_id] = self._day_key(work, notice.key)
        seen_raw = book.notified.get("assignments", [])
        seen = list(seen_raw) if isinstance(seen_raw, list) else []
        seen.extend(a.activity_id for a in assignments)
        return {"actions": actions, "assignments": seen[-MAX_REMEMBERED_ASSIGNMENTS:]}

    def _notify(
        self, book: _Book, notices: Sequence[_Notice], assignments: Sequence[_Assignment]
    ) -> None:
        """Alerts after the commit; a failing channel never undoes the pass."""
        for assignment in assignments:
            self._send(
                AlertLevel.WARNING,
                "assignment",
                f"trade {assignment.trade_id}: {assignment.text} (activity "
                f"{assignment.activity_id}); {self._assignment_plan(book, assignment.trade_id)}",
            )
        for notice in notices:
            self._send(notice.level, notice.title, notice.body)

    def _assignment_plan(self, book: _Book, trade_id: str) -> str:
        trade = next((t for t in book.trades if t.trade_id == trade_id), None)
        if trade is None:
            return "the trade is closed"
        if trade.strategy is StructureKind.CASH_SECURED_PUT:
            action = self.settings.strategies.cash_secured_put.assigned_stock_action
            return f"assigned stock action: {action.value}"
        return "the broken structure is closed leg by leg"

    def _send(self, level: AlertLevel, title: str, body: str) -> None:
        try:
            self.alerts.send(level=level, title=title, body=body)
        except Exception:  # an alert channel never breaks the monitor
            logger.exception("monitor: alert {!r} failed", title)


_DATA_TROUBLE = (DataError, TransientBrokerError)
"""Market data that failed this pass: recorded as a problem, tried again next minute."""

_ACTIVE = (
    OrderStatus.PENDING,
    OrderStatus.UNKNOWN,
    OrderStatus.NEW,
    OrderStatus.ACCEPTED,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.PENDING_CANCEL,
    OrderStatus.PENDING_REPLACE,
)
"""Intent statuses of an order still in flight (execution's to finish)."""


def _held_entry_net(mark: TradeMark) -> Decimal:
    """Signed net entry price per unit of the legs still held (negative = credit), so the
    exit rules judge what is held — a condor whose tested side was rolled away, or the legs a
    roll opened — not the order that first opened the trade."""
    units = max(mark.qty, 1)
    return (-mark.entry_credit_usd / (units * CONTRACT_MULTIPLIER)).quantize(Decimal("0.000001"))
