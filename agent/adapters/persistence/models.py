"""SQLAlchemy models: one class per table. They never leave this package.

Conventions (DESIGN.md section 6): money is :class:`~.types.Money` (``Decimal``), vol, greeks
and ratios are :class:`~.types.Float64`, timestamps are :class:`~.types.UtcDateTime` and their
columns end in ``_at``; enums are stored as their string values; params, reasons, metrics and
legs are :class:`~.types.JsonDocument`. Column names follow the domain fields, except where a
field name would be ambiguous in SQL (noted on the column).

Tables whose rows are listed in insertion order (orders, fills, decisions, events, ...) carry a
surrogate ``id``; the natural id (``client_order_id``, ``fill_id``, ...) has a unique index.
Keep :mod:`.migrations` in step with this module: a test compares the two.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from agent.adapters.persistence.types import Float64, JsonDocument, Money, UtcDateTime

__all__ = [
    "NAMING_CONVENTION",
    "AccountSnapshotRow",
    "Base",
    "DecisionRow",
    "EventRow",
    "FillRow",
    "IvHistoryRow",
    "LearningLogRow",
    "OrderIntentRow",
    "OrderRow",
    "PerformanceMetricsRow",
    "PositionRow",
    "RiskDecisionRow",
    "StateRow",
    "TradeRow",
    "WalkStepRow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so migrations can name what they drop on both backends."""

SurrogateId = BigInteger().with_variant(Integer(), "sqlite")
"""BIGINT identity on PostgreSQL; on SQLite an INTEGER PRIMARY KEY (the rowid alias)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TradeRow(Base):
    """A structure we opened (``agent.domain.Trade``). Money in USD; net prices signed
    (negative = credit) per share."""

    __tablename__ = "trades"
    __table_args__ = (
        Index("ix_trades_status_underlying", "status", "underlying"),
        Index("ix_trades_underlying", "underlying"),
        Index("ix_trades_opened_at", "opened_at"),
        Index("ix_trades_closed_at", "closed_at"),
    )

    trade_id: Mapped[str] = mapped_column(String, primary_key=True)
    underlying: Mapped[str] = mapped_column(String)
    """The original schema's ``symbol``."""
    strategy: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    qty: Mapped[int] = mapped_column(Integer)
    """Structure units."""
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """Entry time."""
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    """Exit time."""
    entry_net_price: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    exit_net_price: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    max_loss_usd: Mapped[Decimal] = mapped_column(Money())
    capital_usd: Mapped[Decimal] = mapped_column(Money())
    realized_pnl: Mapped[Decimal] = mapped_column(Money())
    """USD, net of fees (the original schema's ``pnl``)."""
    pnl_pct: Mapped[float | None] = mapped_column(Float64(), nullable=True)
    days_held: Mapped[float | None] = mapped_column(Float64(), nullable=True)
    exit_reason: Mapped[str | None] = mapped_column(String, nullable=True)
    candidate_id: Mapped[str | None] = mapped_column(String, nullable=True)
    risk_decision_id: Mapped[str | None] = mapped_column(String, nullable=True)
    rolled_from_trade_id: Mapped[str | None] = mapped_column(
        String, ForeignKey("trades.trade_id"), nullable=True
    )
    sector: Mapped[str | None] = mapped_column(String, nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JsonDocument())
    market_snapshot: Mapped[dict[str, Any]] = mapped_column(JsonDocument())
    execution: Mapped[dict[str, Any]] = mapped_column(JsonDocument())
    risk: Mapped[dict[str, Any]] = mapped_column(JsonDocument())
    reason_tags: Mapped[list[Any]] = mapped_column(JsonDocument())
    """JSON array of strings."""
    notes: Mapped[str] = mapped_column(Text)


class PositionRow(Base):
    """One leg of one trade (``agent.domain.PositionLeg``). Prices USD per share."""

    __tablename__ = "positions"
    __table_args__ = (
        Index("ix_positions_position_id", "position_id", unique=True),
        Index("ix_positions_trade_id", "trade_id"),
        Index("ix_positions_status", "status"),
        Index("ix_positions_symbol", "symbol"),
    )

    id: Mapped[int] = mapped_column(SurrogateId, primary_key=True, autoincrement=True)
    position_id: Mapped[str] = mapped_column(String)
    trade_id: Mapped[str] = mapped_column(String, ForeignKey("trades.trade_id"))
    symbol: Mapped[str] = mapped_column(String)
    """OCC option symbol (or the stock symbol)."""
    underlying: Mapped[str] = mapped_column(String)
    option_right: Mapped[str | None] = mapped_column(String, nullable=True)
    """``call``/``put``; NULL for stock (``right`` is an SQL keyword)."""
    strike: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    expiry: Mapped[date | None] = mapped_column(Date, nullable=True)
    side: Mapped[str] = mapped_column(String)
    qty: Mapped[int] = mapped_column(Integer)
    """Contracts (shares for stock), unsigned."""
    entry_price: Mapped[Decimal] = mapped_column(Money())
    exit_price: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    entry_delta: Mapped[float | None] = mapped_column(Float64(), nullable=True)
    current_delta: Mapped[float | None] = mapped_column(Float64(), nullable=True)
    unrealized_pnl: Mapped[Decimal] = mapped_column(Money())
    realized_pnl: Mapped[Decimal] = mapped_column(Money())
    status: Mapped[str] = mapped_column(String)
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class OrderIntentRow(Base):
    """An order we mean to place, written before submission (``agent.domain.OrderIntent``).
    Prices are signed net prices per unit (negative = credit)."""

    __tablename__ = "order_intents"
    __table_args__ = (
        Index("ix_order_intents_trade_id", "trade_id"),
        Index("ix_order_intents_status", "status"),
    )

    intent_id: Mapped[str] = mapped_column(String, primary_key=True)
    trade_id: Mapped[str] = mapped_column(String, ForeignKey("trades.trade_id"))
    purpose: Mapped[str] = mapped_column(String)
    structure: Mapped[str] = mapped_column(String)
    legs: Mapped[list[Any]] = mapped_column(JsonDocument())
    """JSON array of ``{symbol, side, position_intent, ratio_qty}``."""
    qty: Mapped[int] = mapped_column(Integer)
    start_price: Mapped[Decimal] = mapped_column(Money())
    limit_bound: Mapped[Decimal] = mapped_column(Money())
    natural_price: Mapped[Decimal] = mapped_column(Money())
    mid_price: Mapped[Decimal] = mapped_column(Money())
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    risk_decision_id: Mapped[str | None] = mapped_column(String, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String)
    closes_trade_id: Mapped[str | None] = mapped_column(
        String, ForeignKey("trades.trade_id"), nullable=True
    )


class OrderRow(Base):
    """One broker order: a submission attempt of an intent, or an external order
    (``agent.domain.OrderRecord``). Prices are signed net prices per unit."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_client_order_id", "client_order_id", unique=True),
        Index("ix_orders_order_id", "order_id"),
        Index("ix_orders_intent_id", "intent_id"),
        Index("ix_orders_status", "status"),
    )

    id: Mapped[int] = mapped_column(SurrogateId, primary_key=True, autoincrement=True)
    client_order_id: Mapped[str] = mapped_column(String)
    intent_id: Mapped[str | None] = mapped_column(
        String, ForeignKey("order_intents.intent_id"), nullable=True
    )
    order_id: Mapped[str | None] = mapped_column(String, nullable=True)
    """The broker's order id, once known."""
    status: Mapped[str] = mapped_column(String)
    qty: Mapped[int] = mapped_column(Integer)
    limit_price: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    filled_qty: Mapped[int] = mapped_column(Integer)
    filled_avg_price: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    replaces_order_id: Mapped[str | None] = mapped_column(String, nullable=True)
    legs_filled: Mapped[list[Any]] = mapped_column(JsonDocument())
    """JSON array of ``{symbol, filled_qty, filled_avg_price}``."""
    external: Mapped[bool] = mapped_column(Boolean)
    reject_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class WalkStepRow(Base):
    """One step of the price walker (``agent.domain.WalkStep``)."""

    __tablename__ = "walk_steps"
    __table_args__ = (Index("ix_walk_steps_intent_id", "intent_id"),)

    id: Mapped[int] = mapped_column(SurrogateId, primary_key=True, autoincrement=True)
    intent_id: Mapped[str] = mapped_column(String, ForeignKey("order_intents.intent_id"))
    step: Mapped[int] = mapped_column(Integer)
    stepped_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """The domain's ``at``."""
    limit_price: Mapped[Decimal] = mapped_column(Money())
    natural_price: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    mid_price: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    spread_width: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    client_order_id: Mapped[str] = mapped_column(String)
    outcome: Mapped[str] = mapped_column(String)


class FillRow(Base):
    """One execution on one leg (``agent.domain.Fill``): price USD per share, qty positive."""

    __tablename__ = "fills"
    __table_args__ = (
        Index("ix_fills_fill_id", "fill_id", unique=True),
        Index("ix_fills_trade_id", "trade_id"),
        Index("ix_fills_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(SurrogateId, primary_key=True, autoincrement=True)
    fill_id: Mapped[str] = mapped_column(String)
    order_id: Mapped[str] = mapped_column(String)
    client_order_id: Mapped[str] = mapped_column(String)
    symbol: Mapped[str] = mapped_column(String)
    side: Mapped[str] = mapped_column(String)
    qty: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Money())
    filled_at: Mapped[datetime] = mapped_column(UtcDateTime())
    position_intent: Mapped[str | None] = mapped_column(String, nullable=True)
    fee_usd: Mapped[Decimal] = mapped_column(Money())
    trade_id: Mapped[str | None] = mapped_column(
        String, ForeignKey("trades.trade_id"), nullable=True
    )


class DecisionRow(Base):
    """Why a candidate (or an underlying) was accepted or rejected (``DecisionRecord``)."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_decision_id", "decision_id", unique=True),
        Index("ix_decisions_underlying_decided_at", "underlying", "decided_at"),
        Index("ix_decisions_scan_id", "scan_id"),
        Index("ix_decisions_decided_at", "decided_at"),
    )

    id: Mapped[int] = mapped_column(SurrogateId, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(String)
    scan_id: Mapped[str] = mapped_column(String)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime())
    underlying: Mapped[str] = mapped_column(String)
    stage: Mapped[str] = mapped_column(String)
    outcome: Mapped[str] = mapped_column(String)
    strategy: Mapped[str | None] = mapped_column(String, nullable=True)
    candidate_id: Mapped[str | None] = mapped_column(String, nullable=True)
    reasons: Mapped[list[Any]] = mapped_column(JsonDocument())
    """JSON array of ``{rule, passed, value, limit, message}``."""
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonDocument())


class RiskDecisionRow(Base):
    """Risk's answer for one candidate (``agent.domain.RiskDecision``)."""

    __tablename__ = "risk_decisions"
    __table_args__ = (Index("ix_risk_decisions_candidate_id", "candidate_id"),)

    decision_id: Mapped[str] = mapped_column(String, primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String)
    approved: Mapped[bool] = mapped_column(Boolean)
    qty: Mapped[int] = mapped_column(Integer)
    checks: Mapped[list[Any]] = mapped_column(JsonDocument())
    """JSON array of ``{rule, passed, value, limit, message}``."""
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime())
    limit_bound: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    sizing_method: Mapped[str] = mapped_column(String)


class IvHistoryRow(Base):
    """One at-the-money implied vol observation per symbol and trading day (annualised,
    1.0 = 100 %)."""

    __tablename__ = "iv_history"

    symbol: Mapped[str] = mapped_column(String, primary_key=True)
    observed_on: Mapped[date] = mapped_column(Date, primary_key=True)
    atm_iv: Mapped[float] = mapped_column(Float64())


class AccountSnapshotRow(Base):
    """The broker account at one moment (``agent.domain.AccountSnapshot``), USD."""

    __tablename__ = "account_snapshots"
    __table_args__ = (Index("ix_account_snapshots_snapshot_at", "snapshot_at"),)

    id: Mapped[int] = mapped_column(SurrogateId, primary_key=True, autoincrement=True)
    snapshot_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """The domain's ``as_of``."""
    account_id: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    equity: Mapped[Decimal] = mapped_column(Money())
    cash: Mapped[Decimal] = mapped_column(Money())
    buying_power: Mapped[Decimal] = mapped_column(Money())
    options_buying_power: Mapped[Decimal] = mapped_column(Money())
    last_equity: Mapped[Decimal] = mapped_column(Money())
    options_level: Mapped[int] = mapped_column(Integer)


class EventRow(Base):
    """Something a user or the learner should know about (``agent.domain.Event``)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_event_id", "event_id", unique=True),
        Index("ix_events_occurred_at", "occurred_at"),
        Index("ix_events_kind", "kind"),
    )

    id: Mapped[int] = mapped_column(SurrogateId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    level: Mapped[str] = mapped_column(String)
    message: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument())


class PerformanceMetricsRow(Base):
    """Metrics over closed trades in one period (``PerformanceMetrics``). Money USD; rates
    0-1. One row per period: recomputing a period replaces its row."""

    __tablename__ = "performance_metrics"
    __table_args__ = (
        UniqueConstraint("period_type", "period_start", "period_end"),
        Index("ix_performance_metrics_period_start", "period_start"),
    )

    id: Mapped[int] = mapped_column(SurrogateId, primary_key=True, autoincrement=True)
    period_type: Mapped[str] = mapped_column(String)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    trade_count: Mapped[int] = mapped_column(Integer)
    """The domain's ``trades``."""
    total_pnl: Mapped[Decimal] = mapped_column(Money())
    win_rate: Mapped[float | None] = mapped_column(Float64(), nullable=True)
    profit_factor: Mapped[float | None] = mapped_column(Float64(), nullable=True)
    sharpe: Mapped[float | None] = mapped_column(Float64(), nullable=True)
    sortino: Mapped[float | None] = mapped_column(Float64(), nullable=True)
    max_drawdown_usd: Mapped[Decimal] = mapped_column(Money())
    per_strategy: Mapped[dict[str, Any]] = mapped_column(JsonDocument())
    error_counts: Mapped[dict[str, Any]] = mapped_column(JsonDocument())


class LearningLogRow(Base):
    """A parameter change the learner proposed (``agent.domain.LearningLog``)."""

    __tablename__ = "learning_logs"
    __table_args__ = (
        Index("ix_learning_logs_status", "status"),
        Index("ix_learning_logs_logged_at", "logged_at"),
    )

    log_id: Mapped[str] = mapped_column(String, primary_key=True)
    logged_at: Mapped[datetime] = mapped_column(UtcDateTime())
    update_type: Mapped[str] = mapped_column(String)
    strategy: Mapped[str] = mapped_column(String)
    old_params: Mapped[dict[str, Any]] = mapped_column(JsonDocument())
    new_params: Mapped[dict[str, Any]] = mapped_column(JsonDocument())
    reason: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float64())
    """0-1."""
    trades_analyzed: Mapped[int] = mapped_column(Integer)
    expected_improvement: Mapped[float] = mapped_column(Float64())
    status: Mapped[str] = mapped_column(String)


class StateRow(Base):
    """Small JSON documents by key: risk state, reconciliation cursors, clock anchors."""

    __tablename__ = "state"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JsonDocument())
