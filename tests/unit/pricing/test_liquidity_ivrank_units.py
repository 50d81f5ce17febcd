"""Liquidity score bounds and monotonicity; ATM IV and IV rank; unit conversions."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import numpy as np
import pytest

from agent.domain import OptionChain
from agent.pricing.bsm import bs_price
from agent.pricing.chain import enrich_chain, time_to_expiry_years
from agent.pricing.ivrank import IvRankStatus, atm_iv, iv_rank
from agent.pricing.liquidity import liquidity_score
from agent.pricing.units import (
    rho_per_pct,
    theta_per_day,
    theta_per_year,
    vega_per_unit_vol,
    vega_per_vol_point,
)

AS_OF = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_liquidity_bounds_and_components() -> None:
    assert liquidity_score(0.0, math.inf, math.inf, 0.0) == pytest.approx(100.0)
    assert liquidity_score(math.nan, math.nan, math.nan, math.nan) == 0.0
    assert liquidity_score(10.0, 500.0, 100.0, 60.0) == pytest.approx(50.0)
    rng = np.random.default_rng(3)
    scores = liquidity_score(
        rng.uniform(0, 300, 1000),
        rng.uniform(0, 1e5, 1000),
        rng.uniform(0, 1e4, 1000),
        rng.uniform(-5, 1e4, 1000),
    )
    assert np.all((scores >= 0.0) & (scores <= 100.0))


def test_liquidity_is_monotone_in_each_input() -> None:
    grid = np.linspace(0.0, 500.0, 101)
    assert np.all(np.diff(liquidity_score(grid, 100.0, 10.0, 5.0)) < 0)  # wider spread: worse
    assert np.all(np.diff(liquidity_score(5.0, grid * 100, 10.0, 5.0)) > 0)  # more OI: better
    assert np.all(np.diff(liquidity_score(5.0, 100.0, grid * 10, 5.0)) > 0)  # more volume
    assert np.all(np.diff(liquidity_score(5.0, 100.0, 10.0, grid)) < 0)  # older quote: worse
    # A NaN component scores zero and nothing else changes.
    assert liquidity_score(5.0, math.nan, 10.0, 5.0) == pytest.approx(
        liquidity_score(5.0, 0.0, 10.0, 5.0)
    )


def _flat_vol_chain(sigma_by_expiry: dict[date, float], spot: float = 100.0) -> OptionChain:
    rows: dict[str, list[object]] = {
        k: [] for k in ("symbol", "expiry", "strike", "is_call", "bid", "ask")
    }
    for expiry, sigma in sigma_by_expiry.items():
        T = time_to_expiry_years(AS_OF, expiry)
        for strike in np.arange(80.0, 121.0, 5.0):
            for call in (True, False):
                price = float(bs_price(spot, strike, T, 0.03, 0.0, sigma, call))
                rows["symbol"].append(f"{expiry}{strike}{call}")
                rows["expiry"].append(np.datetime64(expiry))
                rows["strike"].append(strike)
                rows["is_call"].append(call)
                rows["bid"].append(price)
                rows["ask"].append(price)
    return OptionChain.from_columns(
        underlying="XYZ",
        as_of=AS_OF,
        quote_time_s=np.full(len(rows["symbol"]), AS_OF.timestamp()),
        **rows,
    )


def test_atm_iv_interpolates_total_variance_between_expiries() -> None:
    near, far = date(2026, 3, 20), date(2026, 4, 17)
    chain = _flat_vol_chain({near: 0.20, far: 0.30})
    enriched = enrich_chain(chain, 100.0, 0.03, 0.0, AS_OF)
    T1, T2 = time_to_expiry_years(AS_OF, near), time_to_expiry_years(AS_OF, far)
    target = 30 / 365
    expected = math.sqrt((0.04 * T1 + (0.09 * T2 - 0.04 * T1) * (target - T1) / (T2 - T1)) / target)
    assert atm_iv(enriched, 30) == pytest.approx(expected, abs=1e-10)
    # Flat extrapolation on either side, NaN without any usable expiry.
    assert atm_iv(enriched, 5) == pytest.approx(0.20, abs=1e-10)
    assert atm_iv(enriched, 90) == pytest.approx(0.30, abs=1e-10)
    assert math.isnan(atm_iv(enriched.take(np.zeros(len(enriched), dtype=bool)), 30))


def test_atm_iv_uses_the_forward_in_strike() -> None:
    # A linear smile in strike: the ATM vol is read at the forward, not at the spot.
    expiry = date(2026, 9, 18)
    T = time_to_expiry_years(AS_OF, expiry)
    strikes = np.arange(80.0, 121.0, 5.0)
    sigma = 0.25 - 0.002 * (strikes - 100.0)
    rows_strike = np.repeat(strikes, 2)
    rows_call = np.tile([True, False], len(strikes))
    rows_sigma = np.repeat(sigma, 2)
    price = bs_price(100.0, rows_strike, T, 0.05, 0.0, rows_sigma, rows_call)
    chain = OptionChain.from_columns(
        underlying="XYZ",
        as_of=AS_OF,
        symbol=[str(i) for i in range(len(price))],
        expiry=np.full(len(price), np.datetime64(expiry)),
        strike=rows_strike,
        is_call=rows_call,
        bid=price,
        ask=price,
        quote_time_s=np.full(len(price), AS_OF.timestamp()),
    )
    enriched = enrich_chain(chain, 100.0, 0.05, 0.0, AS_OF)
    forward = 100.0 * math.exp(0.05 * T)
    assert atm_iv(enriched, 200) == pytest.approx(0.25 - 0.002 * (forward - 100.0), abs=1e-9)


def test_iv_rank_and_percentile() -> None:
    history = np.linspace(0.10, 0.30, 100)  # 100 days
    result = iv_rank(history, 0.25)
    assert result.status == IvRankStatus.OK and result.days == 100
    assert result.rank == pytest.approx(75.0)
    assert result.percentile == pytest.approx(75.0)  # 75 of 100 days strictly below 0.25
    assert iv_rank(history, 0.5).rank == 100.0 and iv_rank(history, 0.05).rank == 0.0
    # The window keeps only the most recent observations; NaNs are skipped.
    windowed = iv_rank(np.concatenate([[0.9], history, [math.nan]]), 0.25, window=100)
    assert windowed.days == 100 and windowed.rank == pytest.approx(75.0)
    skewed = iv_rank([0.1] * 30 + [0.5], 0.2)
    assert skewed.rank == pytest.approx(25.0) and skewed.percentile == pytest.approx(30 / 31 * 100)


def test_iv_rank_warm_up_and_missing_current() -> None:
    short = iv_rank([0.2] * 19, 0.25, min_days=20)
    assert (
        short.status == IvRankStatus.WARMING_UP and short.rank is None and short.percentile is None
    )
    assert short.days == 19
    assert iv_rank([0.2] * 20, 0.25, min_days=20).status == IvRankStatus.OK
    missing = iv_rank([0.2] * 50, math.nan)
    assert missing.status == IvRankStatus.NO_CURRENT_IV and missing.rank is None
    flat = iv_rank([0.2] * 50, 0.2)
    assert flat.rank == 0.0 and flat.percentile == 0.0


def test_unit_conversions() -> None:
    assert theta_per_day(-36.5) == pytest.approx(-0.1)
    assert theta_per_year(theta_per_day(-12.0)) == pytest.approx(-12.0)
    assert vega_per_vol_point(20.0) == pytest.approx(0.2)
    assert vega_per_unit_vol(vega_per_vol_point(20.0)) == pytest.approx(20.0)
    assert rho_per_pct(50.0) == pytest.approx(0.5)
    np.testing.assert_allclose(theta_per_day(np.array([365.0, -730.0])), [1.0, -2.0])
