"""The column types' conversions, without a database (dialects only)."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from agent.adapters.persistence.types import (
    Float64,
    JsonDocument,
    Money,
    NaiveDatetimeError,
    UtcDateTime,
    from_json_document,
    from_money_storage,
    to_json_document,
    to_money_storage,
)
from agent.domain import Side

SQLITE = sqlite.dialect()
POSTGRES = postgresql.dialect()
NEW_YORK = ZoneInfo("America/New_York")

money_values = st.decimals(
    min_value=Decimal("-999999999999.999999"),
    max_value=Decimal("999999999999.999999"),
    places=6,
    allow_nan=False,
    allow_infinity=False,
)


# --------------------------------------------------------------------------- timestamps


def test_utc_datetime_converts_to_utc_and_strips_the_zone_only_for_sqlite() -> None:
    column = UtcDateTime()
    new_york = datetime(2026, 3, 2, 10, 0, 0, 5, tzinfo=NEW_YORK)
    assert column.process_bind_param(new_york, SQLITE) == datetime(2026, 3, 2, 15, 0, 0, 5)
    bound = column.process_bind_param(new_york, POSTGRES)
    assert bound == new_york and bound is not None and bound.tzinfo is UTC


def test_utc_datetime_returns_aware_utc() -> None:
    column = UtcDateTime()
    from_sqlite = column.process_result_value(datetime(2026, 3, 2, 15, 0), SQLITE)
    assert from_sqlite == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert from_sqlite is not None and from_sqlite.tzinfo is UTC
    plus_one = datetime(2026, 3, 2, 16, 0, tzinfo=timezone(timedelta(hours=1)))
    from_postgres = column.process_result_value(plus_one, POSTGRES)
    assert from_postgres is not None
    assert from_postgres.tzinfo is UTC and from_postgres.hour == 15
    assert column.process_result_value(None, POSTGRES) is None


def test_utc_datetime_refuses_naive_and_non_datetimes() -> None:
    column = UtcDateTime()
    with pytest.raises(NaiveDatetimeError, match="timezone-naive datetime 2026-03-02T15:00:00"):
        column.process_bind_param(datetime(2026, 3, 2, 15, 0), POSTGRES)
    with pytest.raises(TypeError, match="datetime"):
        column.process_bind_param(date(2026, 3, 2), SQLITE)  # type: ignore[arg-type]
    assert issubclass(NaiveDatetimeError, ValueError)


# --------------------------------------------------------------------------- money


@given(money_values)
def test_money_survives_both_storage_forms(amount: Decimal) -> None:
    column = Money()
    as_integer = column.process_bind_param(amount, SQLITE)
    assert isinstance(as_integer, int)
    assert column.process_result_value(as_integer, SQLITE) == amount
    as_numeric = column.process_bind_param(amount, POSTGRES)
    assert column.process_result_value(as_numeric, POSTGRES) == amount


def test_money_rounds_half_even_to_micro_dollars() -> None:
    assert to_money_storage(Decimal("0.0000005")) == Decimal("0.000000")
    assert to_money_storage(Decimal("0.0000015")) == Decimal("0.000002")
    assert to_money_storage(Decimal(1) / Decimal(3)) == Decimal("0.333333")
    assert to_money_storage(7) == Decimal("7.000000")


def test_money_refuses_floats_bools_nan_and_overflow() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        to_money_storage(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_money_storage(True)
    with pytest.raises(ValueError, match="finite"):
        to_money_storage(Decimal("NaN"))
    with pytest.raises(ValueError, match="NUMERIC"):
        to_money_storage(Decimal("1000000000000"))


def test_money_reads_back_without_trailing_zeros() -> None:
    assert str(from_money_storage(Decimal("1.500000"))) == "1.5"
    assert str(from_money_storage(Decimal("500.000000"))) == "500"
    assert str(from_money_storage(Decimal("-0.000001"))) == "-0.000001"
    assert str(from_money_storage(Decimal("0E-6"))) == "0"
    assert Money().process_result_value(1_500_000, SQLITE) == Decimal("1.5")


# --------------------------------------------------------------------------- floats


def test_float64_stores_nan_as_null_and_keeps_infinity() -> None:
    column = Float64()
    assert column.process_bind_param(float("nan"), POSTGRES) is None
    assert column.process_bind_param(float("inf"), SQLITE) == float("inf")
    assert column.process_bind_param(0.2, SQLITE) == 0.2
    assert column.process_result_value(None, SQLITE) is None


# --------------------------------------------------------------------------- JSON


def test_json_document_round_trips_domain_values() -> None:
    document = {
        "price": Decimal("-1.250"),
        "when": datetime(2026, 3, 2, 10, 0, tzinfo=NEW_YORK),
        "expiry": date(2026, 4, 17),
        "nan": float("nan"),
        "inf": float("inf"),
        "minus_inf": float("-inf"),
        "side": Side.SELL,
        "legs": ("a", "b"),
        "nested": {"$decimal": "user data, not a tag", "$$x": 1, "n": None, "ok": True},
        "big": 2**63 + 1,
    }
    encoded = to_json_document(document)
    decoded = from_json_document(json.loads(json.dumps(encoded, allow_nan=False)))
    assert decoded["price"] == Decimal("-1.250") and str(decoded["price"]) == "-1.250"
    assert decoded["when"] == document["when"] and decoded["when"].tzinfo is UTC
    assert decoded["expiry"] == date(2026, 4, 17)
    assert math.isnan(decoded["nan"])
    assert decoded["inf"] == float("inf") and decoded["minus_inf"] == float("-inf")
    assert decoded["side"] == "sell"
    assert decoded["legs"] == ["a", "b"]  # JSON has one kind of array
    assert decoded["nested"] == {
        "$decimal": "user data, not a tag",
        "$$x": 1,
        "n": None,
        "ok": True,
    }
    assert decoded["big"] == 2**63 + 1


def test_json_document_refuses_what_it_cannot_round_trip() -> None:
    with pytest.raises(TypeError, match=r"\$.a\[1\]"):
        to_json_document({"a": [1, {1, 2}]})
    with pytest.raises(TypeError, match="keys must be strings"):
        to_json_document({1: "x"})
    with pytest.raises(NaiveDatetimeError, match=r"\$.t"):
        to_json_document({"t": datetime(2026, 3, 2)})


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text()
        | money_values
        | st.dates(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    )
)
def test_json_document_round_trips_any_nesting(value: object) -> None:
    wire = json.dumps(to_json_document(value), allow_nan=False)
    assert from_json_document(json.loads(wire)) == value


def test_json_column_passes_none_through() -> None:
    column = JsonDocument()
    assert column.process_bind_param(None, SQLITE) is None
    assert column.process_result_value(None, SQLITE) is None
