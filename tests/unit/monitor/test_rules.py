"""Pin risk and early-assignment risk at their edges."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from agent.calendar import et_datetime
from agent.config import MonitorSettings
from agent.domain import ExitReason, Greeks, LegMark, OptionRight, Side, TradeMark
from agent.monitor.rules import early_assignment_risk, pin_risk
from tests.unit.monitor.helpers import occ

EXPIRY = date(2026, 3, 20)
EXPIRY_MORNING = et_datetime(EXPIRY, datetime.strptime("10:00", "%H:%M").time())
BEFORE = datetime(2026, 3, 18, 15, 0, tzinfo=UTC)  # two days before the expiry, 11:00 ET
SETTINGS = MonitorSettings()  # pin 1 %, extrinsic 0.05, 15:00 ET


def lm(
    strike: float,
    side: Side,
    *,
    right: OptionRight = OptionRight.PUT,
    mid: float = 1.0,
    expiry: date = EXPIRY,
    quoted: bool = True,
) -> LegMark:
    half = 0.01
    return LegMark(
        symbol=occ(strike, right, expiry),
        side=side,
        qty=1,
        right=right,
        strike=strike,
        expiry=expiry,
        bid=mid - half if quoted else math.nan,
        ask=mid + half if quoted else math.nan,
        mid=mid,
        iv=0.3,
        delta=-0.5,
        gamma=0.0,
        theta=0.0,
        vega=0.0,
        entry_price=Decimal("1.00"),
    )


def mark(spot: float, legs: tuple[LegMark, ...], at: datetime) -> TradeMark:
    return TradeMark(
        trade_id="t",
        underlying="XYZ",
        as_of=at,
        spot=spot,
        expiry=EXPIRY,
        dte=(EXPIRY - at.date()).days,
        qty=1,
        entry_credit_usd=Decimal(100),
        close_net_mid=Decimal(1),
        close_net_natural=Decimal(1),
        unrealized_pnl_usd=Decimal(0),
        greeks=Greeks(),
        legs=legs,
    )


# --------------------------------------------------------------------------- pin risk


@pytest.mark.parametrize(
    ("spot", "fires"),
    [
        (100.0, True),  # on the strike
        (101.0, True),  # |100 − 101| / 101 = 0.990 %
        (100.0 / 0.99, True),  # exactly 1 % of spot: the edge is included
        (101.02, False),  # 1.0097 %
        (99.01, True),  # in the money by 0.9999 % of spot
        (99.0, False),  # in the money by 1.0101 % of spot
    ],
)
def test_pin_risk_distance_edges(spot: float, fires: bool) -> None:
    legs = (lm(100.0, Side.SELL), lm(95.0, Side.BUY))
    hit = pin_risk(mark(spot, legs, EXPIRY_MORNING), EXPIRY_MORNING, SETTINGS, legs=legs)
    assert (hit is not None) is fires
    if hit is not None:
        assert hit.reason is ExitReason.PIN_RISK and hit.symbol == occ(100.0)
        assert "closing before 15:00 ET" in hit.detail


def test_pin_risk_only_on_the_expiry_day_and_only_for_short_legs() -> None:
    legs = (lm(100.0, Side.SELL), lm(95.0, Side.BUY))
    assert pin_risk(mark(100.2, legs, BEFORE), BEFORE, SETTINGS, legs=legs) is None
    longs = (lm(100.0, Side.BUY),)
    assert (
        pin_risk(mark(100.2, longs, EXPIRY_MORNING), EXPIRY_MORNING, SETTINGS, legs=longs) is None
    )
    later = (lm(100.0, Side.SELL, expiry=date(2026, 3, 27)),)
    assert (
        pin_risk(mark(100.2, later, EXPIRY_MORNING), EXPIRY_MORNING, SETTINGS, legs=later) is None
    )


def test_pin_risk_after_the_deadline_still_closes_and_says_so() -> None:
    late = et_datetime(EXPIRY, datetime.strptime("15:05", "%H:%M").time())
    legs = (lm(100.0, Side.SELL, right=OptionRight.CALL),)
    hit = pin_risk(mark(99.5, legs, late), late, SETTINGS, legs=legs)
    assert hit is not None and "past the 15:00 ET deadline" in hit.detail
    at_deadline = et_datetime(EXPIRY, datetime.strptime("15:00", "%H:%M").time())
    hit = pin_risk(mark(99.5, legs, at_deadline), at_deadline, SETTINGS, legs=legs)
    assert hit is not None and "past the 15:00 ET deadline" in hit.detail
    wider = MonitorSettings(pin_risk_distance_pct=2.0)
    assert pin_risk(mark(98.2, legs, late), late, wider, legs=legs) is not None
    assert pin_risk(mark(98.2, legs, late), late, SETTINGS, legs=legs) is None


def test_pin_risk_picks_the_nearest_expiring_short() -> None:
    legs = (
        lm(99.5, Side.SELL),
        lm(100.5, Side.SELL, right=OptionRight.CALL),
        lm(95.0, Side.BUY),
    )
    hit = pin_risk(mark(100.4, legs, EXPIRY_MORNING), EXPIRY_MORNING, SETTINGS, legs=legs)
    assert hit is not None and hit.symbol == occ(100.5, OptionRight.CALL)


# --------------------------------------------------------------------------- early assignment


@pytest.mark.parametrize(
    ("extrinsic", "fires"),
    [(0.049, True), (0.0, True), (-0.02, True), (0.05, False), (0.051, False)],
)
def test_early_assignment_extrinsic_edge(extrinsic: float, fires: bool) -> None:
    spot = 90.0
    legs = (lm(100.0, Side.SELL, mid=10.0 + extrinsic), lm(95.0, Side.BUY, mid=5.5))
    hit = early_assignment_risk(mark(spot, legs, BEFORE), BEFORE, SETTINGS)
    assert (hit is not None) is fires
    if hit is not None:
        assert hit.reason is ExitReason.EARLY_ASSIGNMENT_RISK and hit.symbol == occ(100.0)


def test_early_assignment_needs_a_cent_in_the_money() -> None:
    legs = (lm(100.0, Side.SELL, mid=0.02),)
    assert early_assignment_risk(mark(99.995, legs, BEFORE), BEFORE, SETTINGS) is None
    legs = (lm(100.0, Side.SELL, mid=0.03),)
    assert early_assignment_risk(mark(99.99, legs, BEFORE), BEFORE, SETTINGS) is not None


def test_early_assignment_ignores_expiring_calls_longs_and_bad_quotes() -> None:
    spot = 90.0
    today = (lm(100.0, Side.SELL, mid=10.0),)
    assert (
        early_assignment_risk(mark(spot, today, EXPIRY_MORNING), EXPIRY_MORNING, SETTINGS) is None
    )
    call = (lm(80.0, Side.SELL, right=OptionRight.CALL, mid=10.0),)
    assert early_assignment_risk(mark(spot, call, BEFORE), BEFORE, SETTINGS) is None
    long_put = (lm(100.0, Side.BUY, mid=10.0),)
    assert early_assignment_risk(mark(spot, long_put, BEFORE), BEFORE, SETTINGS) is None
    unquoted = (lm(100.0, Side.SELL, mid=10.0, quoted=False),)
    assert early_assignment_risk(mark(spot, unquoted, BEFORE), BEFORE, SETTINGS) is None
    looser = MonitorSettings(early_assignment_max_extrinsic_usd=0.5)
    some_time = (lm(100.0, Side.SELL, mid=10.3),)
    assert early_assignment_risk(mark(spot, some_time, BEFORE), BEFORE, looser) is not None
    assert early_assignment_risk(mark(spot, some_time, BEFORE), BEFORE, SETTINGS) is None
