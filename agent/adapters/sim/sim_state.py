"""The simulated exchange's internal records and their JSON form.

These records are mutable on purpose: they are the exchange's private book, changed only
under its lock, and turned into frozen domain values (:class:`BrokerOrder`, …) at the port.
Money is ``Decimal`` in memory and a string in JSON; times are aware UTC datetimes in memory
and ISO-8601 strings in JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from agent.domain import (
    Activity,
    ActivityStatus,
    ActivityType,
    AssetClass,
    BrokerOrder,
    BrokerOrderLeg,
    Fill,
    OrderClass,
    OrderLeg,
    OrderStatus,
    PositionIntent,
    Side,
    TimeInForce,
)

STATE_VERSION = 1
AVG_PRICE_QUANTUM = Decimal("0.000001")
"""Average prices (entry, fill) are kept to 1e-6 USD per share."""


@dataclass(slots=True, kw_only=True)
class LegState:
    symbol: str
    side: Side
    position_intent: PositionIntent
    ratio_qty: int
    leg_order_id: str
    filled_qty: int = 0
    """Contracts (shares for stock) filled on this leg."""
    filled_notional: Decimal = Decimal(0)
    """Σ filled qty × price, USD per share units (× multiplier for dollars)."""

    @property
    def filled_avg_price(self) -> Decimal | None:
        if self.filled_qty == 0:
            return None
        return (self.filled_notional / self.filled_qty).quantize(AVG_PRICE_QUANTUM)

    def to_order_leg(self) -> OrderLeg:
        return OrderLeg(
            symbol=self.symbol,
            side=self.side,
            position_intent=self.position_intent,
            ratio_qty=self.ratio_qty,
        )


@dataclass(slots=True, kw_only=True)
class OrderState:
    seq: int
    """Submission sequence number (also the order's id source)."""
    order_id: str
    client_order_id: str
    order_class: OrderClass
    legs: list[LegState]
    qty: int
    """Structure units."""
    limit_price: Decimal
    """Signed net price per unit (positive = debit)."""
    time_in_force: TimeInForce
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    filled_qty: int = 0
    filled_at: datetime | None = None
    replaces: str | None = None
    replaced_by: str | None = None

    @property
    def remaining_qty(self) -> int:
        return self.qty - self.filled_qty

    @property
    def is_working(self) -> bool:
        return self.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)

    def to_broker_order(self) -> BrokerOrder:
        legs = tuple(
            BrokerOrderLeg(
                symbol=leg.symbol,
                side=leg.side,
                position_intent=leg.position_intent,
                ratio_qty=leg.ratio_qty,
                filled_qty=leg.filled_qty,
                filled_avg_price=leg.filled_avg_price,
                leg_order_id=leg.leg_order_id,
            )
            for leg in self.legs
        )
        filled_avg: Decimal | None = None
        if self.filled_qty:
            # From the (rounded) leg averages, so Σ sign × ratio × leg price == parent exactly.
            filled_avg = sum(
                (
                    leg.side.sign * leg.ratio_qty * (leg.filled_avg_price or Decimal(0))
                    for leg in self.legs
                ),
                Decimal(0),
            )
        return BrokerOrder(
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            status=self.status,
            order_class=self.order_class,
            qty=self.qty,
            filled_qty=self.filled_qty,
            limit_price=self.limit_price,
            filled_avg_price=filled_avg,
            legs=legs,
            created_at=self.created_at,
            updated_at=self.updated_at,
            time_in_force=self.time_in_force,
            filled_at=self.filled_at,
            replaces=self.replaces,
            replaced_by=self.replaced_by,
        )


@dataclass(slots=True, kw_only=True)
class PositionState:
    symbol: str
    qty: int
    """Signed contracts (shares for stock)."""
    avg_entry_price: Decimal
    """USD per share, unsigned."""
    asset_class: AssetClass


@dataclass(slots=True, kw_only=True)
class ExchangeConfig:
    """The knobs fixed at construction (kept in the state so a restore behaves the same)."""

    seed: int
    initial_cash_usd: Decimal
    fill_rate_per_min: float
    partial_fill_prob: float
    early_assignment_prob: float
    early_assignment_max_extrinsic_usd: float
    options_level: int
    fee_per_contract_usd: Decimal


@dataclass(slots=True, kw_only=True)
class BookState:
    """Everything the exchange must remember to continue exactly where it stopped."""

    config: ExchangeConfig
    cash_usd: Decimal
    last_equity_usd: Decimal
    processed_until: datetime
    order_seq: int = 0
    activity_seq: int = 0
    last_activity_ms: int = 0
    """Milliseconds since the epoch of the last activity id (ids are strictly increasing)."""
    positions: dict[str, PositionState] = field(default_factory=dict)
    orders: list[OrderState] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)


# --------------------------------------------------------------------------- JSON


def _dt(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _req_dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _parse_dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def book_to_json(book: BookState) -> dict[str, Any]:
    cfg = book.config
    return {
        "version": STATE_VERSION,
        "config": {
            "seed": cfg.seed,
            "initial_cash_usd": str(cfg.initial_cash_usd),
            "fill_rate_per_min": cfg.fill_rate_per_min,
            "partial_fill_prob": cfg.partial_fill_prob,
            "early_assignment_prob": cfg.early_assignment_prob,
            "early_assignment_max_extrinsic_usd": cfg.early_assignment_max_extrinsic_usd,
            "options_level": cfg.options_level,
            "fee_per_contract_usd": str(cfg.fee_per_contract_usd),
        },
        "cash_usd": str(book.cash_usd),
        "last_equity_usd": str(book.last_equity_usd),
        "processed_until": _dt(book.processed_until),
        "order_seq": book.order_seq,
        "activity_seq": book.activity_seq,
        "last_activity_ms": book.last_activity_ms,
        "positions": [
            {
                "symbol": p.symbol,
                "qty": p.qty,
                "avg_entry_price": str(p.avg_entry_price),
                "asset_class": p.asset_class.value,
            }
            for p in book.positions.values()
        ],
        "orders": [_order_to_json(o) for o in book.orders],
        "activities": [_activity_to_json(a) for a in book.activities],
        "fills": [_fill_to_json(f) for f in book.fills],
    }


def book_from_json(data: dict[str, Any]) -> BookState:
    version = data.get("version")
    if version != STATE_VERSION:
        raise ValueError(f"unsupported sim exchange state version {version!r}")
    cfg = data["config"]
    config = ExchangeConfig(
        seed=int(cfg["seed"]),
        initial_cash_usd=Decimal(cfg["initial_cash_usd"]),
        fill_rate_per_min=float(cfg["fill_rate_per_min"]),
        partial_fill_prob=float(cfg["partial_fill_prob"]),
        early_assignment_prob=float(cfg["early_assignment_prob"]),
        early_assignment_max_extrinsic_usd=float(cfg["early_assignment_max_extrinsic_usd"]),
        options_level=int(cfg["options_level"]),
        fee_per_contract_usd=Decimal(cfg["fee_per_contract_usd"]),
    )
    positions = {
        p["symbol"]: PositionState(
            symbol=p["symbol"],
            qty=int(p["qty"]),
            avg_entry_price=Decimal(p["avg_entry_price"]),
            asset_class=AssetClass(p["asset_class"]),
        )
        for p in data["positions"]
    }
    return BookState(
        config=config,
        cash_usd=Decimal(data["cash_usd"]),
        last_equity_usd=Decimal(data["last_equity_usd"]),
        processed_until=_req_dt(data["processed_until"]),
        order_seq=int(data["order_seq"]),
        activity_seq=int(data["activity_seq"]),
        last_activity_ms=int(data["last_activity_ms"]),
        positions=positions,
        orders=[_order_from_json(o) for o in data["orders"]],
        activities=[_activity_from_json(a) for a in data["activities"]],
        fills=[_fill_from_json(f) for f in data["fills"]],
    )


def _order_to_json(order: OrderState) -> dict[str, Any]:
    return {
        "seq": order.seq,
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "order_class": order.order_class.value,
        "legs": [
            {
                "symbol": leg.symbol,
                "side": leg.side.value,
                "position_intent": leg.position_intent.value,
                "ratio_qty": leg.ratio_qty,
                "leg_order_id": leg.leg_order_id,
                "filled_qty": leg.filled_qty,
                "filled_notional": str(leg.filled_notional),
            }
            for leg in order.legs
        ],
        "qty": order.qty,
        "limit_price": str(order.limit_price),
        "time_in_force": order.time_in_force.value,
        "status": order.status.value,
        "created_at": _dt(order.created_at),
        "updated_at": _dt(order.updated_at),
        "filled_qty": order.filled_qty,
        "filled_at": _dt(order.filled_at),
        "replaces": order.replaces,
        "replaced_by": order.replaced_by,
    }


def _order_from_json(data: dict[str, Any]) -> OrderState:
    return OrderState(
        seq=int(data["seq"]),
        order_id=data["order_id"],
        client_order_id=data["client_order_id"],
        order_class=OrderClass(data["order_class"]),
        legs=[
            LegState(
                symbol=leg["symbol"],
                side=Side(leg["side"]),
                position_intent=PositionIntent(leg["position_intent"]),
                ratio_qty=int(leg["ratio_qty"]),
                leg_order_id=leg["leg_order_id"],
                filled_qty=int(leg["filled_qty"]),
                filled_notional=Decimal(leg["filled_notional"]),
            )
            for leg in data["legs"]
        ],
        qty=int(data["qty"]),
        limit_price=Decimal(data["limit_price"]),
        time_in_force=TimeInForce(data["time_in_force"]),
        status=OrderStatus(data["status"]),
        created_at=_req_dt(data["created_at"]),
        updated_at=_req_dt(data["updated_at"]),
        filled_qty=int(data["filled_qty"]),
        filled_at=_parse_dt(data["filled_at"]),
        replaces=data["replaces"],
        replaced_by=data["replaced_by"],
    )


def _activity_to_json(activity: Activity) -> dict[str, Any]:
    return {
        "activity_id": activity.activity_id,
        "activity_type": activity.activity_type.value,
        "symbol": activity.symbol,
        "qty": str(activity.qty),
        "price": _dec(activity.price),
        "net_amount": str(activity.net_amount),
        "occurred_on": activity.occurred_on.isoformat(),
        "occurred_at": _dt(activity.occurred_at),
        "order_id": activity.order_id,
        "side": None if activity.side is None else activity.side.value,
        "status": activity.status.value,
        "description": activity.description,
    }


def _activity_from_json(data: dict[str, Any]) -> Activity:
    return Activity(
        activity_id=data["activity_id"],
        activity_type=ActivityType(data["activity_type"]),
        symbol=data["symbol"],
        qty=Decimal(data["qty"]),
        price=_parse_dec(data["price"]),
        net_amount=Decimal(data["net_amount"]),
        occurred_on=date.fromisoformat(data["occurred_on"]),
        occurred_at=_parse_dt(data["occurred_at"]),
        order_id=data["order_id"],
        side=None if data["side"] is None else Side(data["side"]),
        status=ActivityStatus(data["status"]),
        description=data["description"],
    )


def _fill_to_json(fill: Fill) -> dict[str, Any]:
    return {
        "fill_id": fill.fill_id,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "qty": fill.qty,
        "price": str(fill.price),
        "filled_at": _dt(fill.filled_at),
        "position_intent": None if fill.position_intent is None else fill.position_intent.value,
        "fee_usd": str(fill.fee_usd),
    }


def _fill_from_json(data: dict[str, Any]) -> Fill:
    return Fill(
        fill_id=data["fill_id"],
        order_id=data["order_id"],
        client_order_id=data["client_order_id"],
        symbol=data["symbol"],
        side=Side(data["side"]),
        qty=int(data["qty"]),
        price=Decimal(data["price"]),
        filled_at=_req_dt(data["filled_at"]),
        position_intent=(
            None if data["position_intent"] is None else PositionIntent(data["position_intent"])
        ),
        fee_usd=Decimal(data["fee_usd"]),
    )
