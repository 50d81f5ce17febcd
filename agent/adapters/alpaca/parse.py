"""Tolerant parsing of Alpaca JSON into domain values.

The adapters ask alpaca-py for raw JSON (``raw_data=True``): strict pydantic models break when
Alpaca adds an enum value or drops a field (ALPACA_NOTES §4). Here extra fields are ignored,
optional ones may be missing or ``""``/null, and unknown enum values map to a safe default.
Money stays ``Decimal`` (Alpaca sends strings); quantities are whole numbers for options.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from agent.calendar import ET
from agent.domain import (
    CONTRACT_MULTIPLIER,
    AccountSnapshot,
    Activity,
    ActivityStatus,
    ActivityType,
    AssetClass,
    BrokerOrder,
    BrokerOrderLeg,
    BrokerPosition,
    OrderClass,
    OrderStatus,
    PositionIntent,
    Side,
    TimeInForce,
    is_option_symbol,
)
from agent.errors import DataError

Json = Mapping[str, Any]

_STATUS: dict[str, OrderStatus] = {
    "new": OrderStatus.NEW,
    "accepted": OrderStatus.ACCEPTED,
    "pending_new": OrderStatus.ACCEPTED,
    "accepted_for_bidding": OrderStatus.ACCEPTED,
    "calculated": OrderStatus.ACCEPTED,
    "held": OrderStatus.ACCEPTED,
    "pending_review": OrderStatus.ACCEPTED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "done_for_day": OrderStatus.EXPIRED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "replaced": OrderStatus.REPLACED,
    "pending_cancel": OrderStatus.PENDING_CANCEL,
    "pending_replace": OrderStatus.PENDING_REPLACE,
    "stopped": OrderStatus.ACCEPTED,
    "rejected": OrderStatus.REJECTED,
    "suspended": OrderStatus.ACCEPTED,
}
"""Alpaca's order statuses onto optagent's. Unknown values become ACCEPTED (working, not
final), so an order is never dropped as done because Alpaca invented a new word."""

_ACTIVITY_TYPES: dict[str, ActivityType] = {
    "FILL": ActivityType.FILL,
    "OPASN": ActivityType.OPTION_ASSIGNMENT,
    "OPEXC": ActivityType.OPTION_EXERCISE,
    "OPXRC": ActivityType.OPTION_EXERCISE,  # the spelling of one docs page (ALPACA_NOTES §1.4)
    "OPEXP": ActivityType.OPTION_EXPIRY,
    "OPTRD": ActivityType.OPTION_TRADE,
}
WANTED_ACTIVITY_TYPES = ("FILL", "OPASN", "OPEXC", "OPEXP", "OPTRD")


# --------------------------------------------------------------------------- scalars


def text(raw: Json, key: str) -> str | None:
    """A string field; ``""`` and null are None (mleg parents send ``""``)."""
    value = raw.get(key)
    if value is None:
        return None
    value = str(value)
    return value or None


def decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def required_decimal(raw: Json, key: str, what: str) -> Decimal:
    value = decimal(raw.get(key))
    if value is None:
        raise DataError(f"{what}: field {key!r} missing or not a number ({raw.get(key)!r})")
    return value


def whole(value: Any, default: int = 0) -> int:
    """A quantity that Alpaca may send as 1, 1.0 or "1"."""
    number = decimal(value)
    if number is None:
        return default
    return int(number.to_integral_value())


def number(value: Any) -> float:
    """A float, NaN if missing or unusable."""
    if value is None or value == "":
        return math.nan
    try:
        result = float(value)
    except (TypeError, ValueError):
        return math.nan
    return result if math.isfinite(result) else math.nan


def timestamp(value: Any) -> datetime | None:
    """RFC 3339 (``Z``, offsets, nanoseconds) to an aware UTC datetime; None if unusable."""
    if not value or not isinstance(value, str):
        return None
    raw = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Python takes at most microseconds: trim a longer fraction.
    if "." in raw:
        head, _, tail = raw.partition(".")
        digits = ""
        rest = tail
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        raw = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def day(value: Any) -> date | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _side(value: Any) -> Side | None:
    try:
        return Side(str(value).lower())
    except ValueError:
        return None


def _intent(value: Any) -> PositionIntent | None:
    try:
        return PositionIntent(str(value).lower())
    except ValueError:
        return None


# --------------------------------------------------------------------------- account


def parse_account(raw: Json, *, as_of: datetime) -> AccountSnapshot:
    what = "account"
    equity = required_decimal(raw, "equity", what)
    buying_power = decimal(raw.get("buying_power")) or Decimal(0)
    level = raw.get("options_trading_level")
    if level in (None, ""):
        level = raw.get("options_approved_level")
    return AccountSnapshot(
        equity=equity,
        cash=decimal(raw.get("cash")) or Decimal(0),
        buying_power=buying_power,
        options_buying_power=decimal(raw.get("options_buying_power")) or buying_power,
        last_equity=decimal(raw.get("last_equity")) or equity,
        options_level=whole(level, 0),
        as_of=as_of,
        account_id=text(raw, "id") or "",
        status=text(raw, "status") or "UNKNOWN",
    )


# --------------------------------------------------------------------------- positions


def parse_position(raw: Json) -> BrokerPosition:
    symbol = text(raw, "symbol")
    if symbol is None:
        raise DataError(f"position without a symbol: {dict(raw)!r}")
    klass = text(raw, "asset_class")
    if klass == AssetClass.OPTION.value:
        asset_class = AssetClass.OPTION
    elif klass == AssetClass.EQUITY.value:
        asset_class = AssetClass.EQUITY
    else:
        asset_class = AssetClass.OPTION if is_option_symbol(symbol) else AssetClass.EQUITY
    qty = whole(raw.get("qty"))
    if text(raw, "side") == "short" and qty > 0:
        qty = -qty
    return BrokerPosition(
        symbol=symbol,
        qty=qty,
        avg_entry_price=abs(decimal(raw.get("avg_entry_price")) or Decimal(0)),
        asset_class=asset_class,
        market_value=decimal(raw.get("market_value")),
    )


# --------------------------------------------------------------------------- orders


def order_status(value: Any) -> OrderStatus:
    return _STATUS.get(str(value or "").lower(), OrderStatus.ACCEPTED)


def _leg(raw: Json, *, fallback_ratio: int = 1) -> BrokerOrderLeg:
    symbol = text(raw, "symbol")
    side = _side(raw.get("side"))
    intent = _intent(raw.get("position_intent"))
    if side is None and intent is not None:
        side = intent.side
    if symbol is None or side is None:
        raise DataError(f"order leg without symbol or side: {dict(raw)!r}")
    filled_qty = whole(raw.get("filled_qty"))
    avg = decimal(raw.get("filled_avg_price"))
    return BrokerOrderLeg(
        symbol=symbol,
        side=side,
        position_intent=intent,
        ratio_qty=whole(raw.get("ratio_qty"), fallback_ratio) or fallback_ratio,
        filled_qty=filled_qty,
        filled_avg_price=abs(avg) if avg is not None and filled_qty > 0 else None,
        leg_order_id=text(raw, "id"),
    )


def parse_order(raw: Json) -> BrokerOrder:
    """An Alpaca order (a simple order, or an mleg parent with its legs) as a BrokerOrder.

    Prices become optagent's signed net convention: an mleg parent's limit is already signed
    (positive = debit); a single-leg limit is unsigned at Alpaca and gets its side's sign.
    The filled net price is rebuilt from the legs' fills when they all have one.
    """
    order_id = text(raw, "id")
    if order_id is None:
        raise DataError(f"order without an id: {dict(raw)!r}")
    raw_legs = raw.get("legs") or []
    is_mleg = text(raw, "order_class") == OrderClass.MLEG.value or bool(raw_legs)
    qty = whole(raw.get("qty"))
    filled_qty = whole(raw.get("filled_qty"))
    limit = decimal(raw.get("limit_price"))
    filled_avg = decimal(raw.get("filled_avg_price"))
    if is_mleg:
        legs = tuple(_leg(leg) for leg in raw_legs if isinstance(leg, Mapping))
        order_class = OrderClass.MLEG
        if filled_qty > 0 and legs and all(leg.filled_avg_price is not None for leg in legs):
            filled_avg = sum(
                (
                    leg.side.sign * leg.ratio_qty * (leg.filled_avg_price or Decimal(0))
                    for leg in legs
                ),
                Decimal(0),
            )
        elif filled_qty == 0:
            filled_avg = None
    else:
        leg = _leg(raw)
        order_class = OrderClass.SIMPLE
        sign = Decimal(leg.side.sign)
        limit = None if limit is None else sign * abs(limit)
        filled_avg = None if filled_avg is None or filled_qty == 0 else sign * abs(filled_avg)
        legs = (
            BrokerOrderLeg(
                symbol=leg.symbol,
                side=leg.side,
                position_intent=leg.position_intent,
                ratio_qty=1,
                filled_qty=filled_qty,
                filled_avg_price=None if filled_avg is None else abs(filled_avg),
                leg_order_id=order_id,
            ),
        )
    created_at = timestamp(raw.get("created_at")) or timestamp(raw.get("submitted_at"))
    if created_at is None:
        raise DataError(f"order {order_id} without created_at")
    updated_at = timestamp(raw.get("updated_at")) or created_at
    tif_raw = str(raw.get("time_in_force") or "day").lower()
    time_in_force = TimeInForce.GTC if tif_raw == "gtc" else TimeInForce.DAY
    status = order_status(raw.get("status"))
    return BrokerOrder(
        order_id=order_id,
        client_order_id=text(raw, "client_order_id") or "",
        status=status,
        order_class=order_class,
        qty=qty,
        filled_qty=filled_qty,
        limit_price=limit,
        filled_avg_price=filled_avg,
        legs=legs,
        created_at=created_at,
        updated_at=updated_at,
        time_in_force=time_in_force,
        filled_at=timestamp(raw.get("filled_at")),
        replaces=text(raw, "replaces"),
        replaced_by=text(raw, "replaced_by"),
        reject_reason=text(raw, "reject_reason") if status is OrderStatus.REJECTED else None,
    )


# --------------------------------------------------------------------------- activities


def parse_activity(raw: Json, *, parent_of: Mapping[str, str] | None = None) -> Activity | None:
    """An account activity, or None for a type optagent does not reconcile (DIV, JNLC, …).

    FILL activities carry no ``net_amount`` at Alpaca: it is computed (−side × qty × price ×
    multiplier). ``parent_of`` maps mleg leg order ids to their parent's id, so a leg fill is
    attributed to the order optagent placed.
    """
    activity_id = text(raw, "id")
    kind = _ACTIVITY_TYPES.get(str(raw.get("activity_type") or "").upper())
    if activity_id is None or kind is None:
        return None
    symbol = text(raw, "symbol") or ""
    qty = decimal(raw.get("qty")) or Decimal(0)
    price = decimal(raw.get("price"))
    side = _side(raw.get("side"))
    occurred_at = timestamp(raw.get("transaction_time"))
    occurred_on = day(raw.get("date")) or (
        occurred_at.astimezone(ET).date() if occurred_at is not None else None
    )
    if occurred_on is None:
        occurred_on = day(activity_id[:4] + "-" + activity_id[4:6] + "-" + activity_id[6:8])
    if occurred_on is None:
        raise DataError(f"activity {activity_id} has no date")
    net_amount = decimal(raw.get("net_amount"))
    if net_amount is None:
        if kind is ActivityType.FILL and price is not None and side is not None:
            multiplier = CONTRACT_MULTIPLIER if is_option_symbol(symbol) else 1
            net_amount = -side.sign * abs(qty) * price * multiplier
        else:
            net_amount = Decimal(0)
    order_id = text(raw, "order_id")
    if order_id is not None and parent_of is not None:
        order_id = parent_of.get(order_id, order_id)
    try:
        status = ActivityStatus(str(raw.get("status") or "executed").lower())
    except ValueError:
        status = ActivityStatus.EXECUTED
    return Activity(
        activity_id=activity_id,
        activity_type=kind,
        symbol=symbol,
        qty=qty,
        price=price,
        net_amount=net_amount,
        occurred_on=occurred_on,
        occurred_at=occurred_at,
        order_id=order_id,
        side=side,
        status=status,
        description=text(raw, "description") or text(raw, "type") or "",
    )
