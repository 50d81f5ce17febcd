"""Beta-weighted greeks, stress re-pricing with our kernels, budgets, rolls and stale marks."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agent.calendar import et_datetime, market_calendar
from agent.clock import SimClock
from agent.config import RiskSettings
from agent.domain import Greeks, OptionRight, OrderPurpose, Side
from agent.pricing.bsm import bs_price
from agent.risk.book import Exposure, roll_remainder
from agent.risk.greeks import (
    ExposureLeg,
    Scenario,
    StressPosition,
    beta_weighted,
    candidate_legs,
    mark_legs,
    stress_pnl_usd,
    stress_scenarios,
)
from tests.unit.risk.helpers import (
    NOW,
    WIDE,
    LegSpec,
    account,
    add_trades,
    candidate,
    failed_rules,
    make_service,
    make_settings,
    mark,
    memory_store,
    trade,
)


def test_beta_weighting_worked_example() -> None:
    # Underlying at $250, beta 1.2, SPY at $500 → factor 0.6.
    weighted = beta_weighted(
        Greeks(delta=100.0, gamma=10.0, theta=-5.0, vega=-20.0),
        beta=1.2,
        spot=250.0,
        reference_spot=500.0,
    )
    assert weighted.beta_delta_shares == pytest.approx(60.0)
    assert weighted.gamma_shares == pytest.approx(3.6)
    assert (weighted.theta_usd, weighted.vega_usd) == (-5.0, -20.0)


def test_beta_weighting_without_a_spy_price_uses_ratio_one() -> None:
    weighted = beta_weighted(
        Greeks(delta=100.0, gamma=2.0), beta=0.6, spot=60.0, reference_spot=None
    )
    assert weighted.beta_delta_shares == pytest.approx(60.0)
    assert weighted.gamma_shares == pytest.approx(0.72)


def test_default_scenarios_are_the_shocks_and_their_combinations() -> None:
    names = [s.name for s in stress_scenarios(RiskSettings())]
    assert names == [
        "spot -10% vol +0%",
        "spot +10% vol +0%",
        "spot +0% vol +50%",
        "spot -10% vol +50%",
        "spot +10% vol +50%",
    ]
    assert [s.name for s in stress_scenarios(RiskSettings(stress_vol_shock_pct=0))] == [
        "spot -10% vol +0%",
        "spot +10% vol +0%",
    ]


def test_stress_reprices_with_the_kernels_worked_example() -> None:
    # Short one 100-strike put, spot 100, exactly 30 days (no DST change between), IV 20 %.
    expiry = date(2026, 4, 9)
    at = et_datetime(date(2026, 3, 10), time(16, 0))
    short_put = ExposureLeg(
        symbol="X", right=OptionRight.PUT, strike=100.0, expiry=expiry, signed_qty=-1, iv=0.20
    )
    scenarios = [
        Scenario(spot_shock_pct=-10, vol_shock_pct=0),
        Scenario(spot_shock_pct=0, vol_shock_pct=50),
    ]
    pnl = stress_pnl_usd(
        [StressPosition(underlying="X", spot=100.0, beta=1.0, legs=(short_put,))],
        scenarios,
        at=at,
        calendar=market_calendar(),
        rate=0.04,
        dividend_yields={},
    )
    t_years = 30 / 365
    base = float(bs_price(100.0, 100.0, t_years, 0.04, 0.0, 0.20, False))
    assert base == pytest.approx(2.12, abs=0.01)
    down = float(bs_price(90.0, 100.0, t_years, 0.04, 0.0, 0.20, False))
    assert down == pytest.approx(9.75, abs=0.01)
    assert pnl[0] == pytest.approx(-(down - base) * 100)
    assert pnl[0] == pytest.approx(-763, abs=1)
    vol_up = float(bs_price(100.0, 100.0, t_years, 0.04, 0.0, 0.30, False))
    assert pnl[1] == pytest.approx(-(vol_up - base) * 100)


def test_stress_moves_by_beta_and_prices_stock_linearly() -> None:
    stock = ExposureLeg(symbol="KO", right=None, strike=None, expiry=None, signed_qty=100, iv=0.0)
    pnl = stress_pnl_usd(
        [StressPosition(underlying="KO", spot=60.0, beta=0.5, legs=(stock,))],
        [
            Scenario(spot_shock_pct=-10, vol_shock_pct=0),
            Scenario(spot_shock_pct=0, vol_shock_pct=50),
        ],
        at=NOW,
        calendar=market_calendar(),
        rate=0.04,
        dividend_yields={},
    )
    assert pnl == pytest.approx((-300.0, 0.0))  # 100 × $60 × (0.5 × −10 %)


def test_a_leg_without_iv_borrows_the_trades_mean_iv_or_is_unpriced() -> None:
    good = mark("t")
    broken = replace(good, legs=(replace(good.legs[0], iv=float("nan")), good.legs[1]))
    legs = mark_legs(broken.legs)
    assert legs is not None and legs[0].iv == pytest.approx(0.30)
    none_left = tuple(replace(leg, iv=float("nan")) for leg in good.legs)
    assert mark_legs(none_left) is None
    no_iv = candidate(iv=float("nan"))
    assert candidate_legs(no_iv) is None


def test_roll_remainder_keeps_the_untested_side() -> None:
    condor_legs = (
        ExposureLeg(
            symbol="P1",
            right=OptionRight.PUT,
            strike=90.0,
            expiry=date(2026, 4, 17),
            signed_qty=-1,
            iv=0.3,
            delta=-0.2,
        ),
        ExposureLeg(
            symbol="P2",
            right=OptionRight.PUT,
            strike=85.0,
            expiry=date(2026, 4, 17),
            signed_qty=1,
            iv=0.3,
            delta=-0.1,
        ),
        ExposureLeg(
            symbol="C1",
            right=OptionRight.CALL,
            strike=110.0,
            expiry=date(2026, 4, 17),
            signed_qty=-1,
            iv=0.3,
            delta=0.2,
        ),
        ExposureLeg(
            symbol="C2",
            right=OptionRight.CALL,
            strike=115.0,
            expiry=date(2026, 4, 17),
            signed_qty=1,
            iv=0.3,
            delta=0.1,
        ),
    )
    condor = Exposure(
        key="t1",
        trade_id="t1",
        underlying="XYZ",
        sector="XYZ",
        qty=1,
        max_loss_usd=Decimal(400),
        capital_usd=Decimal(400),
        spot=100.0,
        greeks=Greeks(delta=0.0),
        legs=condor_legs,
    )
    rest = roll_remainder(condor, ["P1", "P2"])
    assert rest is not None
    assert [leg.symbol for leg in rest.legs or ()] == ["C1", "C2"]
    assert rest.max_loss_usd == 0 and not rest.is_position
    # The put side is +20 − 10 = +10 delta shares; closing it leaves the call side's −10.
    assert rest.greeks.delta == pytest.approx(-10.0)
    assert roll_remainder(condor, []) is None


# --------------------------------------------------------------------------- through the service


def test_beta_delta_budget_denies_and_caps(tmp_path: Path) -> None:
    one = candidate()
    per_unit = one.greeks.delta  # positive for a bull put spread
    budget = per_unit * 3.5
    settings = make_settings(
        tmp_path,
        "risk.risk_per_trade_pct=10",  # target 25 units
        f"risk.max_abs_beta_delta_shares={budget}",
        "risk.max_stress_loss_pct=100",
        "risk.max_abs_vega_usd=1e9",
        "risk.max_abs_gamma_shares=1e9",
        "risk.max_symbol_concentration_pct=100",
        "risk.max_sector_concentration_pct=100",
    )
    decision = make_service(memory_store(), SimClock(NOW), settings).evaluate(one, account())
    assert decision.approved and decision.qty == 3
    sizing = next(r for r in decision.checks if r.rule == "sizing")
    assert "capped by max_abs_beta_delta_shares" in sizing.message


def test_stress_limit_denies_what_the_kernels_say_is_too_much(tmp_path: Path) -> None:
    one = candidate()
    settings = make_settings(
        tmp_path,
        "risk.max_abs_beta_delta_shares=1e9",
        "risk.max_abs_gamma_shares=1e9",
        "risk.max_abs_vega_usd=1e9",
        "risk.min_theta_usd=-1e9",
        "risk.max_stress_loss_pct=0.1",  # $100 on $100,000
    )
    decision = make_service(memory_store(), SimClock(NOW), settings).evaluate(one, account())
    assert not decision.approved
    assert "max_stress_loss_pct" in failed_rules(decision)
    stress = next(r for r in decision.checks if r.rule == "max_stress_loss_pct")
    assert isinstance(stress.value, float) and stress.value > 100.0
    assert "spot -10%" in stress.message


def test_open_trades_without_fresh_marks_block_openings(tmp_path: Path) -> None:
    store = memory_store()
    add_trades(store, trade("t1"))
    clock = SimClock(NOW)
    service = make_service(store, clock, make_settings(tmp_path, *WIDE))
    denied = service.evaluate(candidate(underlying="ABC"), account())
    assert not denied.approved and failed_rules(denied) == {"book_marks_fresh"}
    assert "book marks stale" in denied.summary()
    service.update(account=account(), marks=[mark("t1", as_of=NOW)], data_age_s=5.0)
    assert service.evaluate(candidate(underlying="ABC"), account()).approved
    # Marks older than max_market_data_age_s (900 s) are stale again.
    clock.advance(timedelta(seconds=901))
    assert failed_rules(service.evaluate(candidate(underlying="ABC"), account())) == {
        "book_marks_fresh"
    }


def test_a_roll_is_judged_on_the_book_after_the_roll(tmp_path: Path) -> None:
    store = memory_store()
    add_trades(store, trade("t1", qty=10, max_loss_usd=4000))
    old_mark = mark("t1", qty=10)
    # Vega budget sits between "after the roll" and "before plus the roll".
    roll = candidate(
        purpose=OrderPurpose.ROLL,
        rolled_from_trade_id="t1",
        legs=(LegSpec(OptionRight.PUT, 90, Side.SELL), LegSpec(OptionRight.PUT, 85, Side.BUY)),
        expiry=date(2026, 5, 15),
    )
    after_roll = abs(roll.greeks.vega * 10)
    book_plus_roll = abs(old_mark.greeks.vega + roll.greeks.vega * 10)
    assert after_roll < book_plus_roll
    settings = make_settings(
        tmp_path,
        "risk.max_abs_beta_delta_shares=1e9",
        "risk.max_abs_gamma_shares=1e9",
        "risk.min_theta_usd=-1e9",
        "risk.max_stress_loss_pct=100",
        f"risk.max_abs_vega_usd={(after_roll + book_plus_roll) / 2}",
    )
    service = make_service(store, SimClock(NOW), settings)
    service.update(account=account(), marks=[old_mark], data_age_s=1.0)
    decision = service.evaluate(roll, account())
    assert decision.approved and decision.qty == 10
    assert decision.sizing_method == "roll"
    vega = next(r for r in decision.checks if r.rule == "max_abs_vega_usd")
    assert vega.value == pytest.approx(-after_roll, abs=0.01)


def test_a_roll_of_an_unknown_trade_is_denied(tmp_path: Path) -> None:
    service = make_service(memory_store(), SimClock(NOW), make_settings(tmp_path, *WIDE))
    decision = service.evaluate(
        candidate(purpose=OrderPurpose.ROLL, rolled_from_trade_id="nope"), account()
    )
    assert not decision.approved and "roll_target" in failed_rules(decision)


def test_a_roll_finds_the_only_trade_on_its_symbol(tmp_path: Path) -> None:
    store = memory_store()
    add_trades(store, trade("t1", qty=2, max_loss_usd=800))
    service = make_service(store, SimClock(NOW), make_settings(tmp_path, *WIDE))
    service.update(account=account(), marks=[mark("t1", qty=2)], data_age_s=1.0)
    decision = service.evaluate(candidate(purpose=OrderPurpose.ROLL), account())
    assert decision.approved and decision.qty == 2


def test_a_tested_side_roll_keeps_the_untested_side_without_close_symbols(tmp_path: Path) -> None:
    condor = (
        LegSpec(OptionRight.PUT, 95, Side.SELL),
        LegSpec(OptionRight.PUT, 90, Side.BUY),
        LegSpec(OptionRight.CALL, 105, Side.SELL),
        LegSpec(OptionRight.CALL, 110, Side.BUY),
    )
    store = memory_store()
    add_trades(store, trade("ic", qty=2, max_loss_usd=700))
    service = make_service(store, SimClock(NOW), make_settings(tmp_path, *WIDE))
    held = mark("ic", legs=condor, qty=2)
    service.update(account=account(), marks=[held], data_age_s=1.0)
    put_side = (LegSpec(OptionRight.PUT, 90, Side.SELL), LegSpec(OptionRight.PUT, 85, Side.BUY))
    roll = candidate(purpose=OrderPurpose.ROLL, rolled_from_trade_id="ic", legs=put_side)
    decision = service.evaluate(roll, account())
    assert decision.approved and decision.qty == 2
    call_side = mark("x", legs=condor[2:], qty=2).greeks
    expected = call_side.delta + roll.greeks.delta * 2
    metrics_delta = next(r for r in decision.checks if r.rule == "max_abs_beta_delta_shares")
    assert metrics_delta.value == pytest.approx(expected, abs=0.01)


def test_a_candidate_that_cannot_be_stressed_is_denied(tmp_path: Path) -> None:
    service = make_service(memory_store(), SimClock(NOW), make_settings(tmp_path, *WIDE))
    no_iv = service.evaluate(candidate(iv=float("nan")), account())
    assert not no_iv.approved and "candidate_priced" in failed_rules(no_iv)
    no_spot = service.evaluate(replace(candidate(), spot=float("nan")), account())
    assert not no_spot.approved and "candidate_priced" in failed_rules(no_spot)
    assert "spot" in next(r for r in no_spot.checks if r.rule == "candidate_priced").message
