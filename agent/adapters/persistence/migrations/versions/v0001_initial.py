"""Initial schema: every table of the persistence layer.

Revision ID: 0001
Revises:
Create Date: 2026-03-02

Plain SQLAlchemy types only (a revision must not change when the application's types do):
money is NUMERIC(18, 6) on PostgreSQL and an INTEGER count of 1e-6 USD on SQLite,
timestamps are TIMESTAMP WITH TIME ZONE (UTC text on SQLite), floats double precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    # BIGINT identity on PostgreSQL; INTEGER PRIMARY KEY (the rowid alias) on SQLite.
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def _money(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(
        name,
        sa.Numeric(precision=18, scale=6).with_variant(sa.BigInteger(), "sqlite"),
        nullable=nullable,
    )


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _float(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.Double(), nullable=nullable)


def _json(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.JSON(), nullable=False)


def _text(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _indexes(table: str, *specs: tuple[str, list[str], bool]) -> None:
    for name, columns, unique in specs:
        op.create_index(name, table, columns, unique=unique)


def upgrade() -> None:
    op.create_table(
        "trades",
        _text("trade_id"),
        _text("underlying"),
        _text("strategy"),
        _text("status"),
        sa.Column("qty", sa.Integer(), nullable=False),
        _timestamp("opened_at"),
        _timestamp("closed_at", nullable=True),
        _money("entry_net_price", nullable=True),
        _money("exit_net_price", nullable=True),
        _money("max_loss_usd"),
        _money("capital_usd"),
        _money("realized_pnl"),
        _float("pnl_pct", nullable=True),
        _float("days_held", nullable=True),
        _text("exit_reason", nullable=True),
        _text("candidate_id", nullable=True),
        _text("risk_decision_id", nullable=True),
        _text("rolled_from_trade_id", nullable=True),
        _text("sector", nullable=True),
        _json("params"),
        _json("market_snapshot"),
        _json("execution"),
        _json("risk"),
        _json("reason_tags"),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rolled_from_trade_id"],
            ["trades.trade_id"],
            name="fk_trades_rolled_from_trade_id_trades",
        ),
        sa.PrimaryKeyConstraint("trade_id", name="pk_trades"),
    )
    _indexes(
        "trades",
        ("ix_trades_status_underlying", ["status", "underlying"], False),
        ("ix_trades_underlying", ["underlying"], False),
        ("ix_trades_opened_at", ["opened_at"], False),
        ("ix_trades_closed_at", ["closed_at"], False),
    )

    op.create_table(
        "positions",
        _id(),
        _text("position_id"),
        _text("trade_id"),
        _text("symbol"),
        _text("underlying"),
        _text("option_right", nullable=True),
        _money("strike", nullable=True),
        sa.Column("expiry", sa.Date(), nullable=True),
        _text("side"),
        sa.Column("qty", sa.Integer(), nullable=False),
        _money("entry_price"),
        _money("exit_price", nullable=True),
        _float("entry_delta", nullable=True),
        _float("current_delta", nullable=True),
        _money("unrealized_pnl"),
        _money("realized_pnl"),
        _text("status"),
        _timestamp("opened_at", nullable=True),
        _timestamp("closed_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["trade_id"], ["trades.trade_id"], name="fk_positions_trade_id_trades"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_positions"),
    )
    _indexes(
        "positions",
        ("ix_positions_position_id", ["position_id"], True),
        ("ix_positions_trade_id", ["trade_id"], False),
        ("ix_positions_status", ["status"], False),
        ("ix_positions_symbol", ["symbol"], False),
    )

    op.create_table(
        "order_intents",
        _text("intent_id"),
        _text("trade_id"),
        _text("purpose"),
        _text("structure"),
        _json("legs"),
        sa.Column("qty", sa.Integer(), nullable=False),
        _money("start_price"),
        _money("limit_bound"),
        _money("natural_price"),
        _money("mid_price"),
        sa.Column("reason", sa.Text(), nullable=False),
        _timestamp("created_at"),
        _text("risk_decision_id", nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        _text("status"),
        _text("closes_trade_id", nullable=True),
        sa.ForeignKeyConstraint(
            ["trade_id"], ["trades.trade_id"], name="fk_order_intents_trade_id_trades"
        ),
        sa.ForeignKeyConstraint(
            ["closes_trade_id"],
            ["trades.trade_id"],
            name="fk_order_intents_closes_trade_id_trades",
        ),
        sa.PrimaryKeyConstraint("intent_id", name="pk_order_intents"),
    )
    _indexes(
        "order_intents",
        ("ix_order_intents_trade_id", ["trade_id"], False),
        ("ix_order_intents_status", ["status"], False),
    )

    op.create_table(
        "orders",
        _id(),
        _text("client_order_id"),
        _text("intent_id", nullable=True),
        _text("order_id", nullable=True),
        _text("status"),
        sa.Column("qty", sa.Integer(), nullable=False),
        _money("limit_price", nullable=True),
        sa.Column("filled_qty", sa.Integer(), nullable=False),
        _money("filled_avg_price", nullable=True),
        _timestamp("submitted_at", nullable=True),
        _timestamp("updated_at", nullable=True),
        _text("replaces_order_id", nullable=True),
        _json("legs_filled"),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["order_intents.intent_id"],
            name="fk_orders_intent_id_order_intents",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
    )
    _indexes(
        "orders",
        ("ix_orders_client_order_id", ["client_order_id"], True),
        ("ix_orders_order_id", ["order_id"], False),
        ("ix_orders_intent_id", ["intent_id"], False),
        ("ix_orders_status", ["status"], False),
    )

    op.create_table(
        "walk_steps",
        _id(),
        _text("intent_id"),
        sa.Column("step", sa.Integer(), nullable=False),
        _timestamp("stepped_at"),
        _money("limit_price"),
        _money("natural_price", nullable=True),
        _money("mid_price", nullable=True),
        _money("spread_width", nullable=True),
        _text("client_order_id"),
        _text("outcome"),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["order_intents.intent_id"],
            name="fk_walk_steps_intent_id_order_intents",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_walk_steps"),
    )
    _indexes("walk_steps", ("ix_walk_steps_intent_id", ["intent_id"], False))

    op.create_table(
        "fills",
        _id(),
        _text("fill_id"),
        _text("order_id"),
        _text("client_order_id"),
        _text("symbol"),
        _text("side"),
        sa.Column("qty", sa.Integer(), nullable=False),
        _money("price"),
        _timestamp("filled_at"),
        _text("position_intent", nullable=True),
        _money("fee_usd"),
        _text("trade_id", nullable=True),
        sa.ForeignKeyConstraint(["trade_id"], ["trades.trade_id"], name="fk_fills_trade_id_trades"),
        sa.PrimaryKeyConstraint("id", name="pk_fills"),
    )
    _indexes(
        "fills",
        ("ix_fills_fill_id", ["fill_id"], True),
        ("ix_fills_trade_id", ["trade_id"], False),
        ("ix_fills_order_id", ["order_id"], False),
    )

    op.create_table(
        "decisions",
        _id(),
        _text("decision_id"),
        _text("scan_id"),
        _timestamp("decided_at"),
        _text("underlying"),
        _text("stage"),
        _text("outcome"),
        _text("strategy", nullable=True),
        _text("candidate_id", nullable=True),
        _json("reasons"),
        _json("metrics"),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
    )
    _indexes(
        "decisions",
        ("ix_decisions_decision_id", ["decision_id"], True),
        ("ix_decisions_underlying_decided_at", ["underlying", "decided_at"], False),
        ("ix_decisions_scan_id", ["scan_id"], False),
        ("ix_decisions_decided_at", ["decided_at"], False),
    )

    op.create_table(
        "risk_decisions",
        _text("decision_id"),
        _text("candidate_id"),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        _json("checks"),
        _timestamp("decided_at"),
        _money("limit_bound", nullable=True),
        _text("sizing_method"),
        sa.PrimaryKeyConstraint("decision_id", name="pk_risk_decisions"),
    )
    _indexes("risk_decisions", ("ix_risk_decisions_candidate_id", ["candidate_id"], False))

    op.create_table(
        "iv_history",
        _text("symbol"),
        sa.Column("observed_on", sa.Date(), nullable=False),
        _float("atm_iv"),
        sa.PrimaryKeyConstraint("symbol", "observed_on", name="pk_iv_history"),
    )

    op.create_table(
        "account_snapshots",
        _id(),
        _timestamp("snapshot_at"),
        _text("account_id"),
        _text("status"),
        _money("equity"),
        _money("cash"),
        _money("buying_power"),
        _money("options_buying_power"),
        _money("last_equity"),
        sa.Column("options_level", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_account_snapshots"),
    )
    _indexes("account_snapshots", ("ix_account_snapshots_snapshot_at", ["snapshot_at"], False))

    op.create_table(
        "events",
        _id(),
        _text("event_id"),
        _text("kind"),
        _timestamp("occurred_at"),
        _text("level"),
        sa.Column("message", sa.Text(), nullable=False),
        _text("subject", nullable=True),
        _json("payload"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    _indexes(
        "events",
        ("ix_events_event_id", ["event_id"], True),
        ("ix_events_occurred_at", ["occurred_at"], False),
        ("ix_events_kind", ["kind"], False),
    )

    op.create_table(
        "performance_metrics",
        _id(),
        _text("period_type"),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        _timestamp("computed_at"),
        sa.Column("trade_count", sa.Integer(), nullable=False),
        _money("total_pnl"),
        _float("win_rate", nullable=True),
        _float("profit_factor", nullable=True),
        _float("sharpe", nullable=True),
        _float("sortino", nullable=True),
        _money("max_drawdown_usd"),
        _json("per_strategy"),
        _json("error_counts"),
        sa.PrimaryKeyConstraint("id", name="pk_performance_metrics"),
        sa.UniqueConstraint(
            "period_type",
            "period_start",
            "period_end",
            name="uq_performance_metrics_period_type_period_start_period_end",
        ),
    )
    _indexes(
        "performance_metrics",
        ("ix_performance_metrics_period_start", ["period_start"], False),
    )

    op.create_table(
        "learning_logs",
        _text("log_id"),
        _timestamp("logged_at"),
        _text("update_type"),
        _text("strategy"),
        _json("old_params"),
        _json("new_params"),
        sa.Column("reason", sa.Text(), nullable=False),
        _float("confidence"),
        sa.Column("trades_analyzed", sa.Integer(), nullable=False),
        _float("expected_improvement"),
        _text("status"),
        sa.PrimaryKeyConstraint("log_id", name="pk_learning_logs"),
    )
    _indexes(
        "learning_logs",
        ("ix_learning_logs_status", ["status"], False),
        ("ix_learning_logs_logged_at", ["logged_at"], False),
    )

    op.create_table(
        "state",
        _text("key"),
        _json("value"),
        sa.PrimaryKeyConstraint("key", name="pk_state"),
    )


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes.
    for table in (
        "state",
        "learning_logs",
        "performance_metrics",
        "events",
        "account_snapshots",
        "iv_history",
        "risk_decisions",
        "decisions",
        "fills",
        "walk_steps",
        "orders",
        "order_intents",
        "positions",
        "trades",
    ):
        op.drop_table(table)
