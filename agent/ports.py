"""Ports: the protocols services depend on. Adapters implement them.

Broker SDK objects and ORM rows never cross a port: adapters translate them to domain
values. Every method may raise the errors of :mod:`agent.errors`:

- ``TransientBrokerError`` for rate limits, 5xx, timeouts and dropped connections
  (``ambiguous=True`` when a submit or replace may have been applied);
- ``OrderRejected`` (and ``DuplicateClientOrderId``) when the broker refuses an order;
- ``OrderNotFound`` for an unknown order id;
- ``BrokerAuthError`` for refused credentials;
- ``DataError`` for market data that is missing or unusable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

from agent.clock import Clock
from agent.domain import (
    AccountSnapshot,
    Activity,
    ActivityType,
    AlertLevel,
    Bar,
    BrokerOrder,
    BrokerPosition,
    DecisionRecord,
    Event,
    Fill,
    LearningLog,
    MarketContext,
    OptionChain,
    OrderIntent,
    OrderRecord,
    OrderRequest,
    OrderStatus,
    PerformanceMetrics,
    PositionLeg,
    PositionStatus,
    Quote,
    RiskDecision,
    Trade,
    TradeStatus,
    UnderlyingSnapshot,
    WalkStep,
)

if TYPE_CHECKING:
    from agent.pricing.enriched import EnrichedChain

__all__ = [
    "AccountSnapshotRepository",
    "Alerts",
    "Broker",
    "Clock",
    "DecisionRepository",
    "EventRepository",
    "FillRepository",
    "IvHistoryRepository",
    "LearningRepository",
    "MarketData",
    "MetricsRepository",
    "OrderRepository",
    "PositionRepository",
    "RiskDecisionRepository",
    "StateRepository",
    "Store",
    "StoreSession",
    "TradeRepository",
]

OrderQueryStatus = Literal["open", "closed", "all"]


# --------------------------------------------------------------------------- broker


class Broker(Protocol):
    """Account, positions, orders and activities at a broker (simulated or Alpaca)."""

    def get_account(self) -> AccountSnapshot: ...

    def get_positions(self) -> list[BrokerPosition]: ...

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        """Place a limit order. Not idempotent: on an ambiguous failure, look the order up by
        ``request.client_order_id`` before anything else."""
        ...

    def get_order(self, order_id: str) -> BrokerOrder: ...

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client order id, or None if the broker has none."""
        ...

    def list_orders(
        self,
        *,
        status: OrderQueryStatus = "open",
        after: datetime | None = None,
        limit: int = 500,
    ) -> list[BrokerOrder]: ...

    def cancel_order(self, order_id: str) -> None: ...

    def replace_order(
        self,
        order_id: str,
        *,
        limit_price: Decimal,
        client_order_id: str,
        qty: int | None = None,
    ) -> BrokerOrder:
        """Replace a working order's price (and qty); returns the new order (new id)."""
        ...

    def get_activities(
        self,
        *,
        after_id: str | None = None,
        types: Sequence[ActivityType] | None = None,
    ) -> list[Activity]:
        """Account activities in ascending id order, strictly after ``after_id``."""
        ...


# --------------------------------------------------------------------------- market data


class MarketData(Protocol):
    """Quotes, chains, bars and the market context (simulated or Alpaca)."""

    def get_underlying_snapshots(self, symbols: Sequence[str]) -> dict[str, UnderlyingSnapshot]:
        """Snapshots for the symbols that have data; missing symbols are simply absent."""
        ...

    def get_daily_bars(self, symbol: str, *, start: date, end: date) -> list[Bar]: ...

    def get_option_chain(
        self, underlying: str, *, min_expiry: date, max_expiry: date
    ) -> OptionChain: ...

    def get_option_quotes(self, symbols: Sequence[str]) -> dict[str, Quote]: ...

    def get_iv_history(self, symbol: str, *, start: date, end: date) -> list[tuple[date, float]]:
        """The source's own daily ATM 30-day implied vol history, ascending; empty if the
        source keeps none (Alpaca), in which case optagent builds it from its own scans."""
        ...

    def get_market_context(self, *, start: date, end: date) -> MarketContext:
        """The volatility-index proxy (NaN if the source has none) and the events between
        ``start`` and ``end``."""
        ...


# --------------------------------------------------------------------------- alerts


class Alerts(Protocol):
    def send(self, *, level: AlertLevel, title: str, body: str) -> None: ...


# --------------------------------------------------------------------------- pricing


class ChainEnricher(Protocol):
    """Enriches one chain, with :func:`agent.pricing.chain.enrich_chain`'s signature and
    errors (``DataError`` when it cannot)."""

    def __call__(
        self,
        chain: OptionChain,
        spot: float,
        rate: float,
        dividend_yield: float,
        as_of: datetime,
        *,
        max_quote_age_s: float = ...,
        vendor_iv_tolerance: float = ...,
    ) -> EnrichedChain: ...


# --------------------------------------------------------------------------- store


class TradeRepository(Protocol):
    def add(self, trade: Trade) -> None: ...

    def update(self, trade: Trade) -> None: ...

    def get(self, trade_id: str) -> Trade | None: ...

    def list(
        self,
        *,
        statuses: Iterable[TradeStatus] | None = None,
        underlying: str | None = None,
        closed_since: datetime | None = None,
        opened_since: datetime | None = None,
    ) -> list[Trade]: ...


class PositionRepository(Protocol):
    def upsert(self, leg: PositionLeg) -> None: ...

    def update_marks(
        self, position_id: str, *, current_delta: float | None, unrealized_pnl: Decimal
    ) -> None:
        """Update only the mark columns (the monitor must never overwrite quantities that
        execution writes)."""
        ...

    def get(self, position_id: str) -> PositionLeg | None: ...

    def list(
        self,
        *,
        trade_id: str | None = None,
        status: PositionStatus | None = None,
        symbol: str | None = None,
    ) -> list[PositionLeg]: ...


class OrderRepository(Protocol):
    def add_intent(self, intent: OrderIntent) -> None: ...

    def update_intent(self, intent: OrderIntent) -> None: ...

    def get_intent(self, intent_id: str) -> OrderIntent | None: ...

    def list_intents(
        self,
        *,
        statuses: Iterable[OrderStatus] | None = None,
        trade_id: str | None = None,
    ) -> list[OrderIntent]: ...

    def upsert_order(self, record: OrderRecord) -> None:
        """Insert or update by ``client_order_id``."""
        ...

    def get_order_by_client_id(self, client_order_id: str) -> OrderRecord | None: ...

    def get_order(self, order_id: str) -> OrderRecord | None: ...

    def list_orders(
        self, *, intent_id: str | None = None, statuses: Iterable[OrderStatus] | None = None
    ) -> list[OrderRecord]: ...

    def add_walk_step(self, step: WalkStep) -> None: ...

    def list_walk_steps(self, intent_id: str) -> list[WalkStep]: ...


class FillRepository(Protocol):
    def add(self, fill: Fill, *, trade_id: str | None) -> bool:
        """Store a fill; False (and no change) if its ``fill_id`` is already stored."""
        ...

    def list(self, *, trade_id: str | None = None, order_id: str | None = None) -> list[Fill]: ...


class DecisionRepository(Protocol):
    def add_many(self, records: Sequence[DecisionRecord]) -> None: ...

    def list(
        self,
        *,
        underlying: str | None = None,
        scan_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[DecisionRecord]: ...


class RiskDecisionRepository(Protocol):
    def add(self, decision: RiskDecision) -> None: ...

    def get(self, decision_id: str) -> RiskDecision | None: ...


class IvHistoryRepository(Protocol):
    def upsert(self, symbol: str, on: date, atm_iv: float) -> None:
        """One observation per symbol and trading day (the latest write wins)."""
        ...

    def upsert_many(self, symbol: str, observations: Sequence[tuple[date, float]]) -> None:
        """:meth:`upsert` of many (day, ATM IV) observations at once (a backfill)."""
        ...

    def series(self, symbol: str, *, since: date | None = None) -> list[tuple[date, float]]:
        """Observations in ascending date order."""
        ...


class AccountSnapshotRepository(Protocol):
    def add(self, snapshot: AccountSnapshot) -> None: ...

    def latest(self) -> AccountSnapshot | None: ...

    def list(self, *, since: datetime | None = None) -> list[AccountSnapshot]: ...


class EventRepository(Protocol):
    def add(self, event: Event) -> None: ...

    def list(
        self,
        *,
        since: datetime | None = None,
        kind_prefix: str | None = None,
        limit: int | None = None,
    ) -> list[Event]: ...


class MetricsRepository(Protocol):
    def add(self, metrics: PerformanceMetrics) -> None: ...

    def list(self, *, period_type: str | None = None) -> list[PerformanceMetrics]: ...


class LearningRepository(Protocol):
    def add(self, log: LearningLog) -> None: ...

    def update(self, log: LearningLog) -> None: ...

    def list(self, *, status: str | None = None) -> list[LearningLog]: ...


class StateRepository(Protocol):
    """Small JSON documents by key: risk state, reconciliation cursors, clock anchors."""

    def get(self, key: str) -> Mapping[str, Any] | None: ...

    def put(self, key: str, value: Mapping[str, Any]) -> None: ...


class StoreSession(Protocol):
    """The repositories, bound to one database transaction."""

    trades: TradeRepository
    positions: PositionRepository
    orders: OrderRepository
    fills: FillRepository
    decisions: DecisionRepository
    risk_decisions: RiskDecisionRepository
    iv_history: IvHistoryRepository
    account_snapshots: AccountSnapshotRepository
    events: EventRepository
    metrics: MetricsRepository
    learning: LearningRepository
    state: StateRepository


class Store(Protocol):
    """Durable storage. ``with store.transaction() as tx:`` commits on success and rolls back
    on an exception; everything written in one block lands together or not at all."""

    def transaction(self) -> AbstractContextManager[StoreSession]: ...

    def close(self) -> None: ...
