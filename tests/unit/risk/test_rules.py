"""Every pre-trade rule at its edge: just under, at, and just over the limit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.config import RiskSettings
from agent.domain import OrderPurpose, TradingState
from agent.risk.greeks import BookGreeks, Scenario
from agent.risk.rules import (
    Bound,
    Check,
    QtyRange,
    buying_power_check,
    daily_loss_rule,
    equity_rule,
    greek_checks,
    heat_check,
    largest_allowed_qty,
    marks_fresh_rule,
    pct_of,
    pdt_rule,
    positions_per_symbol_rule,
    purpose_rule,
    risk_per_trade_check,
    sector_concentration_check,
    stress_check,
    symbol_concentration_check,
    trades_per_day_rule,
    trading_state_rule,
)
from tests.unit.risk.helpers import account

D = Decimal
EQUITY = D(100_000)
SETTINGS = RiskSettings()


def test_pct_of_is_exact() -> None:
    assert pct_of(D(100_000), 5.0) == D(5000)
    assert pct_of(D("33333.33"), 30.0) == D("9999.999")


# --------------------------------------------------------------------------- fixed rules


@pytest.mark.parametrize(
    ("equity", "passed"),
    [("95000.01", True), ("95000", False), ("94999.99", False)],
    ids=["under", "at", "over"],
)
def test_daily_loss_stops_at_the_limit(equity: str, passed: bool) -> None:
    # last_equity $100,000, 5 % → $5,000: reaching the loss limit is hitting it.
    reason = daily_loss_rule(account(D(equity), last_equity=100_000), 5.0)
    assert reason.passed is passed
    assert reason.rule == "max_daily_loss_pct"
    assert reason.limit == 5000.0
    assert reason.value == pytest.approx(100_000 - float(equity))


def test_daily_loss_ignores_gains_and_uses_equity_without_last_equity() -> None:
    assert daily_loss_rule(account(110_000, last_equity=100_000), 5.0).value == 0.0
    reason = daily_loss_rule(account(100_000, last_equity=0), 5.0)
    assert reason.passed and reason.limit == 5000.0


@pytest.mark.parametrize(
    ("today", "passed"), [(8, True), (9, True), (10, False)], ids=["under", "at", "over"]
)
def test_trades_per_day_allows_the_tenth_not_the_eleventh(today: int, passed: bool) -> None:
    reason = trades_per_day_rule(today, 10)
    assert reason.passed is passed
    assert (reason.value, reason.limit) == (today + 1, 10)


@pytest.mark.parametrize(
    ("open_now", "passed"), [(0, True), (1, True), (2, False)], ids=["under", "at", "over"]
)
def test_positions_per_symbol(open_now: int, passed: bool) -> None:
    reason = positions_per_symbol_rule("XYZ", open_now, 2)
    assert reason.passed is passed
    assert reason.value == open_now + 1


@pytest.mark.parametrize(
    ("done", "open_today", "passed"),
    [(1, 0, True), (2, 0, True), (3, 0, False), (1, 1, True), (2, 1, False)],
    ids=["under", "at", "over", "at-with-open", "over-with-open"],
)
def test_pdt_counts_possible_day_trades(done: int, open_today: int, passed: bool) -> None:
    reason = pdt_rule(
        equity=D("24999.99"),
        day_trades_5d=done,
        potential_day_trades=open_today,
        threshold_usd=25_000,
        max_day_trades=3,
    )
    assert reason.passed is passed
    assert reason.value == done + open_today + 1


def test_pdt_applies_only_under_the_threshold() -> None:
    at_threshold = pdt_rule(
        equity=D(25_000),
        day_trades_5d=9,
        potential_day_trades=9,
        threshold_usd=25_000,
        max_day_trades=3,
    )
    assert at_threshold.passed


@pytest.mark.parametrize(
    ("state", "purpose", "allowed"),
    [
        (TradingState.ACTIVE, OrderPurpose.OPEN, True),
        (TradingState.ACTIVE, OrderPurpose.ROLL, True),
        (TradingState.REDUCING, OrderPurpose.OPEN, False),
        (TradingState.REDUCING, OrderPurpose.ROLL, True),
        (TradingState.HALTED, OrderPurpose.OPEN, False),
        (TradingState.HALTED, OrderPurpose.ROLL, False),
    ],
)
def test_trading_state_rule(state: TradingState, purpose: OrderPurpose, allowed: bool) -> None:
    reason = trading_state_rule(state, purpose, "why")
    assert reason.passed is allowed
    assert ("why" in reason.message) is (not allowed)


def test_marks_fresh_equity_and_purpose_rules() -> None:
    assert marks_fresh_rule([], 900).passed
    stale = marks_fresh_rule(["t1", "t2"], 900)
    assert not stale.passed and stale.value == 2 and "book marks stale" in stale.message
    assert "t1" in stale.message
    assert equity_rule(D("0.01")).passed
    assert not equity_rule(D(0)).passed
    assert purpose_rule(OrderPurpose.OPEN).passed and purpose_rule(OrderPurpose.ROLL).passed
    closing = purpose_rule(OrderPurpose.CLOSE)
    assert not closing.passed and "exits are always allowed" in closing.message


# --------------------------------------------------------------------------- limit checks


def _edges(check: Check[Decimal] | Check[float], under: int, at: int, over: int) -> None:
    assert check.passes(under) and check.reason(under).passed
    assert check.passes(at) and check.reason(at).passed
    assert not check.passes(over) and not check.reason(over).passed
    rng = check.qty_range()
    assert rng is not None and rng.hi == at


def test_risk_per_trade_edges() -> None:
    # 20 % of $100,000 = $20,000; $400 per unit → 50 units exactly at the limit.
    check = risk_per_trade_check(
        equity=EQUITY, max_risk_per_trade_pct=20.0, capital_per_unit_usd=D(400)
    )
    _edges(check, 49, 50, 51)
    reason = check.reason(51)
    assert (reason.rule, reason.value, reason.limit) == ("max_risk_per_trade_pct", 20400.0, 20000.0)
    assert "20% of equity" in reason.message


def test_heat_edges() -> None:
    # 30 % of $100,000 = $30,000 with $29,000 open: $500/unit → 2 units land exactly on it.
    check = heat_check(
        equity=EQUITY,
        max_portfolio_heat_pct=30.0,
        heat_usd=D(29_000),
        max_loss_per_unit_usd=D(500),
    )
    _edges(check, 1, 2, 3)
    assert check.reason(3).value == 30_500.0


def test_symbol_concentration_edges() -> None:
    # 30 % of the heat budget (30 % of $100,000) = $9,000 per symbol.
    check = symbol_concentration_check(
        symbol="XYZ",
        equity=EQUITY,
        settings=SETTINGS,
        symbol_heat_usd=D(8_000),
        max_loss_per_unit_usd=D(250),
    )
    assert check.limit == D(9000)
    _edges(check, 3, 4, 5)


def test_sector_concentration_edges() -> None:
    check = sector_concentration_check(
        sector="technology",
        equity=EQUITY,
        settings=SETTINGS,
        sector_heat_usd=D("8999.99"),
        max_loss_per_unit_usd=D("0.01"),
    )
    _edges(check, 0, 1, 2)
    assert "technology" in check.reason(2).message


def test_buying_power_edges_and_roll_release() -> None:
    # $10,000 buying power, $2,000 reserved by approvals, $1,000 per unit → 8 units.
    check = buying_power_check(
        options_buying_power_usd=D(10_000),
        reserved_usd=D(2_000),
        capital_per_unit_usd=D(1_000),
    )
    _edges(check, 7, 8, 9)
    # A roll releases the capital of the trade it closes first.
    roll = buying_power_check(
        options_buying_power_usd=D(0),
        reserved_usd=D(0),
        capital_per_unit_usd=D(500),
        released_usd=D(1_000),
    )
    _edges(roll, 1, 2, 3)


def _greek(rule: str, base: BookGreeks, unit: BookGreeks) -> Check[float]:
    settings = RiskSettings(
        max_abs_beta_delta_shares=2000, max_abs_gamma_shares=400, max_abs_vega_usd=5000
    )
    return next(
        c for c in greek_checks(settings=settings, book=base, per_unit=unit) if c.rule == rule
    )


def test_beta_delta_budget_edges_both_signs() -> None:
    long_side = _greek(
        "max_abs_beta_delta_shares",
        BookGreeks(beta_delta_shares=1900.0),
        BookGreeks(beta_delta_shares=50.0),
    )
    _edges(long_side, 1, 2, 3)
    short_side = _greek(
        "max_abs_beta_delta_shares",
        BookGreeks(beta_delta_shares=-1900.0),
        BookGreeks(beta_delta_shares=-50.0),
    )
    _edges(short_side, 1, 2, 3)


def test_a_hedge_needs_enough_units_to_get_back_inside() -> None:
    # Book 2,100 over a 2,000 budget; −50 per unit: 1 unit leaves it over, 2 is at the limit.
    check = _greek(
        "max_abs_beta_delta_shares",
        BookGreeks(beta_delta_shares=2100.0),
        BookGreeks(beta_delta_shares=-50.0),
    )
    assert not check.passes(1)
    assert check.passes(2) and check.passes(82)
    assert not check.passes(83)  # −2,050: over on the other side
    assert check.qty_range() == QtyRange(2, 82)


def test_gamma_and_vega_budget_edges() -> None:
    gamma = _greek(
        "max_abs_gamma_shares", BookGreeks(gamma_shares=-390.0), BookGreeks(gamma_shares=-5.0)
    )
    _edges(gamma, 1, 2, 3)
    vega = _greek("max_abs_vega_usd", BookGreeks(vega_usd=-4900.0), BookGreeks(vega_usd=-25.0))
    _edges(vega, 3, 4, 5)


def test_theta_floor_edges() -> None:
    check = _greek("min_theta_usd", BookGreeks(theta_usd=-400.0), BookGreeks(theta_usd=-50.0))
    assert check.bound is Bound.MIN
    _edges(check, 1, 2, 3)
    assert check.reason(3).value == -550.0


def test_stress_edges_use_the_worst_scenario() -> None:
    # 25 % of $100,000 = $25,000; worst book scenario −$24,000, −$500 per unit there.
    check = stress_check(
        equity=EQUITY,
        max_stress_loss_pct=25.0,
        scenarios=[
            Scenario(spot_shock_pct=-10, vol_shock_pct=0),
            Scenario(spot_shock_pct=10, vol_shock_pct=50),
        ],
        book_pnl_usd=[-24_000.0, 3_000.0],
        per_unit_pnl_usd=[-500.0, 100.0],
    )
    assert check.passes(1)
    assert check.passes(2)
    assert not check.passes(3)
    assert check.qty_range() == QtyRange(0, 2)
    reason = check.reason(3)
    assert not reason.passed and reason.value == 25_500.0 and reason.limit == 25_000.0
    assert "spot -10% vol +0%" in reason.message
    assert check.used_pct(2) == pytest.approx(100.0)


# --------------------------------------------------------------------------- sizing against limits


def _max_check(rule: str, base: float, unit: float, limit: float) -> Check[float]:
    return Check(rule=rule, base=base, per_unit=unit, limit=limit, bound=Bound.MAX, what=rule)


def test_largest_allowed_qty_takes_the_tightest_limit() -> None:
    checks = [_max_check("a", 0, 1, 10), _max_check("b", 0, 1, 4), _max_check("c", 0, 1, 7)]
    assert largest_allowed_qty(9, checks) == (4, "b")
    assert largest_allowed_qty(3, checks) == (3, None)
    assert largest_allowed_qty(0, checks) == (0, None)


def test_largest_allowed_qty_when_nothing_fits() -> None:
    assert largest_allowed_qty(5, [_max_check("full", 11, 1, 10)]) == (0, "full")
    assert largest_allowed_qty(5, [_max_check("tiny", 0, 1, 0.5)]) == (0, "tiny")


def test_largest_allowed_qty_with_a_lower_bound() -> None:
    hedge = Check(
        rule="delta", base=2100.0, per_unit=-50.0, limit=2000.0, bound=Bound.ABS, what="d"
    )
    assert largest_allowed_qty(10, [hedge]) == (10, None)
    assert largest_allowed_qty(1, [hedge])[0] == 0
