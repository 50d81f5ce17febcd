"""The account and the book: broker positions and activities, our trades and position legs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from agent.domain.enums import (
    ActivityStatus,
    ActivityType,
    AssetClass,
    ExitReason,
    OptionRight,
    PositionStatus,
    Side,
    StructureKind,
    TradeStatus,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSnapshot:
    """Money in USD."""

    equity: Decimal
    cash: Decimal
    buying_power: Decimal
    options_buying_power: Decimal
    last_equity: Decimal
    """Equity at the previous close (start-of-day equity)."""
    options_level: int
    as_of: datetime
    account_id: str = ""
    status: str = "ACTIVE"


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerPosition:
    """A broker position in one symbol; ``qty`` signed (contracts for options, shares for stock)."""

    symbol: str
    qty: int
    avg_entry_price: Decimal
    """USD per share, unsigned."""
    asset_class: AssetClass
    market_value: Decimal | None = None
    """Signed USD (negative for shorts), when the broker reports it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Activity:
    """An account activity: a fill, or a non-trade activity (assignment, exercise, expiry).

    ``qty`` is signed as the broker reports it; for OPTRD it is shares (contracts × 100) and
    ``price`` is the strike.
    """

    activity_id: str
    activity_type: ActivityType
    symbol: str
    qty: Decimal
    price: Decimal | None
    net_amount: Decimal
    occurred_on: date
    occurred_at: datetime | None = None
    order_id: str | None = None
    side: Side | None = None
    status: ActivityStatus = ActivityStatus.EXECUTED
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionLeg:
    """One leg of one of our trades (one row per leg in ``positions``)."""

    position_id: str
    trade_id: str
    symbol: str
    underlying: str
    right: OptionRight | None
    """None for stock."""
    strike: Decimal | None
    expiry: date | None
    side: Side
    qty: int
    """Open contracts (shares for stock), unsigned; ``side`` gives the direction."""
    entry_price: Decimal
    """Average entry price, USD per share."""
    status: PositionStatus = PositionStatus.OPEN
    exit_price: Decimal | None = None
    entry_delta: float | None = None
    current_delta: float | None = None
    unrealized_pnl: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    opened_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def signed_qty(self) -> int:
        return self.qty if self.side is Side.BUY else -self.qty


@dataclass(frozen=True, slots=True, kw_only=True)
class Trade:
    """A structure we opened (and maybe closed): the unit of P&L and of learning.

    Money in USD. ``entry_net_price`` and ``exit_net_price`` are signed net prices per unit
    (negative = credit). ``realized_pnl`` is the sum over its fills (minus fees).
    """

    trade_id: str
    underlying: str
    strategy: StructureKind
    status: TradeStatus
    qty: int
    opened_at: datetime
    entry_net_price: Decimal | None = None
    exit_net_price: Decimal | None = None
    max_loss_usd: Decimal = Decimal(0)
    """Max loss of the whole trade (all ``qty`` units), USD."""
    capital_usd: Decimal = Decimal(0)
    """Capital the broker holds for the whole trade (all units), USD."""
    realized_pnl: Decimal = Decimal(0)
    pnl_pct: float | None = None
    closed_at: datetime | None = None
    days_held: float | None = None
    exit_reason: ExitReason | None = None
    candidate_id: str | None = None
    risk_decision_id: str | None = None
    rolled_from_trade_id: str | None = None
    params: Mapping[str, object] = field(default_factory=dict)
    market_snapshot: Mapping[str, object] = field(default_factory=dict)
    execution: Mapping[str, object] = field(default_factory=dict)
    risk: Mapping[str, object] = field(default_factory=dict)
    reason_tags: tuple[str, ...] = ()
    notes: str = ""
    sector: str | None = None
