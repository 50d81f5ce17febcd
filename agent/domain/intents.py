"""Order intents: what we mean to do, written down before anything is sent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from agent.domain.enums import OrderPurpose, OrderStatus, StructureKind
from agent.domain.orders import OrderLeg

_CLIENT_ID_NAMESPACE = uuid.UUID("6f1c8c1e-5b0e-4d7e-9b8a-0c1d2e3f4a5b")


def client_order_id_for(intent_id: str, attempt: int) -> str:
    """The deterministic client order id of attempt ``attempt`` of an intent (UUID form)."""
    return str(uuid.uuid5(_CLIENT_ID_NAMESPACE, f"{intent_id}/{attempt}"))


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderIntent:
    """An order we intend to place, persisted before submission.

    ``start_price`` and ``limit_bound`` are signed net prices per unit (negative = credit):
    the walker starts at ``start_price`` and never goes past ``limit_bound``.
    """

    intent_id: str
    trade_id: str
    purpose: OrderPurpose
    structure: StructureKind
    legs: tuple[OrderLeg, ...]
    qty: int
    start_price: Decimal
    limit_bound: Decimal
    natural_price: Decimal
    """Net price at the natural side when decided (sells at bid, buys at ask)."""
    mid_price: Decimal
    """Net mid when decided (slippage reference)."""
    reason: str
    created_at: datetime
    risk_decision_id: str | None = None
    attempt: int = 0
    status: OrderStatus = OrderStatus.PENDING
    closes_trade_id: str | None = None
    """For a roll: the trade whose legs this order closes (``trade_id`` is the new trade)."""

    @property
    def client_order_id(self) -> str:
        return client_order_id_for(self.intent_id, self.attempt)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRecord:
    """One broker order as we track it: a submission attempt of an intent (or an external order).

    Prices are signed net prices per unit (negative = credit).
    """

    client_order_id: str
    intent_id: str | None
    """None for orders optagent did not place (flagged as external)."""
    status: OrderStatus
    qty: int
    limit_price: Decimal | None
    order_id: str | None = None
    filled_qty: int = 0
    filled_avg_price: Decimal | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    replaces_order_id: str | None = None
    legs_filled: tuple[tuple[str, int, Decimal | None], ...] = ()
    """Per leg: (symbol, filled contracts, average fill price) as last reported."""
    external: bool = False
    reject_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkStep:
    """One step of the price walker, kept for tuning."""

    intent_id: str
    step: int
    at: datetime
    limit_price: Decimal
    natural_price: Decimal | None
    mid_price: Decimal | None
    spread_width: Decimal | None
    """Net natural minus net mid distance (USD per share), a proxy for the spread width."""
    client_order_id: str
    outcome: str
    """e.g. ``submitted``, ``replaced``, ``filled``, ``partial``, ``canceled``, ``floor_reached``."""
