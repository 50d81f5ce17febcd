"""Tolerant parsing of Alpaca payloads (no server): extra fields, missing optional ones,
empty strings on mleg parents, unknown enum values, FILL without net_amount."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from agent.adapters.alpaca.parse import (
    parse_account,
    parse_activity,
    parse_order,
    parse_position,
    timestamp,
)
from agent.domain import ActivityStatus, ActivityType, OrderClass, OrderStatus, Side
from agent.errors import DataError

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
MLEG = {
    "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
    "client_order_id": "cid-1",
    "created_at": "2026-03-02T15:00:00.123456789Z",
    "updated_at": "2026-03-02T15:01:00Z",
    "submitted_at": "2026-03-02T15:00:00Z",
    "asset_id": "00000000-0000-0000-0000-000000000000",
    "symbol": "",
    "asset_class": "",
    "qty": "2",
    "filled_qty": "2",
    "filled_avg_price": "0.55",  # unsigned here: the legs decide
    "order_class": "mleg",
    "type": "limit",
    "side": "buy",
    "position_intent": "",
    "time_in_force": "day",
    "limit_price": "-0.55",
    "status": "filled",
    "some_future_field": {"x": 1},
    "legs": [
        {"id": "a1", "symbol": "SPY260320P00500000", "side": "sell", "ratio_qty": "1",
         "position_intent": "sell_to_open", "filled_qty": "2", "filled_avg_price": "1.60",
         "type": "", "order_type": ""},
        {"id": "a2", "symbol": "SPY260320P00495000", "side": "buy", "ratio_qty": 1.0,
         "position_intent": "buy_to_open", "filled_qty": 2.0, "filled_avg_price": "1.05"},
    ],
}  # fmt: skip


def test_mleg_parent_with_empty_strings_and_extra_fields() -> None:
    order = parse_order(MLEG)
    assert order.order_class is OrderClass.MLEG and order.status is OrderStatus.FILLED
    assert order.limit_price == Decimal("-0.55")
    assert order.filled_avg_price == Decimal("-0.55")  # −1.60 + 1.05 from the legs
    assert [(leg.symbol, leg.side, leg.ratio_qty, leg.filled_qty) for leg in order.legs] == [
        ("SPY260320P00500000", Side.SELL, 1, 2),
        ("SPY260320P00495000", Side.BUY, 1, 2),
    ]
    assert order.created_at == datetime(2026, 3, 2, 15, 0, 0, 123456, tzinfo=UTC)


def test_single_leg_prices_get_the_sides_sign() -> None:
    raw = {
        "id": "x", "client_order_id": "c", "created_at": "2026-03-02T15:00:00Z",
        "symbol": "SPY260320P00500000", "side": "sell", "qty": 1, "filled_qty": "1",
        "limit_price": "2.05", "filled_avg_price": "2.10", "status": "filled",
        "order_class": "simple", "time_in_force": "day",
    }  # fmt: skip
    order = parse_order(raw)
    assert order.limit_price == Decimal("-2.05") and order.filled_avg_price == Decimal("-2.10")
    assert order.legs[0].filled_avg_price == Decimal("2.10")


@pytest.mark.parametrize(
    ("alpaca", "ours"),
    [
        ("pending_new", OrderStatus.ACCEPTED),
        ("done_for_day", OrderStatus.EXPIRED),
        ("held", OrderStatus.ACCEPTED),
        ("a_status_from_2030", OrderStatus.ACCEPTED),
        ("replaced", OrderStatus.REPLACED),
    ],
)
def test_statuses_never_become_final_by_accident(alpaca: str, ours: OrderStatus) -> None:
    assert parse_order({**MLEG, "status": alpaca, "filled_qty": "0"}).status is ours


def test_order_without_id_or_time_is_a_data_error() -> None:
    with pytest.raises(DataError):
        parse_order({**MLEG, "id": ""})
    with pytest.raises(DataError):
        parse_order({**MLEG, "created_at": None, "submitted_at": None})


def test_account_and_positions() -> None:
    account = parse_account(
        {"id": "a", "status": "ACTIVE", "equity": "1000.5", "cash": "10", "buying_power": "5",
         "options_trading_level": "3", "last_equity": None, "daytrade_count": None},
        as_of=NOW,
    )  # fmt: skip
    assert account.options_level == 3 and account.last_equity == Decimal("1000.5")
    assert account.options_buying_power == Decimal(5)
    short = parse_position({"symbol": "SPY260320P00500000", "qty": "1", "side": "short",
                            "avg_entry_price": "1.6", "asset_class": "crypto_perp_2030"})  # fmt: skip
    assert short.qty == -1 and short.market_value is None


def test_activities() -> None:
    fill = parse_activity(
        {"id": "20260302150100000::u", "activity_type": "FILL", "transaction_time":
         "2026-03-02T15:01:00Z", "type": "fill", "price": "1.6", "qty": "2", "side": "sell",
         "symbol": "SPY260320P00500000", "order_id": "a1", "cum_qty": "2", "leaves_qty": "0"},
        parent_of={"a1": "parent"},
    )  # fmt: skip
    assert fill is not None and fill.net_amount == Decimal("320.0")
    assert fill.order_id == "parent" and fill.occurred_on == date(2026, 3, 2)
    exercise = parse_activity(
        {"id": "20260320000000000::v", "activity_type": "OPXRC", "date": "2026-03-20",
         "net_amount": "0", "symbol": "SPY260320C00500000", "qty": "1", "status": "correct"}
    )  # fmt: skip
    assert exercise is not None and exercise.activity_type is ActivityType.OPTION_EXERCISE
    assert exercise.status is ActivityStatus.CORRECT
    assert parse_activity({"id": "x", "activity_type": "DIV", "net_amount": "1"}) is None


def test_timestamps() -> None:
    assert timestamp("2026-03-02T10:00:00-05:00") == NOW
    assert timestamp("2026-03-02T15:00:00.1Z") == NOW.replace(microsecond=100000)
    assert timestamp("garbage") is None and timestamp(None) is None
