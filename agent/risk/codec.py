"""Plain-JSON encoding of the values risk keeps in ``state`` documents.

The :class:`agent.ports.StateRepository` promises JSON documents, nothing more, so risk writes
only JSON types: money as decimal strings (exact), timestamps as ISO 8601 with offset, dates
as ISO dates, enums as their values and non-finite floats as the strings ``"nan"``, ``"inf"``
and ``"-inf"`` (JSON has no NaN, and PostgreSQL refuses it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from agent.domain import (
    AccountSnapshot,
    Greeks,
    LegMark,
    OptionRight,
    Side,
    TradeMark,
)

__all__ = [
    "decode_account",
    "decode_date",
    "decode_datetime",
    "decode_decimal",
    "decode_float",
    "decode_greeks",
    "decode_mark",
    "encode_account",
    "encode_date",
    "encode_datetime",
    "encode_decimal",
    "encode_float",
    "encode_greeks",
    "encode_mark",
]

Document = dict[str, Any]


def encode_decimal(value: Decimal) -> str:
    return str(value)


def decode_decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def encode_float(value: float) -> float | str:
    """A finite float as itself; NaN and infinities as strings (JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


def decode_float(value: Any) -> float:
    return float(value)


def encode_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"risk stores aware datetimes only (got naive {value!r})")
    return value.isoformat()


def decode_datetime(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"stored datetime {value!r} has no offset")
    return parsed


def encode_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def decode_date(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


def _optional_float(value: float | None) -> float | str | None:
    return None if value is None else encode_float(value)


def _decode_optional_float(value: Any) -> float | None:
    return None if value is None else decode_float(value)


def encode_greeks(greeks: Greeks) -> Document:
    return {
        "delta": encode_float(greeks.delta),
        "gamma": encode_float(greeks.gamma),
        "theta": encode_float(greeks.theta),
        "vega": encode_float(greeks.vega),
    }


def decode_greeks(document: Mapping[str, Any]) -> Greeks:
    return Greeks(
        delta=decode_float(document["delta"]),
        gamma=decode_float(document["gamma"]),
        theta=decode_float(document["theta"]),
        vega=decode_float(document["vega"]),
    )


def _encode_leg(leg: LegMark) -> Document:
    return {
        "symbol": leg.symbol,
        "side": leg.side.value,
        "qty": leg.qty,
        "right": None if leg.right is None else leg.right.value,
        "strike": _optional_float(leg.strike),
        "expiry": encode_date(leg.expiry),
        "bid": encode_float(leg.bid),
        "ask": encode_float(leg.ask),
        "mid": encode_float(leg.mid),
        "iv": encode_float(leg.iv),
        "delta": encode_float(leg.delta),
        "gamma": encode_float(leg.gamma),
        "theta": encode_float(leg.theta),
        "vega": encode_float(leg.vega),
        "entry_price": encode_decimal(leg.entry_price),
    }


def _decode_leg(document: Mapping[str, Any]) -> LegMark:
    right = document.get("right")
    return LegMark(
        symbol=str(document["symbol"]),
        side=Side(document["side"]),
        qty=int(document["qty"]),
        right=None if right is None else OptionRight(right),
        strike=_decode_optional_float(document.get("strike")),
        expiry=decode_date(document.get("expiry")),
        bid=decode_float(document["bid"]),
        ask=decode_float(document["ask"]),
        mid=decode_float(document["mid"]),
        iv=decode_float(document["iv"]),
        delta=decode_float(document["delta"]),
        gamma=decode_float(document["gamma"]),
        theta=decode_float(document["theta"]),
        vega=decode_float(document["vega"]),
        entry_price=decode_decimal(document["entry_price"]),
    )


def encode_mark(mark: TradeMark) -> Document:
    """Every field of a :class:`TradeMark`, in JSON types."""
    return {
        "trade_id": mark.trade_id,
        "underlying": mark.underlying,
        "as_of": encode_datetime(mark.as_of),
        "spot": encode_float(mark.spot),
        "expiry": encode_date(mark.expiry),
        "dte": mark.dte,
        "qty": mark.qty,
        "entry_credit_usd": encode_decimal(mark.entry_credit_usd),
        "close_net_mid": encode_decimal(mark.close_net_mid),
        "close_net_natural": encode_decimal(mark.close_net_natural),
        "unrealized_pnl_usd": encode_decimal(mark.unrealized_pnl_usd),
        "greeks": encode_greeks(mark.greeks),
        "legs": [_encode_leg(leg) for leg in mark.legs],
        "short_put_strike": _optional_float(mark.short_put_strike),
        "short_call_strike": _optional_float(mark.short_call_strike),
        "breached": None if mark.breached is None else mark.breached.value,
        "max_abs_short_delta": encode_float(mark.max_abs_short_delta),
        "prob_touch": encode_float(mark.prob_touch),
        "short_distance_pct": encode_float(mark.short_distance_pct),
        "min_short_put_extrinsic": encode_float(mark.min_short_put_extrinsic),
        "quote_problems": list(mark.quote_problems),
    }


def decode_mark(document: Mapping[str, Any]) -> TradeMark:
    breached = document.get("breached")
    dte = document.get("dte")
    return TradeMark(
        trade_id=str(document["trade_id"]),
        underlying=str(document["underlying"]),
        as_of=decode_datetime(document["as_of"]),
        spot=decode_float(document["spot"]),
        expiry=decode_date(document.get("expiry")),
        dte=None if dte is None else int(dte),
        qty=int(document["qty"]),
        entry_credit_usd=decode_decimal(document["entry_credit_usd"]),
        close_net_mid=decode_decimal(document["close_net_mid"]),
        close_net_natural=decode_decimal(document["close_net_natural"]),
        unrealized_pnl_usd=decode_decimal(document["unrealized_pnl_usd"]),
        greeks=decode_greeks(document["greeks"]),
        legs=tuple(_decode_leg(leg) for leg in document["legs"]),
        short_put_strike=_decode_optional_float(document.get("short_put_strike")),
        short_call_strike=_decode_optional_float(document.get("short_call_strike")),
        breached=None if breached is None else OptionRight(breached),
        max_abs_short_delta=decode_float(document["max_abs_short_delta"]),
        prob_touch=decode_float(document["prob_touch"]),
        short_distance_pct=decode_float(document["short_distance_pct"]),
        min_short_put_extrinsic=decode_float(document["min_short_put_extrinsic"]),
        quote_problems=tuple(str(p) for p in document.get("quote_problems", ())),
    )


def encode_account(account: AccountSnapshot) -> Document:
    return {
        "equity": encode_decimal(account.equity),
        "cash": encode_decimal(account.cash),
        "buying_power": encode_decimal(account.buying_power),
        "options_buying_power": encode_decimal(account.options_buying_power),
        "last_equity": encode_decimal(account.last_equity),
        "options_level": account.options_level,
        "as_of": encode_datetime(account.as_of),
        "account_id": account.account_id,
        "status": account.status,
    }


def decode_account(document: Mapping[str, Any]) -> AccountSnapshot:
    return AccountSnapshot(
        equity=decode_decimal(document["equity"]),
        cash=decode_decimal(document["cash"]),
        buying_power=decode_decimal(document["buying_power"]),
        options_buying_power=decode_decimal(document["options_buying_power"]),
        last_equity=decode_decimal(document["last_equity"]),
        options_level=int(document["options_level"]),
        as_of=decode_datetime(document["as_of"]),
        account_id=str(document.get("account_id", "")),
        status=str(document.get("status", "ACTIVE")),
    )
