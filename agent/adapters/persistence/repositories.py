"""The repositories of :class:`agent.ports.StoreSession`, over one SQLAlchemy session.

Every method takes and returns domain values; rows never leave this module. Writes are
executed immediately (no unit-of-work flush ordering), so inside one transaction a parent
must be written before its children: a trade before its legs, intents and fills; an intent
before its orders and walk steps.

Errors: a write that breaks a constraint (duplicate id, unknown parent) or an update of a row
that does not exist raises :class:`~agent.errors.InvariantViolation`; a naive datetime raises
:class:`~.types.NaiveDatetimeError` (a ``ValueError``); a row that no longer decodes into its
domain value raises ``InvariantViolation``.

Listing order: rows come back oldest first. With ``limit``, the *most recent* ``limit`` rows
are returned (still oldest first). ``since`` bounds are inclusive, ``until`` bounds exclusive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Select, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import Executable, func

from agent.adapters.persistence.models import (
    AccountSnapshotRow,
    Base,
    DecisionRow,
    EventRow,
    FillRow,
    IvHistoryRow,
    LearningLogRow,
    OrderIntentRow,
    OrderRow,
    PerformanceMetricsRow,
    PositionRow,
    RiskDecisionRow,
    StateRow,
    TradeRow,
    WalkStepRow,
)
from agent.domain import (
    AccountSnapshot,
    AlertLevel,
    DecisionOutcome,
    DecisionRecord,
    DecisionStage,
    Event,
    ExitReason,
    Fill,
    LearningLog,
    OptionRight,
    OrderIntent,
    OrderLeg,
    OrderPurpose,
    OrderRecord,
    OrderStatus,
    PerformanceMetrics,
    PositionIntent,
    PositionLeg,
    PositionStatus,
    Reason,
    RiskDecision,
    Side,
    StructureKind,
    Trade,
    TradeStatus,
    WalkStep,
)
from agent.errors import AgentError, InvariantViolation

__all__ = [
    "SqlAccountSnapshotRepository",
    "SqlDecisionRepository",
    "SqlEventRepository",
    "SqlFillRepository",
    "SqlIvHistoryRepository",
    "SqlLearningRepository",
    "SqlMetricsRepository",
    "SqlOrderRepository",
    "SqlPositionRepository",
    "SqlRiskDecisionRepository",
    "SqlStateRepository",
    "SqlTradeRepository",
]

_E = TypeVar("_E", bound=StrEnum)
_RowT = TypeVar("_RowT", bound=Base)

STATE_LOCK_CLASS_ID = 0x6F70_7473
"""First key of the PostgreSQL advisory locks on state documents ("opts" in ASCII)."""


# --------------------------------------------------------------------------- conversions


def _enum_value(kind: type[_E], value: _E | str) -> str:
    """The stored form of an enum member; also accepts the member's string value."""
    return kind(value).value


def _optional_enum_value(kind: type[_E], value: _E | str | None) -> str | None:
    return None if value is None else kind(value).value


def _to_enum(kind: type[_E], stored: str, where: str) -> _E:
    try:
        return kind(stored)
    except ValueError:
        raise InvariantViolation(
            f"{where} holds {stored!r}, which is not a {kind.__name__}"
        ) from None


def _to_optional_enum(kind: type[_E], stored: str | None, where: str) -> _E | None:
    return None if stored is None else _to_enum(kind, stored, where)


def _reason_document(reason: Reason) -> dict[str, Any]:
    return {
        "rule": reason.rule,
        "passed": reason.passed,
        "value": reason.value,
        "limit": reason.limit,
        "message": reason.message,
    }


def _reason(document: Mapping[str, Any]) -> Reason:
    return Reason(
        rule=document["rule"],
        passed=document["passed"],
        value=document.get("value"),
        limit=document.get("limit"),
        message=document.get("message", ""),
    )


def _leg_document(leg: OrderLeg) -> dict[str, Any]:
    return {
        "symbol": leg.symbol,
        "side": _enum_value(Side, leg.side),
        "position_intent": _enum_value(PositionIntent, leg.position_intent),
        "ratio_qty": leg.ratio_qty,
    }


def _leg(document: Mapping[str, Any], where: str) -> OrderLeg:
    return OrderLeg(
        symbol=document["symbol"],
        side=_to_enum(Side, document["side"], where),
        position_intent=_to_enum(PositionIntent, document["position_intent"], where),
        ratio_qty=int(document["ratio_qty"]),
    )


def _trade_values(trade: Trade) -> dict[str, Any]:
    return {
        "trade_id": trade.trade_id,
        "underlying": trade.underlying,
        "strategy": _enum_value(StructureKind, trade.strategy),
        "status": _enum_value(TradeStatus, trade.status),
        "qty": trade.qty,
        "opened_at": trade.opened_at,
        "closed_at": trade.closed_at,
        "entry_net_price": trade.entry_net_price,
        "exit_net_price": trade.exit_net_price,
        "max_loss_usd": trade.max_loss_usd,
        "capital_usd": trade.capital_usd,
        "realized_pnl": trade.realized_pnl,
        "pnl_pct": trade.pnl_pct,
        "days_held": trade.days_held,
        "exit_reason": _optional_enum_value(ExitReason, trade.exit_reason),
        "candidate_id": trade.candidate_id,
        "risk_decision_id": trade.risk_decision_id,
        "rolled_from_trade_id": trade.rolled_from_trade_id,
        "sector": trade.sector,
        "params": trade.params,
        "market_snapshot": trade.market_snapshot,
        "execution": trade.execution,
        "risk": trade.risk,
        "reason_tags": list(trade.reason_tags),
        "notes": trade.notes,
    }


def _trade(row: TradeRow) -> Trade:
    where = f"trades[{row.trade_id}]"
    return Trade(
        trade_id=row.trade_id,
        underlying=row.underlying,
        strategy=_to_enum(StructureKind, row.strategy, where),
        status=_to_enum(TradeStatus, row.status, where),
        qty=row.qty,
        opened_at=row.opened_at,
        entry_net_price=row.entry_net_price,
        exit_net_price=row.exit_net_price,
        max_loss_usd=row.max_loss_usd,
        capital_usd=row.capital_usd,
        realized_pnl=row.realized_pnl,
        pnl_pct=row.pnl_pct,
        closed_at=row.closed_at,
        days_held=row.days_held,
        exit_reason=_to_optional_enum(ExitReason, row.exit_reason, where),
        candidate_id=row.candidate_id,
        risk_decision_id=row.risk_decision_id,
        rolled_from_trade_id=row.rolled_from_trade_id,
        params=row.params,
        market_snapshot=row.market_snapshot,
        execution=row.execution,
        risk=row.risk,
        reason_tags=tuple(row.reason_tags),
        notes=row.notes,
        sector=row.sector,
    )


def _position_values(leg: PositionLeg) -> dict[str, Any]:
    return {
        "position_id": leg.position_id,
        "trade_id": leg.trade_id,
        "symbol": leg.symbol,
        "underlying": leg.underlying,
        "option_right": _optional_enum_value(OptionRight, leg.right),
        "strike": leg.strike,
        "expiry": leg.expiry,
        "side": _enum_value(Side, leg.side),
        "qty": leg.qty,
        "entry_price": leg.entry_price,
        "exit_price": leg.exit_price,
        "entry_delta": leg.entry_delta,
        "current_delta": leg.current_delta,
        "unrealized_pnl": leg.unrealized_pnl,
        "realized_pnl": leg.realized_pnl,
        "status": _enum_value(PositionStatus, leg.status),
        "opened_at": leg.opened_at,
        "closed_at": leg.closed_at,
    }


def _position(row: PositionRow) -> PositionLeg:
    where = f"positions[{row.position_id}]"
    return PositionLeg(
        position_id=row.position_id,
        trade_id=row.trade_id,
        symbol=row.symbol,
        underlying=row.underlying,
        right=_to_optional_enum(OptionRight, row.option_right, where),
        strike=row.strike,
        expiry=row.expiry,
        side=_to_enum(Side, row.side, where),
        qty=row.qty,
        entry_price=row.entry_price,
        status=_to_enum(PositionStatus, row.status, where),
        exit_price=row.exit_price,
        entry_delta=row.entry_delta,
        current_delta=row.current_delta,
        unrealized_pnl=row.unrealized_pnl,
        realized_pnl=row.realized_pnl,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
    )


def _intent_values(intent: OrderIntent) -> dict[str, Any]:
    return {
        "intent_id": intent.intent_id,
        "trade_id": intent.trade_id,
        "purpose": _enum_value(OrderPurpose, intent.purpose),
        "structure": _enum_value(StructureKind, intent.structure),
        "legs": [_leg_document(leg) for leg in intent.legs],
        "qty": intent.qty,
        "start_price": intent.start_price,
        "limit_bound": intent.limit_bound,
        "natural_price": intent.natural_price,
        "mid_price": intent.mid_price,
        "reason": intent.reason,
        "created_at": intent.created_at,
        "risk_decision_id": intent.risk_decision_id,
        "attempt": intent.attempt,
        "status": _enum_value(OrderStatus, intent.status),
        "closes_trade_id": intent.closes_trade_id,
    }


def _intent(row: OrderIntentRow) -> OrderIntent:
    where = f"order_intents[{row.intent_id}]"
    return OrderIntent(
        intent_id=row.intent_id,
        trade_id=row.trade_id,
        purpose=_to_enum(OrderPurpose, row.purpose, where),
        structure=_to_enum(StructureKind, row.structure, where),
        legs=tuple(_leg(document, where) for document in row.legs),
        qty=row.qty,
        start_price=row.start_price,
        limit_bound=row.limit_bound,
        natural_price=row.natural_price,
        mid_price=row.mid_price,
        reason=row.reason,
        created_at=row.created_at,
        risk_decision_id=row.risk_decision_id,
        attempt=row.attempt,
        status=_to_enum(OrderStatus, row.status, where),
        closes_trade_id=row.closes_trade_id,
    )


def _order_values(record: OrderRecord) -> dict[str, Any]:
    return {
        "client_order_id": record.client_order_id,
        "intent_id": record.intent_id,
        "order_id": record.order_id,
        "status": _enum_value(OrderStatus, record.status),
        "qty": record.qty,
        "limit_price": record.limit_price,
        "filled_qty": record.filled_qty,
        "filled_avg_price": record.filled_avg_price,
        "submitted_at": record.submitted_at,
        "updated_at": record.updated_at,
        "replaces_order_id": record.replaces_order_id,
        "legs_filled": [
            {"symbol": symbol, "filled_qty": filled_qty, "filled_avg_price": avg_price}
            for symbol, filled_qty, avg_price in record.legs_filled
        ],
        "external": record.external,
        "reject_reason": record.reject_reason,
    }


def _order(row: OrderRow) -> OrderRecord:
    return OrderRecord(
        client_order_id=row.client_order_id,
        intent_id=row.intent_id,
        status=_to_enum(OrderStatus, row.status, f"orders[{row.client_order_id}]"),
        qty=row.qty,
        limit_price=row.limit_price,
        order_id=row.order_id,
        filled_qty=row.filled_qty,
        filled_avg_price=row.filled_avg_price,
        submitted_at=row.submitted_at,
        updated_at=row.updated_at,
        replaces_order_id=row.replaces_order_id,
        legs_filled=tuple(
            (leg["symbol"], int(leg["filled_qty"]), leg["filled_avg_price"])
            for leg in row.legs_filled
        ),
        external=row.external,
        reject_reason=row.reject_reason,
    )


def _walk_step_values(step: WalkStep) -> dict[str, Any]:
    return {
        "intent_id": step.intent_id,
        "step": step.step,
        "stepped_at": step.at,
        "limit_price": step.limit_price,
        "natural_price": step.natural_price,
        "mid_price": step.mid_price,
        "spread_width": step.spread_width,
        "client_order_id": step.client_order_id,
        "outcome": step.outcome,
    }


def _walk_step(row: WalkStepRow) -> WalkStep:
    return WalkStep(
        intent_id=row.intent_id,
        step=row.step,
        at=row.stepped_at,
        limit_price=row.limit_price,
        natural_price=row.natural_price,
        mid_price=row.mid_price,
        spread_width=row.spread_width,
        client_order_id=row.client_order_id,
        outcome=row.outcome,
    )


def _fill_values(fill: Fill, trade_id: str | None) -> dict[str, Any]:
    return {
        "fill_id": fill.fill_id,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "symbol": fill.symbol,
        "side": _enum_value(Side, fill.side),
        "qty": fill.qty,
        "price": fill.price,
        "filled_at": fill.filled_at,
        "position_intent": _optional_enum_value(PositionIntent, fill.position_intent),
        "fee_usd": fill.fee_usd,
        "trade_id": trade_id,
    }


def _fill(row: FillRow) -> Fill:
    where = f"fills[{row.fill_id}]"
    return Fill(
        fill_id=row.fill_id,
        order_id=row.order_id,
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=_to_enum(Side, row.side, where),
        qty=row.qty,
        price=row.price,
        filled_at=row.filled_at,
        position_intent=_to_optional_enum(PositionIntent, row.position_intent, where),
        fee_usd=row.fee_usd,
    )


def _decision_values(record: DecisionRecord) -> dict[str, Any]:
    return {
        "decision_id": record.decision_id,
        "scan_id": record.scan_id,
        "decided_at": record.decided_at,
        "underlying": record.underlying,
        "stage": _enum_value(DecisionStage, record.stage),
        "outcome": _enum_value(DecisionOutcome, record.outcome),
        "strategy": _optional_enum_value(StructureKind, record.strategy),
        "candidate_id": record.candidate_id,
        "reasons": [_reason_document(reason) for reason in record.reasons],
        "metrics": record.metrics,
    }


def _decision(row: DecisionRow) -> DecisionRecord:
    where = f"decisions[{row.decision_id}]"
    return DecisionRecord(
        decision_id=row.decision_id,
        scan_id=row.scan_id,
        decided_at=row.decided_at,
        underlying=row.underlying,
        stage=_to_enum(DecisionStage, row.stage, where),
        outcome=_to_enum(DecisionOutcome, row.outcome, where),
        strategy=_to_optional_enum(StructureKind, row.strategy, where),
        candidate_id=row.candidate_id,
        reasons=tuple(_reason(document) for document in row.reasons),
        metrics=row.metrics,
    )


def _risk_decision_values(decision: RiskDecision) -> dict[str, Any]:
    return {
        "decision_id": decision.decision_id,
        "candidate_id": decision.candidate_id,
        "approved": decision.approved,
        "qty": decision.qty,
        "checks": [_reason_document(check) for check in decision.checks],
        "decided_at": decision.decided_at,
        "limit_bound": decision.limit_bound,
        "sizing_method": decision.sizing_method,
    }


def _risk_decision(row: RiskDecisionRow) -> RiskDecision:
    return RiskDecision(
        decision_id=row.decision_id,
        candidate_id=row.candidate_id,
        approved=row.approved,
        qty=row.qty,
        checks=tuple(_reason(document) for document in row.checks),
        decided_at=row.decided_at,
        limit_bound=row.limit_bound,
        sizing_method=row.sizing_method,
    )


def _snapshot_values(snapshot: AccountSnapshot) -> dict[str, Any]:
    return {
        "snapshot_at": snapshot.as_of,
        "account_id": snapshot.account_id,
        "status": snapshot.status,
        "equity": snapshot.equity,
        "cash": snapshot.cash,
        "buying_power": snapshot.buying_power,
        "options_buying_power": snapshot.options_buying_power,
        "last_equity": snapshot.last_equity,
        "options_level": snapshot.options_level,
    }


def _snapshot(row: AccountSnapshotRow) -> AccountSnapshot:
    return AccountSnapshot(
        equity=row.equity,
        cash=row.cash,
        buying_power=row.buying_power,
        options_buying_power=row.options_buying_power,
        last_equity=row.last_equity,
        options_level=row.options_level,
        as_of=row.snapshot_at,
        account_id=row.account_id,
        status=row.status,
    )


def _event_values(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "kind": event.kind,
        "occurred_at": event.occurred_at,
        "level": _enum_value(AlertLevel, event.level),
        "message": event.message,
        "subject": event.subject,
        "payload": event.payload,
    }


def _event(row: EventRow) -> Event:
    return Event(
        event_id=row.event_id,
        kind=row.kind,
        occurred_at=row.occurred_at,
        level=_to_enum(AlertLevel, row.level, f"events[{row.event_id}]"),
        message=row.message,
        subject=row.subject,
        payload=row.payload,
    )


def _metrics_values(metrics: PerformanceMetrics) -> dict[str, Any]:
    return {
        "period_type": metrics.period_type,
        "period_start": metrics.period_start,
        "period_end": metrics.period_end,
        "computed_at": metrics.computed_at,
        "trade_count": metrics.trades,
        "total_pnl": metrics.total_pnl,
        "win_rate": metrics.win_rate,
        "profit_factor": metrics.profit_factor,
        "sharpe": metrics.sharpe,
        "sortino": metrics.sortino,
        "max_drawdown_usd": metrics.max_drawdown_usd,
        "per_strategy": metrics.per_strategy,
        "error_counts": metrics.error_counts,
    }


def _metrics(row: PerformanceMetricsRow) -> PerformanceMetrics:
    return PerformanceMetrics(
        period_type=row.period_type,
        period_start=row.period_start,
        period_end=row.period_end,
        computed_at=row.computed_at,
        trades=row.trade_count,
        total_pnl=row.total_pnl,
        win_rate=row.win_rate,
        profit_factor=row.profit_factor,
        sharpe=row.sharpe,
        sortino=row.sortino,
        max_drawdown_usd=row.max_drawdown_usd,
        per_strategy=row.per_strategy,
        error_counts=row.error_counts,
    )


def _learning_values(log: LearningLog) -> dict[str, Any]:
    return {
        "log_id": log.log_id,
        "logged_at": log.logged_at,
        "update_type": log.update_type,
        "strategy": log.strategy,
        "old_params": log.old_params,
        "new_params": log.new_params,
        "reason": log.reason,
        "confidence": log.confidence,
        "trades_analyzed": log.trades_analyzed,
        "expected_improvement": log.expected_improvement,
        "status": log.status,
    }


def _learning(row: LearningLogRow) -> LearningLog:
    return LearningLog(
        log_id=row.log_id,
        logged_at=row.logged_at,
        update_type=row.update_type,
        strategy=row.strategy,
        old_params=row.old_params,
        new_params=row.new_params,
        reason=row.reason,
        confidence=row.confidence,
        trades_analyzed=row.trades_analyzed,
        expected_improvement=row.expected_improvement,
        status=row.status,
    )


# --------------------------------------------------------------------------- base


def _table(model: type[Base]) -> Table:
    table = model.__table__
    if not isinstance(table, Table):  # pragma: no cover - every model maps one table
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def _translate(error: StatementError, action: str) -> Exception:
    """The error a caller of a port should see for a failed statement."""
    original = error.orig
    if isinstance(error, IntegrityError):
        return InvariantViolation(f"{action} breaks a database constraint: {original}")
    if isinstance(original, AgentError | ValueError | TypeError):
        # Raised by our own column types while binding (naive datetime, float money, ...).
        return original
    return error


class _SqlRepository:
    """Shared plumbing: statements run on the transaction's session, errors translated."""

    def __init__(self, session: Session, *, read_only: bool) -> None:
        self._session = session
        self._read_only = read_only
        self._dialect = session.get_bind().dialect.name

    def _execute(
        self,
        statement: Executable,
        parameters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        *,
        action: str,
    ) -> Result[Any]:
        try:
            return self._session.execute(statement, parameters)
        except StatementError as error:
            translated = _translate(error, action)
            if translated is error:
                raise
            raise translated from error

    def _write(self, statement: Executable, *, action: str) -> int:
        """Run a DML statement; the number of rows it touched."""
        result = self._execute(statement, action=action)
        if not isinstance(result, CursorResult):  # pragma: no cover - DML gives a cursor
            raise TypeError(f"{action}: expected a cursor result")
        return int(result.rowcount)

    def _rows(self, statement: Select[_RowT], *, action: str) -> list[_RowT]:
        # Writes go around the identity map (Core DML), so always load fresh column values.
        fresh = statement.execution_options(populate_existing=True)
        return list(self._execute(fresh, action=action).scalars().all())

    def _first(self, statement: Select[_RowT], *, action: str) -> _RowT | None:
        rows = self._rows(statement.limit(1), action=action)
        return rows[0] if rows else None

    def _most_recent(
        self,
        statement: Select[_RowT],
        order: Sequence[InstrumentedAttribute[Any]],
        limit: int | None,
        *,
        action: str,
    ) -> list[_RowT]:
        """Rows in ascending ``order``; with ``limit``, only the last ``limit`` of them."""
        if limit is None:
            return self._rows(statement.order_by(*order), action=action)
        if limit < 0:
            raise ValueError(f"limit must be ≥ 0 (got {limit})")
        newest_first = statement.order_by(*(column.desc() for column in order)).limit(limit)
        return self._rows(newest_first, action=action)[::-1]

    def _insert(self, model: type[Base]) -> sqlite.Insert | postgresql.Insert:
        """A dialect INSERT that supports ON CONFLICT (SQLite and PostgreSQL both do)."""
        if self._dialect == "postgresql":
            return postgresql.insert(_table(model))
        return sqlite.insert(_table(model))

    def _upsert(
        self, model: type[Base], values: Mapping[str, Any], key: Sequence[str], *, action: str
    ) -> None:
        """Insert ``values``, or update every non-key column of the row with the same key."""
        statement = self._insert(model).values(dict(values))
        changes = {name: statement.excluded[name] for name in values if name not in key}
        self._write(
            statement.on_conflict_do_update(index_elements=list(key), set_=changes),
            action=action,
        )

    def _update_existing(
        self,
        model: type[Base],
        key_column: InstrumentedAttribute[str],
        values: Mapping[str, Any],
        what: str,
    ) -> None:
        """Update the row whose ``key_column`` equals ``values[key_column.key]``."""
        key_name = key_column.key
        statement = (
            update(_table(model))
            .where(key_column == values[key_name])
            .values({name: value for name, value in values.items() if name != key_name})
        )
        if self._write(statement, action=f"update {what}") == 0:
            raise InvariantViolation(f"cannot update {what}: it was never stored")


# --------------------------------------------------------------------------- repositories


class SqlTradeRepository(_SqlRepository):
    def add(self, trade: Trade) -> None:
        self._write(
            self._insert(TradeRow).values(_trade_values(trade)),
            action=f"add trade {trade.trade_id}",
        )

    def update(self, trade: Trade) -> None:
        self._update_existing(
            TradeRow,
            TradeRow.trade_id,
            _trade_values(trade),
            f"trade {trade.trade_id}",
        )

    def get(self, trade_id: str) -> Trade | None:
        row = self._first(select(TradeRow).where(TradeRow.trade_id == trade_id), action="get trade")
        return None if row is None else _trade(row)

    def list(
        self,
        *,
        statuses: Iterable[TradeStatus] | None = None,
        underlying: str | None = None,
        closed_since: datetime | None = None,
        opened_since: datetime | None = None,
    ) -> list[Trade]:
        """Trades oldest entry first; ``*_since`` bounds are inclusive."""
        statement = select(TradeRow)
        if statuses is not None:
            wanted = [_enum_value(TradeStatus, status) for status in statuses]
            statement = statement.where(TradeRow.status.in_(wanted))
        if underlying is not None:
            statement = statement.where(TradeRow.underlying == underlying)
        if closed_since is not None:
            statement = statement.where(TradeRow.closed_at >= closed_since)
        if opened_since is not None:
            statement = statement.where(TradeRow.opened_at >= opened_since)
        statement = statement.order_by(TradeRow.opened_at, TradeRow.trade_id)
        return [_trade(row) for row in self._rows(statement, action="list trades")]


class SqlPositionRepository(_SqlRepository):
    def upsert(self, leg: PositionLeg) -> None:
        """Insert the leg, or replace the stored leg with the same ``position_id``."""
        self._upsert(
            PositionRow,
            _position_values(leg),
            ("position_id",),
            action=f"upsert position {leg.position_id}",
        )

    def update_marks(
        self, position_id: str, *, current_delta: float | None, unrealized_pnl: Decimal
    ) -> None:
        """Update only the mark columns of a stored leg."""
        self._update_existing(
            PositionRow,
            PositionRow.position_id,
            {
                "position_id": position_id,
                "current_delta": current_delta,
                "unrealized_pnl": unrealized_pnl,
            },
            f"position {position_id} marks",
        )

    def get(self, position_id: str) -> PositionLeg | None:
        row = self._first(
            select(PositionRow).where(PositionRow.position_id == position_id),
            action="get position",
        )
        return None if row is None else _position(row)

    def list(
        self,
        *,
        trade_id: str | None = None,
        status: PositionStatus | None = None,
        symbol: str | None = None,
    ) -> list[PositionLeg]:
        """Legs in the order they were first stored."""
        statement = select(PositionRow)
        if trade_id is not None:
            statement = statement.where(PositionRow.trade_id == trade_id)
        if status is not None:
            statement = statement.where(PositionRow.status == _enum_value(PositionStatus, status))
        if symbol is not None:
            statement = statement.where(PositionRow.symbol == symbol)
        statement = statement.order_by(PositionRow.id)
        return [_position(row) for row in self._rows(statement, action="list positions")]


class SqlOrderRepository(_SqlRepository):
    def add_intent(self, intent: OrderIntent) -> None:
        self._write(
            self._insert(OrderIntentRow).values(_intent_values(intent)),
            action=f"add order intent {intent.intent_id}",
        )

    def update_intent(self, intent: OrderIntent) -> None:
        self._update_existing(
            OrderIntentRow,
            OrderIntentRow.intent_id,
            _intent_values(intent),
            f"order intent {intent.intent_id}",
        )

    def get_intent(self, intent_id: str) -> OrderIntent | None:
        row = self._first(
            select(OrderIntentRow).where(OrderIntentRow.intent_id == intent_id),
            action="get order intent",
        )
        return None if row is None else _intent(row)

    def list_intents(
        self,
        *,
        statuses: Iterable[OrderStatus] | None = None,
        trade_id: str | None = None,
    ) -> list[OrderIntent]:
        """Intents oldest first."""
        statement = select(OrderIntentRow)
        if statuses is not None:
            wanted = [_enum_value(OrderStatus, status) for status in statuses]
            statement = statement.where(OrderIntentRow.status.in_(wanted))
        if trade_id is not None:
            statement = statement.where(OrderIntentRow.trade_id == trade_id)
        statement = statement.order_by(OrderIntentRow.created_at, OrderIntentRow.intent_id)
        return [_intent(row) for row in self._rows(statement, action="list order intents")]

    def upsert_order(self, record: OrderRecord) -> None:
        """Insert or update by ``client_order_id``."""
        self._upsert(
            OrderRow,
            _order_values(record),
            ("client_order_id",),
            action=f"upsert order {record.client_order_id}",
        )

    def get_order_by_client_id(self, client_order_id: str) -> OrderRecord | None:
        row = self._first(
            select(OrderRow).where(OrderRow.client_order_id == client_order_id),
            action="get order by client order id",
        )
        return None if row is None else _order(row)

    def get_order(self, order_id: str) -> OrderRecord | None:
        """The order with this broker order id (the latest stored, should there be two)."""
        row = self._first(
            select(OrderRow).where(OrderRow.order_id == order_id).order_by(OrderRow.id.desc()),
            action="get order",
        )
        return None if row is None else _order(row)

    def list_orders(
        self, *, intent_id: str | None = None, statuses: Iterable[OrderStatus] | None = None
    ) -> list[OrderRecord]:
        """Orders in the order they were first stored (attempt order for one intent)."""
        statement = select(OrderRow)
        if intent_id is not None:
            statement = statement.where(OrderRow.intent_id == intent_id)
        if statuses is not None:
            wanted = [_enum_value(OrderStatus, status) for status in statuses]
            statement = statement.where(OrderRow.status.in_(wanted))
        statement = statement.order_by(OrderRow.id)
        return [_order(row) for row in self._rows(statement, action="list orders")]

    def add_walk_step(self, step: WalkStep) -> None:
        self._write(
            self._insert(WalkStepRow).values(_walk_step_values(step)),
            action=f"add walk step {step.step} of intent {step.intent_id}",
        )

    def list_walk_steps(self, intent_id: str) -> list[WalkStep]:
        """Steps of one intent by step number (then storage order)."""
        statement = (
            select(WalkStepRow)
            .where(WalkStepRow.intent_id == intent_id)
            .order_by(WalkStepRow.step, WalkStepRow.id)
        )
        return [_walk_step(row) for row in self._rows(statement, action="list walk steps")]


class SqlFillRepository(_SqlRepository):
    def add(self, fill: Fill, *, trade_id: str | None) -> bool:
        """Store a fill; False (and no change) if its ``fill_id`` is already stored.

        Safe under concurrency: ``INSERT ... ON CONFLICT (fill_id) DO NOTHING``.
        """
        table = _table(FillRow)
        statement = (
            self._insert(FillRow)
            .values(_fill_values(fill, trade_id))
            .on_conflict_do_nothing(index_elements=["fill_id"])
            .returning(table.c.id)
        )
        # RETURNING rather than rowcount: drivers disagree on rowcount for INSERTs.
        inserted = self._execute(statement, action=f"add fill {fill.fill_id}").first()
        return inserted is not None

    def list(self, *, trade_id: str | None = None, order_id: str | None = None) -> list[Fill]:
        """Fills by execution time (then storage order)."""
        statement = select(FillRow)
        if trade_id is not None:
            statement = statement.where(FillRow.trade_id == trade_id)
        if order_id is not None:
            statement = statement.where(FillRow.order_id == order_id)
        statement = statement.order_by(FillRow.filled_at, FillRow.id)
        return [_fill(row) for row in self._rows(statement, action="list fills")]


class SqlDecisionRepository(_SqlRepository):
    def add_many(self, records: Sequence[DecisionRecord]) -> None:
        """Store the records in one batched INSERT."""
        if not records:
            return
        self._execute(
            self._insert(DecisionRow),
            [_decision_values(record) for record in records],
            action=f"add {len(records)} decision record(s)",
        )

    def list(
        self,
        *,
        underlying: str | None = None,
        scan_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[DecisionRecord]:
        """Records oldest first, ``since <= decided_at < until``; with ``limit``, the most
        recent ``limit`` of them."""
        statement = select(DecisionRow)
        if underlying is not None:
            statement = statement.where(DecisionRow.underlying == underlying)
        if scan_id is not None:
            statement = statement.where(DecisionRow.scan_id == scan_id)
        if since is not None:
            statement = statement.where(DecisionRow.decided_at >= since)
        if until is not None:
            statement = statement.where(DecisionRow.decided_at < until)
        rows = self._most_recent(
            statement, (DecisionRow.decided_at, DecisionRow.id), limit, action="list decisions"
        )
        return [_decision(row) for row in rows]


class SqlRiskDecisionRepository(_SqlRepository):
    def add(self, decision: RiskDecision) -> None:
        self._write(
            self._insert(RiskDecisionRow).values(_risk_decision_values(decision)),
            action=f"add risk decision {decision.decision_id}",
        )

    def get(self, decision_id: str) -> RiskDecision | None:
        row = self._first(
            select(RiskDecisionRow).where(RiskDecisionRow.decision_id == decision_id),
            action="get risk decision",
        )
        return None if row is None else _risk_decision(row)


class SqlIvHistoryRepository(_SqlRepository):
    _CHUNK = 300  # rows per statement: well inside SQLite's limit on bound parameters

    def upsert(self, symbol: str, on: date, atm_iv: float) -> None:
        """One observation per symbol and trading day (the latest write wins).

        ``atm_iv`` is annualised (1.0 = 100 %) and must be a finite number.
        """
        self.upsert_many(symbol, [(on, atm_iv)])

    def upsert_many(self, symbol: str, observations: Sequence[tuple[date, float]]) -> None:
        """:meth:`upsert` of many observations, a few hundred rows per statement."""
        rows: dict[date, dict[str, Any]] = {}
        for on, atm_iv in observations:
            if isinstance(on, datetime) or not isinstance(on, date):
                raise TypeError(f"iv_history.upsert needs a date for 'on', got {on!r}")
            number = float(atm_iv)
            if not math.isfinite(number):
                raise ValueError(f"atm_iv for {symbol} on {on} must be finite (got {atm_iv})")
            rows[on] = {"symbol": symbol, "observed_on": on, "atm_iv": number}  # latest wins
        values = list(rows.values())
        for start in range(0, len(values), self._CHUNK):
            chunk = values[start : start + self._CHUNK]
            statement = self._insert(IvHistoryRow).values(chunk)
            self._write(
                statement.on_conflict_do_update(
                    index_elements=["symbol", "observed_on"],
                    set_={"atm_iv": statement.excluded["atm_iv"]},
                ),
                action=f"upsert {len(chunk)} IVs of {symbol} from {chunk[0]['observed_on']}",
            )

    def series(self, symbol: str, *, since: date | None = None) -> list[tuple[date, float]]:
        """Observations in ascending date order (``since`` inclusive)."""
        statement = select(IvHistoryRow).where(IvHistoryRow.symbol == symbol)
        if since is not None:
            statement = statement.where(IvHistoryRow.observed_on >= since)
        statement = statement.order_by(IvHistoryRow.observed_on)
        return [(row.observed_on, row.atm_iv) for row in self._rows(statement, action="IV series")]


class SqlAccountSnapshotRepository(_SqlRepository):
    def add(self, snapshot: AccountSnapshot) -> None:
        self._write(
            self._insert(AccountSnapshotRow).values(_snapshot_values(snapshot)),
            action="add account snapshot",
        )

    def latest(self) -> AccountSnapshot | None:
        """The snapshot with the latest ``as_of`` (the last stored on a tie)."""
        row = self._first(
            select(AccountSnapshotRow).order_by(
                AccountSnapshotRow.snapshot_at.desc(), AccountSnapshotRow.id.desc()
            ),
            action="latest account snapshot",
        )
        return None if row is None else _snapshot(row)

    def list(self, *, since: datetime | None = None) -> list[AccountSnapshot]:
        """Snapshots oldest first (``since`` inclusive)."""
        statement = select(AccountSnapshotRow)
        if since is not None:
            statement = statement.where(AccountSnapshotRow.snapshot_at >= since)
        statement = statement.order_by(AccountSnapshotRow.snapshot_at, AccountSnapshotRow.id)
        return [_snapshot(row) for row in self._rows(statement, action="list account snapshots")]


class SqlEventRepository(_SqlRepository):
    def add(self, event: Event) -> None:
        self._write(
            self._insert(EventRow).values(_event_values(event)),
            action=f"add event {event.event_id}",
        )

    def list(
        self,
        *,
        since: datetime | None = None,
        kind_prefix: str | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events oldest first (``since`` inclusive; ``kind_prefix`` matched literally, so
        ``order.`` finds ``order.rejected``); with ``limit``, the most recent ``limit``."""
        statement = select(EventRow)
        if since is not None:
            statement = statement.where(EventRow.occurred_at >= since)
        if kind_prefix is not None:
            statement = statement.where(EventRow.kind.startswith(kind_prefix, autoescape=True))
        rows = self._most_recent(
            statement, (EventRow.occurred_at, EventRow.id), limit, action="list events"
        )
        return [_event(row) for row in rows]


class SqlMetricsRepository(_SqlRepository):
    def add(self, metrics: PerformanceMetrics) -> None:
        """Store the metrics of a period; recomputing the same period (type, start, end)
        replaces the earlier row, so a rerun of the daily analysis cannot duplicate it."""
        self._upsert(
            PerformanceMetricsRow,
            _metrics_values(metrics),
            ("period_type", "period_start", "period_end"),
            action=f"add {metrics.period_type} metrics from {metrics.period_start}",
        )

    def list(self, *, period_type: str | None = None) -> list[PerformanceMetrics]:
        """Metrics by period start (then type and end)."""
        statement = select(PerformanceMetricsRow)
        if period_type is not None:
            statement = statement.where(PerformanceMetricsRow.period_type == period_type)
        statement = statement.order_by(
            PerformanceMetricsRow.period_start,
            PerformanceMetricsRow.period_type,
            PerformanceMetricsRow.period_end,
        )
        return [_metrics(row) for row in self._rows(statement, action="list metrics")]


class SqlLearningRepository(_SqlRepository):
    def add(self, log: LearningLog) -> None:
        self._write(
            self._insert(LearningLogRow).values(_learning_values(log)),
            action=f"add learning log {log.log_id}",
        )

    def update(self, log: LearningLog) -> None:
        self._update_existing(
            LearningLogRow,
            LearningLogRow.log_id,
            _learning_values(log),
            f"learning log {log.log_id}",
        )

    def list(self, *, status: str | None = None) -> list[LearningLog]:
        """Logs oldest first."""
        statement = select(LearningLogRow)
        if status is not None:
            statement = statement.where(LearningLogRow.status == status)
        statement = statement.order_by(LearningLogRow.logged_at, LearningLogRow.log_id)
        return [_learning(row) for row in self._rows(statement, action="list learning logs")]


class SqlStateRepository(_SqlRepository):
    """Small JSON documents by key.

    In a write transaction, ``get`` also locks the key until the transaction ends, so a
    read-modify-write of a document is serialised across processes on both backends
    (SQLite write transactions are already serial; PostgreSQL takes an advisory lock, which
    also covers a key that does not exist yet).
    """

    def _lock(self, key: str) -> None:
        if self._dialect == "postgresql" and not self._read_only:
            self._execute(
                select(func.pg_advisory_xact_lock(STATE_LOCK_CLASS_ID, func.hashtext(key))),
                action=f"lock state {key}",
            )

    def get(self, key: str) -> Mapping[str, Any] | None:
        self._lock(key)
        row = self._first(select(StateRow).where(StateRow.key == key), action=f"get state {key}")
        return None if row is None else row.value

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        """Store ``value`` under ``key`` (replacing what was there)."""
        self._lock(key)
        self._upsert(StateRow, {"key": key, "value": value}, ("key",), action=f"put state {key}")
