"""JSON payloads of the Alpaca-compatible server, shaped like Alpaca's (ALPACA_NOTES §1).

Money and quantities on the trading API are strings; market data numbers are JSON numbers;
timestamps are RFC 3339 in UTC (``…Z``); ids are UUIDs (derived deterministically from the
simulator's own ids or symbols, so a rerun gives the same ids).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from agent.calendar import ET, MarketCalendar
from agent.domain import (
    CONTRACT_MULTIPLIER,
    AccountSnapshot,
    Activity,
    ActivityType,
    AssetClass,
    Bar,
    BrokerOrder,
    BrokerPosition,
    OrderClass,
    OrderStatus,
    UnderlyingSnapshot,
    is_option_symbol,
    parse_occ,
)

NIL_UUID = "00000000-0000-0000-0000-000000000000"
_NAMESPACE = uuid.UUID("6f7074a6-6167-4e74-8000-0000a1face00")
_OPTION_EXCHANGE_CODE = "C"
_STOCK_EXCHANGE_CODE = "V"


def ts(at: datetime | None) -> str | None:
    """RFC 3339 UTC with microseconds and ``Z``."""
    if at is None:
        return None
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def money(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format(value.normalize(), "f") if value != 0 else "0"


def asset_id(symbol: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"asset:{symbol}"))


def num(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# --------------------------------------------------------------------------- account


def account_json(
    account: AccountSnapshot, positions: Sequence[BrokerPosition], *, account_number: str
) -> dict[str, Any]:
    long_value = sum((p.market_value or Decimal(0) for p in positions if p.qty > 0), Decimal(0))
    short_value = sum((p.market_value or Decimal(0) for p in positions if p.qty < 0), Decimal(0))
    return {
        "id": account.account_id or str(uuid.uuid5(_NAMESPACE, "account")),
        "account_number": account_number,
        "status": "ACTIVE",
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "cash": money(account.cash),
        "portfolio_value": money(account.equity),
        "equity": money(account.equity),
        "last_equity": money(account.last_equity),
        "long_market_value": money(long_value),
        "short_market_value": money(short_value),
        "buying_power": money(account.buying_power),
        "regt_buying_power": money(account.buying_power),
        "non_marginable_buying_power": money(account.buying_power),
        "options_buying_power": money(account.options_buying_power),
        "initial_margin": "0",
        "maintenance_margin": "0",
        "sma": "0",
        "multiplier": "1",
        "options_approved_level": account.options_level,
        "options_trading_level": account.options_level,
        "pattern_day_trader": None,
        "daytrade_count": None,
        "daytrading_buying_power": None,
        "trading_blocked": False,
        "transfers_blocked": False,
        "account_blocked": False,
        "trade_suspended_by_user": False,
        "shorting_enabled": True,
        "accrued_fees": "0",
        "pending_transfer_in": "0",
        "created_at": "2024-01-02T14:30:00.000000Z",
    }


def position_json(position: BrokerPosition) -> dict[str, Any]:
    option = position.asset_class is AssetClass.OPTION
    multiplier = Decimal(CONTRACT_MULTIPLIER if option else 1)
    qty = Decimal(position.qty)
    cost_basis = qty * position.avg_entry_price * multiplier
    market_value = position.market_value if position.market_value is not None else cost_basis
    current = abs(market_value) / (abs(qty) * multiplier) if qty != 0 else position.avg_entry_price
    unrealized = market_value - cost_basis
    plpc = unrealized / abs(cost_basis) if cost_basis != 0 else Decimal(0)
    return {
        "asset_id": asset_id(position.symbol),
        "symbol": position.symbol,
        "exchange": "" if option else "NYSE",
        "asset_class": position.asset_class.value,
        "asset_marginable": not option,
        "qty": str(position.qty),
        "qty_available": str(position.qty),
        "side": "long" if position.qty >= 0 else "short",
        "avg_entry_price": money(position.avg_entry_price),
        "market_value": money(market_value),
        "cost_basis": money(cost_basis),
        "unrealized_pl": money(unrealized),
        "unrealized_plpc": money(plpc.quantize(Decimal("0.0001"))),
        "unrealized_intraday_pl": money(unrealized),
        "unrealized_intraday_plpc": money(plpc.quantize(Decimal("0.0001"))),
        "current_price": money(current.quantize(Decimal("0.0001"))),
        "lastday_price": money(current.quantize(Decimal("0.0001"))),
        "change_today": "0",
    }


# --------------------------------------------------------------------------- orders

_ALPACA_STATUS = {
    OrderStatus.PENDING: "pending_new",
    OrderStatus.UNKNOWN: "pending_new",
    OrderStatus.NOT_SUBMITTED: "rejected",
}


def _status(status: OrderStatus) -> str:
    return _ALPACA_STATUS.get(status, status.value)


def _times(order: BrokerOrder) -> dict[str, str | None]:
    updated = ts(order.updated_at)
    return {
        "created_at": ts(order.created_at),
        "updated_at": updated,
        "submitted_at": ts(order.created_at),
        "filled_at": ts(order.filled_at),
        "expired_at": updated if order.status is OrderStatus.EXPIRED else None,
        "canceled_at": updated if order.status is OrderStatus.CANCELED else None,
        "failed_at": updated if order.status is OrderStatus.REJECTED else None,
        "replaced_at": updated if order.status is OrderStatus.REPLACED else None,
        "expires_at": None,
    }


def leg_client_order_id(leg_order_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"leg:{leg_order_id}"))


def order_json(order: BrokerOrder) -> dict[str, Any]:
    """An order as Alpaca returns it (``nested=true``: mleg legs as full orders)."""
    common: dict[str, Any] = {
        **_times(order),
        "replaced_by": order.replaced_by,
        "replaces": order.replaces,
        "notional": None,
        "time_in_force": order.time_in_force.value,
        "status": _status(order.status),
        "extended_hours": False,
        "stop_price": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
        "subtag": None,
        "source": None,
    }
    if order.order_class is OrderClass.SIMPLE:
        leg = order.legs[0]
        option = is_option_symbol(leg.symbol)
        filled_avg = order.filled_avg_price
        return {
            "id": order.order_id,
            "client_order_id": order.client_order_id,
            **common,
            "asset_id": asset_id(leg.symbol),
            "symbol": leg.symbol,
            "asset_class": (AssetClass.OPTION if option else AssetClass.EQUITY).value,
            "qty": str(order.qty),
            "filled_qty": str(order.filled_qty),
            "filled_avg_price": money(abs(filled_avg)) if filled_avg is not None else None,
            "order_class": "simple",
            "order_type": "limit",
            "type": "limit",
            "side": leg.side.value,
            "position_intent": leg.position_intent.value if leg.position_intent else None,
            "limit_price": money(abs(order.limit_price)) if order.limit_price is not None else None,
            "legs": None,
            "ratio_qty": None,
        }
    legs = []
    for index, leg in enumerate(order.legs):
        leg_id = leg.leg_order_id or str(uuid.uuid5(_NAMESPACE, f"{order.order_id}/{index}"))
        legs.append(
            {
                "id": leg_id,
                "client_order_id": leg_client_order_id(leg_id),
                **common,
                "replaced_by": None,
                "replaces": None,
                "asset_id": asset_id(leg.symbol),
                "symbol": leg.symbol,
                "asset_class": AssetClass.OPTION.value,
                "qty": str(order.qty * leg.ratio_qty),
                "filled_qty": str(leg.filled_qty),
                "filled_avg_price": money(leg.filled_avg_price),
                "order_class": "mleg",
                "order_type": "",
                "type": "",
                "side": leg.side.value,
                "position_intent": leg.position_intent.value if leg.position_intent else "",
                "limit_price": None,
                "legs": None,
                "ratio_qty": str(leg.ratio_qty),
            }
        )
    return {
        "id": order.order_id,
        "client_order_id": order.client_order_id,
        **common,
        "asset_id": NIL_UUID,
        "symbol": "",
        "asset_class": "",
        "qty": str(order.qty),
        "filled_qty": str(order.filled_qty),
        "filled_avg_price": money(order.filled_avg_price),
        "order_class": "mleg",
        "order_type": "limit",
        "type": "limit",
        "side": "buy",
        "position_intent": "",
        "limit_price": money(order.limit_price),
        "legs": legs,
        "ratio_qty": None,
    }


# --------------------------------------------------------------------------- activities


def activity_json(
    activity: Activity,
    *,
    account_id: str,
    order: BrokerOrder | None,
    cumulative: Mapping[str, int],
) -> dict[str, Any]:
    """An account activity. FILL has trade fields (no net_amount, as at Alpaca); the others
    are non-trade activities with a date and a net amount."""
    if activity.activity_type is ActivityType.FILL:
        ordered = 0
        if order is not None:
            ratio = next((leg.ratio_qty for leg in order.legs if leg.symbol == activity.symbol), 1)
            ordered = order.qty * ratio
        cum = cumulative.get(activity.activity_id, int(activity.qty))
        return {
            "id": activity.activity_id,
            "account_id": account_id,
            "activity_type": "FILL",
            "transaction_time": ts(activity.occurred_at),
            "type": "partial_fill" if activity.description == "partial_fill" else "fill",
            "price": money(activity.price),
            "qty": money(activity.qty),
            "side": activity.side.value if activity.side else None,
            "symbol": activity.symbol,
            "leaves_qty": str(max(0, ordered - cum)),
            "order_id": activity.order_id,
            "cum_qty": str(cum),
            "order_status": "partially_filled" if ordered - cum > 0 else "filled",
        }
    payload: dict[str, Any] = {
        "id": activity.activity_id,
        "account_id": account_id,
        "activity_type": activity.activity_type.value,
        "date": activity.occurred_on.isoformat(),
        "net_amount": money(activity.net_amount),
        "description": activity.description,
        "symbol": activity.symbol,
        "qty": money(activity.qty),
        "status": activity.status.value,
    }
    if activity.price is not None:
        payload["price"] = money(activity.price)
    return payload


# --------------------------------------------------------------------------- trading misc


def clock_json(now: datetime, calendar: MarketCalendar) -> dict[str, Any]:
    is_open = calendar.is_open(now)
    # While open, Alpaca's next_open is the next session's (never "now").
    next_open = calendar.next_open(now + timedelta(seconds=1) if is_open else now)
    return {
        "timestamp": now.astimezone(ET).isoformat(),
        "is_open": is_open,
        "next_open": next_open.astimezone(ET).isoformat(),
        "next_close": calendar.next_close(now).astimezone(ET).isoformat(),
    }


def calendar_json(day: date, calendar: MarketCalendar) -> dict[str, Any]:
    session = calendar.session(day)
    assert session is not None
    settle = calendar.next_session(calendar.next_session(day))
    return {
        "date": day.isoformat(),
        "open": session.open_at.astimezone(ET).strftime("%H:%M"),
        "close": session.close_at.astimezone(ET).strftime("%H:%M"),
        "session_open": "0400",
        "session_close": "2000",
        "settlement_date": settle.isoformat(),
    }


def asset_json(symbol: str, *, name: str) -> dict[str, Any]:
    return {
        "id": asset_id(symbol),
        "class": "us_equity",
        "exchange": "ARCA" if len(symbol) <= 3 else "NASDAQ",
        "symbol": symbol,
        "name": name,
        "status": "active",
        "tradable": True,
        "marginable": True,
        "maintenance_margin_requirement": 30,
        "margin_requirement_long": "30",
        "margin_requirement_short": "30",
        "shortable": True,
        "easy_to_borrow": True,
        "fractionable": True,
        "attributes": ["options_enabled"],
    }


def contract_json(
    symbol: str, *, open_interest: float, close_price: float, as_of: date
) -> dict[str, Any]:
    contract = parse_occ(symbol)
    right = "call" if contract.is_call else "put"
    oi = None if not math.isfinite(open_interest) else str(int(open_interest))
    return {
        "id": asset_id(symbol),
        "symbol": symbol,
        "name": f"{contract.underlying} {contract.expiry:%b %d %Y} {contract.strike} {right.title()}",
        "status": "active",
        "tradable": True,
        "expiration_date": contract.expiry.isoformat(),
        "root_symbol": contract.underlying,
        "underlying_symbol": contract.underlying,
        "underlying_asset_id": asset_id(contract.underlying),
        "type": right,
        "style": "american",
        "strike_price": money(contract.strike),
        "multiplier": "100",
        "size": "100",
        "open_interest": oi,
        "open_interest_date": as_of.isoformat() if oi is not None else None,
        "close_price": None if not math.isfinite(close_price) else f"{close_price:.2f}",
        "close_price_date": as_of.isoformat() if math.isfinite(close_price) else None,
        "deliverables": [
            {
                "type": "equity",
                "symbol": contract.underlying,
                "asset_id": asset_id(contract.underlying),
                "amount": "100",
                "allocation_percentage": "100",
                "settlement_type": "T+1",
                "settlement_method": "CCC",
                "delayed_settlement": False,
            }
        ],
    }


# --------------------------------------------------------------------------- market data


def bar_json(bar: Bar, *, daily: bool) -> dict[str, Any]:
    """A bar; daily bars are stamped at midnight New York time, like Alpaca's."""
    start = bar.start_at
    if daily:
        day = start.astimezone(ET).date()
        start = datetime(day.year, day.month, day.day, tzinfo=ET)
    return {
        "t": ts(start),
        "o": num(bar.open),
        "h": num(bar.high),
        "l": num(bar.low),
        "c": num(bar.close),
        "v": num(bar.volume),
        "n": None,
        "vw": None,
    }


def stock_quote_json(bid: float, ask: float, size: float, at: datetime) -> dict[str, Any]:
    return {
        "t": ts(at),
        "ax": _STOCK_EXCHANGE_CODE,
        "ap": num(ask),
        "as": num(size),
        "bx": _STOCK_EXCHANGE_CODE,
        "bp": num(bid),
        "bs": num(size),
        "c": ["R"],
        "z": "C",
    }


def stock_snapshot_json(
    snapshot: UnderlyingSnapshot, *, daily: Bar | None, prev_daily: Bar | None, size: float
) -> dict[str, Any]:
    at = snapshot.as_of
    payload: dict[str, Any] = {
        "latestTrade": {
            "t": ts(at),
            "x": _STOCK_EXCHANGE_CODE,
            "p": num(snapshot.price),
            "s": 100,
            "c": ["@"],
            "i": int(at.timestamp()) % 1_000_000,
            "z": "C",
        },
        "latestQuote": stock_quote_json(snapshot.bid, snapshot.ask, size, at),
        "minuteBar": {
            "t": ts(at.replace(second=0, microsecond=0)),
            "o": num(snapshot.price),
            "h": num(snapshot.price),
            "l": num(snapshot.price),
            "c": num(snapshot.price),
            "v": 0,
            "n": 0,
            "vw": num(snapshot.price),
        },
        "dailyBar": bar_json(daily, daily=True) if daily is not None else None,
        "prevDailyBar": bar_json(prev_daily, daily=True) if prev_daily is not None else None,
    }
    return payload


def option_quote_json(
    *, bid: float, ask: float, bid_size: float, ask_size: float, at: datetime
) -> dict[str, Any]:
    return {
        "t": ts(at),
        "bp": num(bid),
        "bs": num(bid_size),
        "bx": _OPTION_EXCHANGE_CODE,
        "ap": num(ask),
        "as": num(ask_size),
        "ax": _OPTION_EXCHANGE_CODE,
        "c": "A",
    }


def option_snapshot_json(
    *,
    quote: dict[str, Any],
    last: float,
    volume: float,
    iv: float,
    greeks: tuple[float, float, float, float],
    at: datetime,
) -> dict[str, Any]:
    """An option snapshot. Fields the feed has no value for are left out (greeks need all
    four of delta, gamma, theta, vega; rho is not simulated and is sent as 0.0)."""
    payload: dict[str, Any] = {"latestQuote": quote}
    if math.isfinite(last):
        payload["latestTrade"] = {
            "t": quote["t"],
            "p": float(last),
            "s": 1,
            "x": _OPTION_EXCHANGE_CODE,
            "c": "I",
        }
    if math.isfinite(iv):
        payload["impliedVolatility"] = float(iv)
    if all(math.isfinite(g) for g in greeks):
        delta, gamma, theta, vega = greeks
        payload["greeks"] = {
            "delta": delta,
            "gamma": gamma,
            "rho": 0.0,
            "theta": theta,
            "vega": vega,
        }
    if math.isfinite(volume):
        day = at.astimezone(ET).date()
        price = last if math.isfinite(last) else None
        payload["dailyBar"] = {
            "t": ts(datetime(day.year, day.month, day.day, tzinfo=ET)),
            "o": price,
            "h": price,
            "l": price,
            "c": price,
            "v": float(volume),
            "n": None,
            "vw": None,
        }
    return payload


def next_weekend(today: date) -> date:
    """Alpaca's default ``expiration_date_lte`` for the contracts listing."""
    return today + timedelta(days=(6 - today.weekday()) or 7)
