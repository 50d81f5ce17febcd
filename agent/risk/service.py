"""RiskService: the single writer of risk state, and the gate every new order passes.

Crash-only (DESIGN.md principle 3): the constructor rebuilds everything from the store —
the trading state and breakers (``risk.state``), the latest marks and account
(``risk.marks``), the approvals in flight (``risk.approvals``), and the peak equity (also
from ``account_snapshots``). Counters that can be derived (trades today, realised P&L,
day trades) are read from the ``trades`` table when needed, never cached.

The trading state is re-read from the store on every ``evaluate``/``update``/
``trading_state`` (one small row), so ``optagent halt`` from another process takes effect in
the running agent at its next call; the kill-switch file is checked on each of those reads
too.

Decisions are records (principle 5): ``evaluate`` answers with a :class:`RiskDecision`
value — approved with a size, or denied with the failed rules — and writes it, the RISK-stage
:class:`DecisionRecord` and the reservation of an approval in one transaction.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from agent.calendar import ET, MarketCalendar
from agent.clock import Clock
from agent.config import AgentSettings, SizingMethod
from agent.domain import (
    AccountSnapshot,
    AlertLevel,
    Candidate,
    DecisionOutcome,
    DecisionRecord,
    DecisionStage,
    Event,
    OrderPurpose,
    Reason,
    RiskDecision,
    StructureKind,
    TradeMark,
    TradeStatus,
    TradingState,
)
from agent.logging import logger
from agent.ports import Alerts, Store, StoreSession
from agent.risk import breakers as br
from agent.risk.book import (
    LIVE_STATUSES,
    Approval,
    Book,
    BookTotals,
    Exposure,
    book_totals,
    build_book,
    roll_remainder,
)
from agent.risk.codec import decode_account, decode_mark, encode_account, encode_mark
from agent.risk.greeks import (
    REFERENCE_SYMBOL,
    BookGreeks,
    StressPosition,
    beta_weighted,
    candidate_legs,
    stress_pnl_usd,
    stress_scenarios,
)
from agent.risk.rules import (
    LimitCheck,
    buying_power_check,
    daily_loss_rule,
    equity_rule,
    greek_checks,
    heat_check,
    largest_allowed_qty,
    marks_fresh_rule,
    pct_of,
    pdt_rule,
    positions_per_symbol_rule,
    purpose_rule,
    risk_per_trade_check,
    sector_concentration_check,
    start_of_day_equity,
    stress_check,
    symbol_concentration_check,
    trades_per_day_rule,
    trading_state_rule,
)
from agent.risk.sizing import SizingTarget, sizing_target
from agent.risk.view import (
    BreakerLine,
    ExposureLine,
    GreekLine,
    LimitUsage,
    RiskView,
    StressLine,
)

__all__ = [
    "APPROVALS_KEY",
    "BROKER_ERROR_EVENT",
    "MARKS_KEY",
    "STATE_KEY",
    "RiskService",
]

STATE_KEY = "risk.state"
MARKS_KEY = "risk.marks"
APPROVALS_KEY = "risk.approvals"
BROKER_ERROR_EVENT = "risk.broker_error"
RESERVATION_GRACE_S = 60.0
"""An approval reserves for ``execution.fill_timeout_s`` plus this before it is released
without its trade appearing."""
PDT_SESSIONS = 5


class RiskService:
    """Limits, sizing, greek and stress budgets, breakers and the trading state."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        settings: AgentSettings,
        alerts: Alerts,
        calendar: MarketCalendar,
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self._risk = settings.risk
        self._alerts = alerts
        self._calendar = calendar
        self._scenarios = stress_scenarios(settings.risk)
        self._marks: dict[str, TradeMark] = {}
        self._account: AccountSnapshot | None = None
        self._data_age_s: float | None = None
        self._reference_spot: float | None = None
        # Closed trades for Kelly sizing, by trade id: (closed_at, strategy, realised P&L).
        self._closed: dict[str, tuple[datetime, StructureKind, Decimal]] = {}
        self._closed_seen_at: datetime | None = None
        now = clock.now()
        with store.transaction() as tx:
            self._load_marks(tx)
            if self._account is None:
                self._account = tx.account_snapshots.latest()
            before, existed = self._read_control(tx, now)
            control = self._refreshed(before, now)
            control = self._peak_from_snapshots(tx, control)
            control, changes = self._commit(tx, before, control, now, force=not existed)
        self._notify(changes)

    # ------------------------------------------------------------------ public API

    def evaluate(self, candidate: Candidate, account: AccountSnapshot) -> RiskDecision:
        """Approve ``candidate`` (purpose OPEN or ROLL) with a size, or deny it with reasons.

        Persists the decision, a RISK-stage decision record and, for an approval, the
        reservation of what it approved — all in one transaction.
        """
        now = self._clock.now()
        decision_id = decision_id_for(candidate, now)
        with self._store.transaction() as tx:
            existing = tx.risk_decisions.get(decision_id)
            if existing is not None:
                # The same candidate judged at the same instant: a retried call gets the
                # answer already given (and reserved), never a second approval.
                return existing
            before, _ = self._read_control(tx, now)
            control, changes = self._commit(tx, before, self._refreshed(before, now), now)
            stored = self._read_approvals(tx)
            book = self._load_book(tx, now, stored)
            decision, record, approval = self._decide(
                tx,
                decision_id=decision_id,
                candidate=candidate,
                account=account,
                book=book,
                control=control,
                now=now,
            )
            live = [*book.approvals, *([approval] if approval is not None else [])]
            if [a.encode() for a in live] != [a.encode() for a in stored]:
                tx.state.put(APPROVALS_KEY, {"approvals": [a.encode() for a in live]})
            tx.risk_decisions.add(decision)
            tx.decisions.add_many([record])
        self._notify(changes)
        logger.info(
            "risk {} {} {}: {}",
            candidate.purpose.value,
            candidate.underlying,
            candidate.candidate_id,
            decision.summary(),
        )
        return decision

    def update(
        self,
        *,
        account: AccountSnapshot,
        marks: Sequence[TradeMark],
        data_age_s: float | None,
    ) -> TradingState:
        """After a monitor cycle: keep (and persist) the latest marks and account, advance
        the loss streak and the peak equity, and run the automatic breakers."""
        now = self._clock.now()
        with self._store.transaction() as tx:
            before, _ = self._read_control(tx, now)
            control = self._refreshed(before, now)
            live_ids = {t.trade_id for t in tx.trades.list(statuses=LIVE_STATUSES)}
            merged = dict(self._marks)
            for mark in marks:
                current = merged.get(mark.trade_id)
                if current is None or mark.as_of >= current.as_of:
                    merged[mark.trade_id] = mark
            kept = {k: v for k, v in merged.items() if k in live_ids}
            spy = [m for m in kept.values() if m.underlying == REFERENCE_SYMBOL and m.spot > 0]
            reference = max(spy, key=lambda m: m.as_of).spot if spy else self._reference_spot
            tx.state.put(
                MARKS_KEY,
                _marks_document(
                    now, marks=kept, account=account, data_age_s=data_age_s, reference=reference
                ),
            )
            closed = tx.trades.list(
                statuses=[TradeStatus.CLOSED], closed_since=control.streak.read_since()
            )
            control = replace(control, streak=control.streak.advance(closed))
            readings = br.Readings(
                now=now,
                account=account,
                market_open=self._calendar.is_open(now),
                data_age_s=data_age_s,
                next_session_open=self._calendar.next_open(now),
            )
            control = br.apply_readings(control, readings, self._risk)
            control, changes = self._commit(tx, before, control, now)
        # Memory follows the store only once the transaction has committed.
        self._marks, self._reference_spot = kept, reference
        self._account, self._data_age_s = account, data_age_s
        self._notify(changes)
        return control.state

    def record_broker_error(self, *, kind: str, message: str) -> TradingState:
        """Count a broker error (an ``events`` row); too many today trips ``broker_errors``."""
        now = self._clock.now()
        with self._store.transaction() as tx:
            before, _ = self._read_control(tx, now)
            control = self._refreshed(before, now)
            tx.events.add(
                Event(
                    event_id=_new_id("evt"),
                    kind=BROKER_ERROR_EVENT,
                    occurred_at=now,
                    level=AlertLevel.WARNING,
                    message=f"{kind}: {message}",
                    subject=kind,
                    payload={"kind": kind, "message": message},
                )
            )
            errors = self._broker_errors_today(tx, control, now)
            if errors >= self._risk.max_broker_errors_per_day:
                control = br.trip(
                    control,
                    br.BreakerName.BROKER_ERRORS,
                    reason=f"{errors} broker errors today ≥ {self._risk.max_broker_errors_per_day}"
                    f" (last: {kind}: {message})",
                    at=now,
                    value=errors,
                    limit=self._risk.max_broker_errors_per_day,
                )
            control, changes = self._commit(tx, before, control, now)
        self._notify(changes)
        return control.state

    def record_auth_failure(self, message: str) -> TradingState:
        """The broker refused our credentials: halt until a manual resume."""
        return self._apply(
            lambda c, now: br.trip(
                c, br.BreakerName.AUTH_FAILURE, reason=f"broker auth failure: {message}", at=now
            )
        ).state

    def halt(self, reason: str, *, flatten: bool = False) -> None:
        """Stop everything new (incl. rolls); with ``flatten`` also ask to close everything."""

        def operation(control: br.Control, now: datetime) -> br.Control:
            control = br.trip(control, br.BreakerName.MANUAL, reason=reason, at=now)
            if flatten and not control.flatten:
                control = replace(control, flatten=True, flatten_reason=reason)
            return control

        self._apply(operation)

    def resume(self, reason: str = "manual") -> None:
        """Clear every breaker (the kill switch stays while its file exists) and the flatten
        flag; acknowledged drawdown, loss streak and error count restart."""
        kill = self._kill_switch_present()

        def operation(control: br.Control, now: datetime) -> br.Control:
            equity = self._account.equity if self._account is not None else None
            return br.resume(control, now=now, kill_switch_present=kill, equity=equity)

        self._apply(
            operation,
            extra=br.Change(
                kind="risk.resumed",
                level=AlertLevel.WARNING,
                title="trading resumed",
                message=reason,
                payload={"reason": reason},
                alert=False,
            ),
        )

    def request_flatten(self, reason: str) -> None:
        """Halt and raise the flatten flag: the engine closes everything through execution."""

        def operation(control: br.Control, now: datetime) -> br.Control:
            control = br.trip(control, br.BreakerName.FLATTEN, reason=reason, at=now)
            return replace(control, flatten=True, flatten_reason=reason)

        self._apply(operation)

    def clear_flatten(self) -> None:
        """Drop the flatten flag (the halt stays until ``resume``)."""
        self._apply(lambda c, now: replace(c, flatten=False, flatten_reason=""))

    def trading_state(self) -> TradingState:
        return self._apply(lambda c, now: c).state

    def flatten_requested(self) -> bool:
        return self._apply(lambda c, now: c).flatten

    def latest_marks(self) -> tuple[TradeMark, ...]:
        """The marks risk holds, by trade id."""
        return tuple(self._marks[k] for k in sorted(self._marks))

    def view(self) -> RiskView:
        """Exposure, limits used, greeks against budgets, stress and the trading state."""
        now = self._clock.now()
        with self._store.transaction() as tx:
            before, _ = self._read_control(tx, now)
            control, changes = self._commit(tx, before, self._refreshed(before, now), now)
            book = self._load_book(tx, now, self._read_approvals(tx))
            errors = self._broker_errors_today(tx, control, now)
        self._notify(changes)
        return self._build_view(now, control, book, errors)

    # ------------------------------------------------------------------ state documents

    def _load_marks(self, tx: StoreSession) -> None:
        document = tx.state.get(MARKS_KEY)
        if not document:
            return
        self._marks = {m["trade_id"]: decode_mark(m) for m in document.get("marks", ())}
        account = document.get("account")
        self._account = None if account is None else decode_account(account)
        age = document.get("data_age_s")
        self._data_age_s = None if age is None else float(age)
        spot = document.get("reference_spot")
        self._reference_spot = None if spot is None else float(spot)

    def _read_control(self, tx: StoreSession, now: datetime) -> tuple[br.Control, bool]:
        document = tx.state.get(STATE_KEY)
        if document is None:
            return br.Control(since=now), False
        return br.Control.decode(document), True

    def _read_approvals(self, tx: StoreSession) -> list[Approval]:
        document = tx.state.get(APPROVALS_KEY)
        if not document:
            return []
        return [Approval.decode(a) for a in document.get("approvals", ())]

    def _kill_switch_present(self) -> bool:
        return self._risk.kill_switch_file.exists()

    def _refreshed(self, control: br.Control, now: datetime) -> br.Control:
        return br.refresh(control, now=now, kill_switch_present=self._kill_switch_present())

    def _peak_from_snapshots(self, tx: StoreSession, control: br.Control) -> br.Control:
        """A peak the account reached counts even if risk died before it could store it."""
        best = None
        # Snapshots before the stored peak were seen when it was stored (or acknowledged).
        since = control.peak_at or control.peak_since
        if control.peak_since is not None and since is not None and since < control.peak_since:
            since = control.peak_since
        for snapshot in tx.account_snapshots.list(since=since):
            if best is None or snapshot.equity > best.equity:
                best = snapshot
        if best is not None and (
            control.peak_equity_usd is None or best.equity > control.peak_equity_usd
        ):
            return replace(control, peak_equity_usd=best.equity, peak_at=best.as_of)
        return control

    def _commit(
        self,
        tx: StoreSession,
        before: br.Control,
        after: br.Control,
        now: datetime,
        *,
        force: bool = False,
        extra: br.Change | None = None,
    ) -> tuple[br.Control, list[br.Change]]:
        """Settle the state, write the document if anything changed, add the events."""
        settled, changes = br.settle(before, after, now=now)
        if extra is not None:
            changes.append(extra)
        if force or settled != before:
            tx.state.put(STATE_KEY, settled.encode())
        for change in changes:
            tx.events.add(
                Event(
                    event_id=_new_id("evt"),
                    kind=change.kind,
                    occurred_at=now,
                    level=change.level,
                    message=f"{change.title}: {change.message}",
                    payload=dict(change.payload),
                )
            )
        return settled, changes

    def _apply(
        self,
        operation: Callable[[br.Control, datetime], br.Control],
        *,
        extra: br.Change | None = None,
    ) -> br.Control:
        """Read-modify-write the state document in one transaction, then alert."""
        now = self._clock.now()
        with self._store.transaction() as tx:
            before, existed = self._read_control(tx, now)
            control = operation(self._refreshed(before, now), now)
            control, changes = self._commit(
                tx, before, control, now, force=not existed, extra=extra
            )
        self._notify(changes)
        return control

    def _notify(self, changes: Sequence[br.Change]) -> None:
        for change in changes:
            log = logger.warning if change.level is not AlertLevel.INFO else logger.info
            log("risk: {}: {}", change.title, change.message)
            if not change.alert:
                continue
            try:
                self._alerts.send(level=change.level, title=change.title, body=change.message)
            except Exception:  # an alert channel failing must not undo a committed halt
                logger.exception("risk: alert {!r} could not be sent", change.title)

    # ------------------------------------------------------------------ the book

    def _sector_of(self, symbol: str, hint: str | None = None) -> str:
        return self._settings.universe.sectors.get(symbol.upper()) or hint or symbol.upper()

    def _beta_of(self, symbol: str) -> float:
        return self._risk.betas.get(symbol.upper(), 1.0)

    def _stress(self, now: datetime) -> Callable[[Sequence[StressPosition]], tuple[float, ...]]:
        def run(positions: Sequence[StressPosition]) -> tuple[float, ...]:
            return stress_pnl_usd(
                positions,
                self._scenarios,
                at=now,
                calendar=self._calendar,
                rate=self._settings.market_data.risk_free_rate,
                dividend_yields=self._settings.market_data.dividend_yields,
            )

        return run

    def _today_start(self, now: datetime) -> datetime:
        day = now.astimezone(ET).date()
        return datetime.combine(day, time(0), ET).astimezone(UTC)

    def _day_trades_since(self, now: datetime) -> datetime:
        """Start (ET midnight) of the oldest of the last five sessions, today included."""
        today = now.astimezone(ET).date()
        try:
            sessions = self._calendar.sessions_between(today - timedelta(days=14), today)
        except ValueError:
            sessions = []
        first = sessions[-PDT_SESSIONS] if len(sessions) >= PDT_SESSIONS else today
        if not sessions:
            first = today - timedelta(days=7)
        return datetime.combine(first, time(0), ET).astimezone(UTC)

    def _load_book(self, tx: StoreSession, now: datetime, approvals: Sequence[Approval]) -> Book:
        today_start = self._today_start(now)
        day_trades_since = self._day_trades_since(now)
        return build_book(
            now=now,
            today_start=today_start,
            day_trades_since=day_trades_since,
            live_trades=tx.trades.list(statuses=LIVE_STATUSES),
            opened_today=tx.trades.list(opened_since=today_start),
            closed_recent=tx.trades.list(
                statuses=[TradeStatus.CLOSED], closed_since=min(today_start, day_trades_since)
            ),
            marks=self._marks,
            approvals=approvals,
            max_mark_age_s=self._risk.max_market_data_age_s,
            reservation_ttl_s=self._settings.execution.fill_timeout_s + RESERVATION_GRACE_S,
            sector_of=self._sector_of,
        )

    def _totals(
        self, exposures: Sequence[Exposure], now: datetime, reference_spot: float | None
    ) -> BookTotals:
        return book_totals(
            exposures,
            beta_of=self._beta_of,
            reference_spot=reference_spot,
            stress=self._stress(now),
        )

    def _broker_errors_today(self, tx: StoreSession, control: br.Control, now: datetime) -> int:
        since = self._today_start(now)
        if control.errors_since is not None and control.errors_since > since:
            since = control.errors_since
        return len(tx.events.list(since=since, kind_prefix=BROKER_ERROR_EVENT))

    # ------------------------------------------------------------------ deciding

    def _roll_target(self, candidate: Candidate, book: Book) -> tuple[str | None, Exposure | None]:
        """The open trade a roll replaces: the one named, else the only one on the symbol."""
        if candidate.rolled_from_trade_id:
            return candidate.rolled_from_trade_id, book.exposure_of(candidate.rolled_from_trade_id)
        on_symbol = [
            e
            for e in book.exposures
            if e.trade_id is not None and e.underlying == candidate.underlying
        ]
        if len(on_symbol) == 1:
            return on_symbol[0].trade_id, on_symbol[0]
        return None, None

    def _decide(
        self,
        tx: StoreSession,
        *,
        decision_id: str,
        candidate: Candidate,
        account: AccountSnapshot,
        book: Book,
        control: br.Control,
        now: datetime,
    ) -> tuple[RiskDecision, DecisionRecord, Approval | None]:
        risk = self._risk
        purpose = candidate.purpose
        symbol = candidate.underlying.upper()
        sector = self._sector_of(symbol, candidate.sector)
        fixed: list[Reason] = [purpose_rule(purpose)]
        if not fixed[0].passed:
            return self._records(
                decision_id, candidate, now, fixed, qty=0, method="", metrics={}, approval=None
            )
        fixed.append(trading_state_rule(control.state, purpose, control.reason))
        fixed.append(equity_rule(account.equity))
        fixed.append(marks_fresh_rule(book.stale_trade_ids, risk.max_market_data_age_s))
        fixed.append(
            Reason(
                rule="candidate_max_loss",
                passed=candidate.max_loss_usd > 0 and candidate.capital_usd >= 0,
                value=round(float(candidate.max_loss_usd), 2),
                limit=0.0,
                message=f"max loss ${float(candidate.max_loss_usd):,.2f} per unit, capital "
                f"${float(candidate.capital_usd):,.2f} per unit",
            )
        )
        unit_legs = candidate_legs(candidate)
        spot_known = math.isfinite(candidate.spot) and candidate.spot > 0
        if unit_legs is None:
            priced_message = "a candidate leg has no usable implied vol: cannot stress it"
        elif not spot_known:
            priced_message = f"candidate spot {candidate.spot} unusable: cannot stress it"
        else:
            priced_message = "every leg has an implied vol and the spot is known"
        fixed.append(
            Reason(
                rule="candidate_priced",
                passed=unit_legs is not None and spot_known,
                value=len(candidate.legs),
                limit=None,
                message=priced_message,
            )
        )

        reference = self._reference_spot
        if symbol == REFERENCE_SYMBOL and candidate.spot > 0:
            reference = candidate.spot
        exposures: list[Exposure] = list(book.exposures)
        replaced: Exposure | None = None
        target_id: str | None = None
        if purpose is OrderPurpose.ROLL:
            target_id, replaced = self._roll_target(candidate, book)
            fixed.append(
                Reason(
                    rule="roll_target",
                    passed=replaced is not None,
                    value=target_id or "",
                    limit="an open trade",
                    message=f"rolls trade {target_id}"
                    if replaced is not None
                    else "the trade to roll is not an open trade of the book",
                )
            )
            if replaced is not None:
                exposures = [e for e in exposures if e.key != replaced.key]
                remainder = roll_remainder(replaced, _closed_by_roll(candidate, replaced))
                if remainder is not None:
                    exposures.append(remainder)
        totals = self._totals(exposures, now, reference)

        if purpose is OrderPurpose.OPEN:
            fixed.append(daily_loss_rule(account, risk.max_daily_loss_pct))
            fixed.append(trades_per_day_rule(book.trades_today, risk.max_trades_per_day))
            fixed.append(
                positions_per_symbol_rule(
                    symbol, totals.positions_by_symbol.get(symbol, 0), risk.max_positions_per_symbol
                )
            )
            fixed.append(
                pdt_rule(
                    equity=account.equity,
                    day_trades_5d=book.day_trades_5d,
                    potential_day_trades=book.potential_day_trades,
                    threshold_usd=risk.pdt_equity_threshold_usd,
                    max_day_trades=risk.max_day_trades_5d_under_threshold,
                )
            )

        beta = self._beta_of(symbol)
        unit_greeks = (
            beta_weighted(
                candidate.greeks, beta=beta, spot=candidate.spot, reference_spot=reference
            )
            if unit_legs is not None
            else BookGreeks()
        )
        unit_stress = (
            self._stress(now)(
                [StressPosition(underlying=symbol, spot=candidate.spot, beta=beta, legs=unit_legs)]
            )
            if unit_legs is not None and candidate.spot > 0
            else tuple(0.0 for _ in self._scenarios)
        )
        equity = account.equity
        checks: list[LimitCheck] = [
            risk_per_trade_check(
                equity=equity,
                max_risk_per_trade_pct=risk.max_risk_per_trade_pct,
                capital_per_unit_usd=candidate.capital_usd,
            ),
            heat_check(
                equity=equity,
                max_portfolio_heat_pct=risk.max_portfolio_heat_pct,
                heat_usd=totals.heat_usd,
                max_loss_per_unit_usd=candidate.max_loss_usd,
            ),
            symbol_concentration_check(
                symbol=symbol,
                equity=equity,
                settings=risk,
                symbol_heat_usd=totals.heat_by_symbol.get(symbol, Decimal(0)),
                max_loss_per_unit_usd=candidate.max_loss_usd,
            ),
            sector_concentration_check(
                sector=sector,
                equity=equity,
                settings=risk,
                sector_heat_usd=totals.heat_by_sector.get(sector, Decimal(0)),
                max_loss_per_unit_usd=candidate.max_loss_usd,
            ),
            buying_power_check(
                options_buying_power_usd=account.options_buying_power,
                reserved_usd=book.reserved_capital_usd,
                capital_per_unit_usd=candidate.capital_usd,
                released_usd=replaced.capital_usd if replaced is not None else Decimal(0),
            ),
            *greek_checks(settings=risk, book=totals.greeks, per_unit=unit_greeks),
            stress_check(
                equity=equity,
                max_stress_loss_pct=risk.max_stress_loss_pct,
                scenarios=self._scenarios,
                book_pnl_usd=totals.stress_pnl_usd,
                per_unit_pnl_usd=unit_stress,
            ),
        ]

        target = self._sizing_target(tx, candidate, equity, replaced)
        if purpose is OrderPurpose.ROLL:
            # A roll moves the whole position: same size or nothing (then it becomes a close).
            fits = target.qty >= 1 and all(c.passes(target.qty) for c in checks)
            qty = target.qty if fits else 0
            binding = (
                None if fits else next((c.rule for c in checks if not c.passes(target.qty)), None)
            )
        else:
            qty, binding = largest_allowed_qty(target.qty, checks)
        fixed_ok = all(r.passed for r in fixed)
        approved = fixed_ok and qty >= 1
        shown_qty = qty if qty >= 1 else max(1, target.qty if purpose is OrderPurpose.ROLL else 1)
        limit_reasons = [c.reason(shown_qty) for c in checks]
        sizing = Reason(
            rule="sizing",
            passed=qty >= 1,
            value=qty,
            limit=target.qty,
            message=self._sizing_message(target, qty, binding),
        )
        reasons = [*fixed, *limit_reasons, sizing]
        final_qty = qty if approved else 0
        heat_after = totals.heat_usd + candidate.max_loss_usd * shown_qty
        worst_loss = max(
            [0.0]
            + [
                -(book_pnl + unit * shown_qty)
                for book_pnl, unit in zip(totals.stress_pnl_usd, unit_stress, strict=True)
            ]
        )
        metrics: dict[str, float | int | str | bool | None] = {
            "qty": final_qty,
            "target_qty": target.qty,
            "sizing_method": target.method,
            "binding_rule": binding,
            "trading_state": control.state.value,
            "heat_after_usd": round(float(heat_after), 2),
            "worst_stress_loss_usd": round(worst_loss, 2),
            "beta_delta_after_shares": round(
                totals.greeks.beta_delta_shares + unit_greeks.beta_delta_shares * shown_qty, 2
            ),
            "rolled_from_trade_id": target_id,
        }
        approval = None
        if approved and unit_legs is not None:
            approval = Approval(
                decision_id=decision_id,
                candidate_id=candidate.candidate_id,
                underlying=symbol,
                sector=sector,
                strategy=candidate.strategy,
                purpose=purpose,
                rolled_from_trade_id=target_id,
                qty=final_qty,
                max_loss_usd=candidate.max_loss_usd * final_qty,
                capital_usd=candidate.capital_usd * final_qty,
                approved_at=now,
                spot=candidate.spot,
                greeks=candidate.greeks.scaled(final_qty),
                legs=tuple(leg.scaled(final_qty) for leg in unit_legs),
            )
        return self._records(
            decision_id,
            candidate,
            now,
            reasons,
            qty=final_qty,
            method=target.method,
            metrics=metrics,
            approval=approval,
        )

    def _sizing_target(
        self,
        tx: StoreSession,
        candidate: Candidate,
        equity: Decimal,
        replaced: Exposure | None,
    ) -> SizingTarget:
        if candidate.purpose is OrderPurpose.ROLL:
            qty = replaced.qty if replaced is not None else 0
            return SizingTarget(
                qty=qty,
                method="roll",
                risk_budget_usd=candidate.max_loss_usd * qty,
                detail=f"a roll keeps the size of the rolled trade ({qty} unit(s))",
            )
        pnls: list[Decimal] = []
        if self._risk.sizing_method is SizingMethod.QUARTER_KELLY:
            pnls = self._strategy_pnls(tx, candidate.strategy)
        return sizing_target(
            settings=self._risk,
            equity_usd=equity,
            max_loss_per_unit_usd=candidate.max_loss_usd,
            strategy_pnls_usd=pnls,
        )

    def _strategy_pnls(self, tx: StoreSession, strategy: StructureKind) -> list[Decimal]:
        """Realised P&L of the strategy's closed trades, oldest close first.

        Read incrementally (closes since the newest one seen, minus a day for closes recorded
        late) and cached: a cache of the ``trades`` table, rebuilt by a fresh process.
        """
        since = None if self._closed_seen_at is None else self._closed_seen_at - timedelta(days=1)
        for t in tx.trades.list(statuses=[TradeStatus.CLOSED], closed_since=since):
            if t.closed_at is None:
                continue
            self._closed[t.trade_id] = (t.closed_at, t.strategy, t.realized_pnl)
            if self._closed_seen_at is None or t.closed_at > self._closed_seen_at:
                self._closed_seen_at = t.closed_at
        return [
            pnl
            for _, kind, pnl in sorted(self._closed.values(), key=lambda row: row[0])
            if kind is strategy
        ]

    @staticmethod
    def _sizing_message(target: SizingTarget, qty: int, binding: str | None) -> str:
        if target.qty < 1:
            return f"sizing gives zero contracts: {target.detail}"
        if qty < 1:
            return (
                f"no size passes every limit ({binding or 'limits'}); target {target.qty} "
                f"from {target.detail}"
            )
        capped = f", capped by {binding}" if binding else ""
        return f"{qty} unit(s) of target {target.qty}{capped}; {target.detail}"

    def _records(
        self,
        decision_id: str,
        candidate: Candidate,
        now: datetime,
        reasons: Sequence[Reason],
        *,
        qty: int,
        method: str,
        metrics: dict[str, float | int | str | bool | None],
        approval: Approval | None,
    ) -> tuple[RiskDecision, DecisionRecord, Approval | None]:
        approved = qty >= 1 and all(r.passed for r in reasons)
        decision = RiskDecision(
            decision_id=decision_id,
            candidate_id=candidate.candidate_id,
            approved=approved,
            qty=qty if approved else 0,
            checks=tuple(reasons),
            decided_at=now,
            # Max loss was computed at the conservative price: never accept a worse one.
            limit_bound=candidate.net_price_natural,
            sizing_method=method,
        )
        record = DecisionRecord(
            decision_id=decision_id,
            scan_id=candidate.scan_id,
            decided_at=now,
            underlying=candidate.underlying,
            stage=DecisionStage.RISK,
            outcome=DecisionOutcome.ACCEPTED if approved else DecisionOutcome.REJECTED,
            strategy=candidate.strategy,
            candidate_id=candidate.candidate_id,
            reasons=tuple(reasons),
            metrics=metrics,
        )
        return decision, record, approval if approved else None

    # ------------------------------------------------------------------ the view

    def _build_view(
        self, now: datetime, control: br.Control, book: Book, broker_errors: int
    ) -> RiskView:
        risk = self._risk
        account = self._account
        totals = self._totals(book.exposures, now, self._reference_spot)
        equity = account.equity if account is not None else None
        limits: list[LimitUsage] = []

        def usage(rule: str, value: float, limit: float, unit: str) -> None:
            used = abs(value) / limit * 100.0 if limit > 0 else None
            limits.append(
                LimitUsage(rule=rule, value=round(value, 2), limit=limit, used_pct=used, unit=unit)
            )

        usage("max_trades_per_day", book.trades_today, risk.max_trades_per_day, "trades")
        most_positions = max(totals.positions_by_symbol.values(), default=0)
        usage("max_positions_per_symbol", most_positions, risk.max_positions_per_symbol, "trades")
        daily_pnl = daily_limit = daily_used = None
        heat_pct = None
        stress_limit = None
        by_symbol: list[ExposureLine] = []
        by_sector: list[ExposureLine] = []
        if account is not None and equity is not None and equity > 0:
            start = start_of_day_equity(account)
            daily_pnl = account.equity - account.last_equity
            daily_limit = pct_of(start, risk.max_daily_loss_pct)
            loss = max(Decimal(0), start - account.equity)
            daily_used = float(loss / daily_limit * 100) if daily_limit > 0 else None
            usage("max_daily_loss_pct", float(loss), float(daily_limit), "usd")
            heat_limit = pct_of(equity, risk.max_portfolio_heat_pct)
            heat_pct = float(totals.heat_usd / equity * 100)
            usage("max_portfolio_heat_pct", float(totals.heat_usd), float(heat_limit), "usd")
            symbol_limit = pct_of(heat_limit, risk.max_symbol_concentration_pct)
            sector_limit = pct_of(heat_limit, risk.max_sector_concentration_pct)
            biggest_trade = max((e.capital_usd for e in book.exposures), default=Decimal(0))
            usage(
                "max_risk_per_trade_pct",
                float(biggest_trade),
                float(pct_of(equity, risk.max_risk_per_trade_pct)),
                "usd",
            )
            top_symbol = max(totals.heat_by_symbol.values(), default=Decimal(0))
            top_sector = max(totals.heat_by_sector.values(), default=Decimal(0))
            usage("max_symbol_concentration_pct", float(top_symbol), float(symbol_limit), "usd")
            usage("max_sector_concentration_pct", float(top_sector), float(sector_limit), "usd")
            # The broker's options buying power already excludes what open trades hold, so
            # the capacity is what is left plus what the book (and approvals) hold.
            held = totals.capital_usd
            usage(
                "buying_power",
                float(held),
                float(account.options_buying_power - book.reserved_capital_usd + held),
                "usd",
            )
            for name, heat in sorted(totals.heat_by_symbol.items()):
                by_symbol.append(
                    ExposureLine(
                        name=name,
                        positions=totals.positions_by_symbol.get(name, 0),
                        max_loss_usd=heat,
                        pct_of_equity=float(heat / equity * 100),
                        used_pct_of_limit=float(heat / symbol_limit * 100)
                        if symbol_limit > 0
                        else None,
                    )
                )
            for name, heat in sorted(totals.heat_by_sector.items()):
                by_sector.append(
                    ExposureLine(
                        name=name,
                        positions=sum(
                            1 for e in book.exposures if e.sector == name and e.is_position
                        ),
                        max_loss_usd=heat,
                        pct_of_equity=float(heat / equity * 100),
                        used_pct_of_limit=float(heat / sector_limit * 100)
                        if sector_limit > 0
                        else None,
                    )
                )
            stress_limit = float(pct_of(equity, risk.max_stress_loss_pct))
            if account.equity < Decimal(str(risk.pdt_equity_threshold_usd)):
                usage(
                    "pdt_day_trades",
                    book.day_trades_5d,
                    risk.max_day_trades_5d_under_threshold,
                    "day trades",
                )
        greek_lines = tuple(
            GreekLine(
                name=check.rule,
                value=round(check.value_at(0), 4),
                budget=check.limit,
                used_pct=check.used_pct(),
                within=check.passes(0),
            )
            for check in greek_checks(settings=risk, book=totals.greeks, per_unit=BookGreeks())
        )
        stress_lines = tuple(
            StressLine(scenario=s.name, pnl_usd=round(p, 2))
            for s, p in zip(self._scenarios, totals.stress_pnl_usd, strict=True)
        )
        worst = min(stress_lines, key=lambda line: line.pnl_usd, default=None)
        worst_loss = max(0.0, -worst.pnl_usd) if worst is not None else 0.0
        peak = control.peak_equity_usd
        drawdown = (
            float((peak - equity) / peak * 100)
            if peak is not None and peak > 0 and equity is not None
            else None
        )
        marks_as_of = max((m.as_of for m in self._marks.values()), default=None)
        return RiskView(
            as_of=now,
            state=control.state,
            state_reason=control.reason,
            state_since=control.since,
            flatten_requested=control.flatten,
            flatten_reason=control.flatten_reason,
            breakers=tuple(
                BreakerLine(
                    name=b.name.value,
                    state=b.state,
                    reason=b.reason,
                    since=b.tripped_at,
                    clears=b.clears.value,
                    clear_at=b.clear_at,
                )
                for b in control.breakers
            ),
            account_as_of=account.as_of if account is not None else None,
            equity_usd=equity,
            start_of_day_equity_usd=account.last_equity if account is not None else None,
            options_buying_power_usd=account.options_buying_power if account else None,
            reserved_capital_usd=book.reserved_capital_usd,
            daily_pnl_usd=daily_pnl,
            daily_loss_limit_usd=daily_limit,
            daily_loss_used_pct=daily_used,
            realized_pnl_today_usd=book.realized_pnl_today_usd,
            trades_today=book.trades_today,
            open_trades=sum(1 for e in book.exposures if e.trade_id is not None),
            approvals_in_flight=sum(1 for e in book.exposures if e.in_flight),
            heat_usd=totals.heat_usd,
            heat_pct_of_equity=heat_pct,
            by_symbol=tuple(by_symbol),
            by_sector=tuple(by_sector),
            limits=tuple(limits),
            greeks=greek_lines,
            reference_spot_usd=self._reference_spot,
            stress=stress_lines,
            worst_stress_loss_usd=round(worst_loss, 2),
            worst_stress_scenario=worst.scenario
            if worst is not None and worst_loss > 0
            else "none",
            stress_limit_usd=stress_limit,
            marks_as_of=marks_as_of,
            stale_trade_ids=book.stale_trade_ids,
            peak_equity_usd=peak,
            drawdown_pct=drawdown,
            consecutive_losses=control.streak.count,
            broker_errors_today=broker_errors,
            day_trades_5d=book.day_trades_5d,
        )


def _marks_document(
    now: datetime,
    *,
    marks: dict[str, TradeMark],
    account: AccountSnapshot,
    data_age_s: float | None,
    reference: float | None,
) -> dict[str, Any]:
    """The ``risk.marks`` document: marks of live trades, the account, data age, SPY price."""
    return {
        "updated_at": now.isoformat(),
        "marks": [encode_mark(marks[k]) for k in sorted(marks)],
        "account": encode_account(account),
        "data_age_s": data_age_s if data_age_s is None or math.isfinite(data_age_s) else None,
        "reference_spot": reference,
    }


def _closed_by_roll(candidate: Candidate, replaced: Exposure) -> tuple[str, ...]:
    """The legs of ``replaced`` a roll closes: ``candidate.close_symbols`` when given; else,
    for a roll whose new legs are all of one right out of a trade holding both (an iron
    condor's tested side), the legs of that right; else every leg."""
    if candidate.close_symbols or replaced.legs is None:
        return candidate.close_symbols
    new_rights = {leg.contract.right for leg in candidate.legs}
    old_rights = {leg.right for leg in replaced.legs if leg.right is not None}
    if len(new_rights) == 1 and len(old_rights) > 1:
        return tuple(leg.symbol for leg in replaced.legs if leg.right in new_rights)
    return ()


def decision_id_for(candidate: Candidate, at: datetime) -> str:
    """Deterministic: the same candidate judged at the same instant has the same id, so
    replays (backtests) are reproducible and a retried evaluation is recognised."""
    digest = hashlib.sha1(f"{candidate.candidate_id}|{at.isoformat()}".encode()).hexdigest()
    return f"risk-{digest[:20]}"


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"
