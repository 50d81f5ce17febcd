"""Column types that make both backends store and return the same Python values.

- :class:`UtcDateTime`: aware datetimes in, aware UTC datetimes out; naive ones are refused.
- :class:`Money`: exact :class:`~decimal.Decimal` amounts with 6 decimal places (1e-6 USD).
  PostgreSQL stores ``NUMERIC(18, 6)``. SQLite's NUMERIC affinity would turn the value into
  an 8-byte float (15 significant digits), so on SQLite the column is an INTEGER count of
  micro-units: exact, and it still sorts and sums correctly in SQL.
- :class:`Float64`: double precision for vol, greeks and ratios; NaN is stored as NULL on both
  backends (SQLite cannot store NaN at all), infinities are kept.
- :class:`JsonDocument`: JSON that round-trips what the domain puts in its mappings:
  ``Decimal``, aware ``datetime``, ``date`` and non-finite floats are written as one-key tagged
  objects (``{"$decimal": "1.25"}``); mapping keys that start with ``$`` are escaped with a
  second ``$``. Tuples come back as lists (JSON has one kind of array).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Double, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "MONEY_MAX_ABS",
    "MONEY_PRECISION",
    "MONEY_SCALE",
    "Float64",
    "JsonDocument",
    "Money",
    "NaiveDatetimeError",
    "UtcDateTime",
    "from_json_document",
    "from_money_storage",
    "to_json_document",
    "to_money_storage",
]

MONEY_PRECISION = 18
"""Total significant digits of a stored amount."""
MONEY_SCALE = 6
"""Decimal places kept: amounts are stored to 1e-6 USD."""
MONEY_MAX_ABS = Decimal(10) ** (MONEY_PRECISION - MONEY_SCALE)
"""Amounts must be strictly smaller than this in absolute value (1e12 USD)."""
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


class NaiveDatetimeError(ValueError):
    """A timezone-naive datetime was about to be stored; optagent stores aware UTC only."""


def _is_sqlite(dialect: Dialect) -> bool:
    return dialect.name == "sqlite"


# --------------------------------------------------------------------------- timestamps


def _require_aware(value: datetime, where: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(
            f"refusing to store the timezone-naive datetime {value.isoformat()} {where}: "
            "optagent stores timezone-aware UTC timestamps (use the Clock, or attach tzinfo=UTC)"
        )
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned as an aware UTC ``datetime``.

    PostgreSQL: ``TIMESTAMP WITH TIME ZONE``. SQLite has no time zones: the UTC wall time is
    stored as fixed-width text, which sorts chronologically.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime for a timestamp column, got {value!r}")
        utc = _require_aware(value, "in a timestamp column")
        return utc.replace(tzinfo=None) if _is_sqlite(dialect) else utc

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"the database returned {value!r} for a timestamp column")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# --------------------------------------------------------------------------- money


def to_money_storage(value: Decimal | int) -> Decimal:
    """``value`` rounded half-even to 6 decimal places, checked against NUMERIC(18, 6).

    Raises ``TypeError`` for floats (binary fractions are not money) and ``ValueError`` for
    NaN, infinities and amounts of 1e12 USD or more.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"money must be a Decimal (or int), got {type(value).__name__} {value!r}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"money must be finite, got {amount}")
    if abs(amount) >= MONEY_MAX_ABS:
        raise ValueError(f"amount {amount} does not fit NUMERIC(18, 6) (|amount| < 1e12)")
    return amount.quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


def from_money_storage(stored: Decimal) -> Decimal:
    """The stored amount without trailing zeros (``1.500000`` -> ``1.5``, ``500.000000`` ->
    ``500``), so values read back look like the ones written."""
    tidy = stored.normalize()
    exponent = tidy.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        tidy = tidy.quantize(Decimal(1))
    return tidy


class Money(TypeDecorator[Decimal]):
    """USD amounts and prices: ``Decimal`` with 6 decimal places, exact on both backends."""

    impl = Numeric
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(precision=MONEY_PRECISION, scale=MONEY_SCALE, asdecimal=True)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_sqlite(dialect):
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(
            Numeric(precision=MONEY_PRECISION, scale=MONEY_SCALE, asdecimal=True)
        )

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | int | None:
        if value is None:
            return None
        amount = to_money_storage(value)
        if _is_sqlite(dialect):
            return int(amount.scaleb(MONEY_SCALE))
        return amount

    def process_result_value(self, value: Any | None, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if _is_sqlite(dialect):
            return from_money_storage(Decimal(int(value)).scaleb(-MONEY_SCALE))
        return from_money_storage(Decimal(value))


# --------------------------------------------------------------------------- floats


class Float64(TypeDecorator[float]):
    """Double precision; NaN is stored as NULL (SQLite cannot hold NaN)."""

    impl = Double
    cache_ok = True

    def process_bind_param(self, value: float | None, dialect: Dialect) -> float | None:
        if value is None:
            return None
        number = float(value)
        return None if math.isnan(number) else number

    def process_result_value(self, value: Any | None, dialect: Dialect) -> float | None:
        return None if value is None else float(value)


# --------------------------------------------------------------------------- JSON

_DECIMAL_TAG = "$decimal"
_DATETIME_TAG = "$datetime"
_DATE_TAG = "$date"
_FLOAT_TAG = "$float"
_TAGS = frozenset({_DECIMAL_TAG, _DATETIME_TAG, _DATE_TAG, _FLOAT_TAG})


def _encode_key(key: object, path: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"JSON object keys must be strings, got {key!r} at {path}")
    # A leading "$" is reserved for the tags; escaping keeps user keys distinct from them.
    return "$" + key if key.startswith("$") else str(key)


def _decode_key(key: str) -> str:
    return key[1:] if key.startswith("$$") else key


def to_json_document(value: object, path: str = "$") -> Any:
    """``value`` as plain JSON data (dict, list, str, int, float, bool, None) with tags."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {_FLOAT_TAG: "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, Decimal):
        return {_DECIMAL_TAG: str(value)}
    if isinstance(value, datetime):
        return {_DATETIME_TAG: _require_aware(value, f"at {path} in a JSON column").isoformat()}
    if isinstance(value, date):
        return {_DATE_TAG: value.isoformat()}
    if isinstance(value, Mapping):
        return {
            _encode_key(key, path): to_json_document(item, f"{path}.{key}")
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [to_json_document(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise TypeError(f"cannot store {type(value).__name__} {value!r} at {path} in a JSON column")


def from_json_document(value: Any) -> Any:
    """Inverse of :func:`to_json_document` (arrays come back as lists)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, item),) = value.items()
            if key in _TAGS:
                return _decode_tag(key, item)
        return {_decode_key(key): from_json_document(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json_document(item) for item in value]
    return value


def _decode_tag(tag: str, text: str) -> object:
    if tag == _DECIMAL_TAG:
        return Decimal(text)
    if tag == _DATETIME_TAG:
        return datetime.fromisoformat(text).astimezone(UTC)
    if tag == _DATE_TAG:
        return date.fromisoformat(text)
    return float(text)


class JsonDocument(TypeDecorator[Any]):
    """A JSON column (``JSON`` on both backends; PostgreSQL keeps the text as written)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any | None, dialect: Dialect) -> Any:
        return to_json_document(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> Any:
        return from_json_document(value)
