"""Accuracy against an mpmath (50-digit) reference and published textbook values.

Tolerances are on the natural scale of each quantity: 1e-12 x S for price, theta and vega,
1e-12 for delta, 1e-12 / S for gamma, 1e-12 x S x T for rho -- or 1e-12 relative where the
value itself is larger than that scale (gamma ~ 1 / (S sigma sqrt T) and theta ~ S sigma /
sqrt T of short-dated, low-vol at-the-money options exceed 1/S and S by orders of magnitude).

Implied vol is checked where the price pins the vol: the vol uncertainty implied by the
rounding of the price itself, 2 ulp(price) / vega, must be below 1e-13, and the price must
be above its intrinsic value by more than 1e-12 x S. There the recovered vol must match to
1e-12 (absolute, vols are O(1)) or the condition-number bound, whichever is larger. Where
no vol exists the status says why.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.pricing._kernels import mills_ratio, norm_cdf
from agent.pricing.bsm import IvStatus, bs_greeks, bs_price, implied_vol_with_status
from tests.unit.pricing.reference import bsm_reference, reference_grid

EPS = np.finfo(np.float64).eps
GRID_SIZE = 1500


@pytest.fixture(scope="module")
def grid() -> dict[str, np.ndarray]:
    data = reference_grid(seed=20260302, n=GRID_SIZE)
    refs = [
        bsm_reference(*(data[k][i] for k in ("S", "K", "T", "r", "q", "sigma", "is_call")))
        for i in range(GRID_SIZE)
    ]
    for field in ("price", "delta", "gamma", "vega", "theta", "rho"):
        data[f"ref_{field}"] = np.array([getattr(ref, field) for ref in refs])
    return data


def test_price_and_greeks_match_mpmath(grid: dict[str, np.ndarray]) -> None:
    S, T = grid["S"], grid["T"]
    greeks = bs_greeks(
        grid["S"], grid["K"], T, grid["r"], grid["q"], grid["sigma"], grid["is_call"]
    )
    scales = {
        "price": S,
        "delta": np.ones_like(S),
        "gamma": 1.0 / S,
        "vega": S,
        "theta": S,
        "rho": S * T,
    }
    for field, scale in scales.items():
        reference = grid[f"ref_{field}"]
        error = np.abs(getattr(greeks, field) - reference) / np.maximum(scale, np.abs(reference))
        worst = int(np.argmax(error))
        assert error[worst] < 1e-12, (
            field,
            error[worst],
            {k: grid[k][worst] for k in ("S", "K", "T", "sigma")},
        )


def test_price_only_kernel_matches_greeks_kernel(grid: dict[str, np.ndarray]) -> None:
    args = (grid["S"], grid["K"], grid["T"], grid["r"], grid["q"], grid["sigma"], grid["is_call"])
    np.testing.assert_allclose(
        bs_price(*args), bs_greeks(*args).price, rtol=0, atol=1e-13 * grid["S"].max()
    )


def test_implied_vol_recovers_sigma_where_well_posed(grid: dict[str, np.ndarray]) -> None:
    S, K, T, r, q, sigma, calls = (grid[k] for k in ("S", "K", "T", "r", "q", "sigma", "is_call"))
    price = grid["ref_price"]  # the exact price, rounded once to a double
    vega = grid["ref_vega"]
    intrinsic = np.maximum(
        np.where(calls, 1.0, -1.0) * (S * np.exp(-q * T) - K * np.exp(-r * T)), 0
    )
    vol_uncertainty = 2.0 * EPS * np.maximum(price, 1e-300) / np.maximum(vega, 1e-300)
    well_posed = (vol_uncertainty < 1e-13) & (price - intrinsic > 1e-12 * S) & (vega / S > 1e-6)
    assert well_posed.sum() > GRID_SIZE // 4  # the criterion leaves a meaningful sample
    iv, status = implied_vol_with_status(price, S, K, T, r, q, calls)
    assert np.all(status[well_posed] == IvStatus.OK)
    error = np.abs(iv - sigma)
    tolerance = np.maximum(1e-12, 20.0 * vol_uncertainty)
    bad = well_posed & ~(error <= tolerance)
    assert not bad.any(), [(sigma[i], iv[i], T[i], K[i] / S[i]) for i in np.where(bad)[0][:5]]
    # Everywhere else the solver either recovers a vol that reprices, or says why not.
    solved = (status == IvStatus.OK) & ~well_posed
    repriced = bs_price(S, K, T, r, q, iv, calls)
    assert np.all(np.abs(repriced[solved] - price[solved]) <= 1e-12 * S[solved])
    assert np.all(
        np.isin(status[~well_posed], [s.value for s in IvStatus if s != IvStatus.NO_CONVERGENCE])
    )


def test_no_vol_outside_the_no_arbitrage_bounds(grid: dict[str, np.ndarray]) -> None:
    S, K, T, r, q, calls = (grid[k] for k in ("S", "K", "T", "r", "q", "is_call"))
    w = np.where(calls, 1.0, -1.0)
    intrinsic = np.maximum(w * (S * np.exp(-q * T) - K * np.exp(-r * T)), 0.0)
    upper = np.where(calls, S * np.exp(-q * T), K * np.exp(-r * T))
    itm = intrinsic > 1e-3 * S
    iv, status = implied_vol_with_status(
        intrinsic[itm] * (1 - 1e-6), S[itm], K[itm], T[itm], r[itm], q[itm], calls[itm]
    )
    assert np.all(np.isnan(iv)) and np.all(status == IvStatus.BELOW_INTRINSIC)
    iv, status = implied_vol_with_status(upper * (1 + 1e-9), S, K, T, r, q, calls)
    assert np.all(np.isnan(iv)) and np.all(status == IvStatus.ABOVE_UPPER_BOUND)


@pytest.mark.parametrize(
    ("S", "K", "T", "r", "q", "sigma", "is_call", "expected", "decimals"),
    [
        # Hull, Options, Futures and Other Derivatives, example 15.6 (r = 10 %, no dividends).
        (42.0, 40.0, 0.5, 0.10, 0.0, 0.20, True, 4.76, 2),
        (42.0, 40.0, 0.5, 0.10, 0.0, 0.20, False, 0.81, 2),
        # Haug, The Complete Guide to Option Pricing Formulas (2007), generalised BSM with
        # continuous dividend yield (b = r - q): S=100, K=95, T=0.5, r=10 %, q=5 %, σ=20 %
        # put = 2.4648.
        (100.0, 95.0, 0.5, 0.10, 0.05, 0.20, False, 2.4648, 4),
        # Haug (2007) 1.1.1 Black-Scholes: S=60, K=65, T=0.25, r=8 %, σ=30 % call = 2.1334.
        (60.0, 65.0, 0.25, 0.08, 0.0, 0.30, True, 2.1334, 4),
    ],
)
def test_textbook_values(  # noqa: PLR0917
    S: float,
    K: float,
    T: float,
    r: float,
    q: float,
    sigma: float,
    is_call: bool,
    expected: float,
    decimals: int,
) -> None:
    assert round(float(bs_price(S, K, T, r, q, sigma, is_call)), decimals) == expected
    iv, status = implied_vol_with_status(
        bs_price(S, K, T, r, q, sigma, is_call), S, K, T, r, q, is_call
    )
    assert status == IvStatus.OK and abs(float(iv) - sigma) < 1e-13


def test_haug_greeks_examples() -> None:
    # Haug (2007), generalised BSM greeks. Delta: S=105, K=100, T=0.5, r=10 %, b=0 (q = r),
    # σ=36 %: call 0.5946, put -0.3566.
    assert round(float(bs_greeks(105.0, 100.0, 0.5, 0.10, 0.10, 0.36, True).delta), 4) == 0.5946
    assert round(float(bs_greeks(105.0, 100.0, 0.5, 0.10, 0.10, 0.36, False).delta), 4) == -0.3566
    # Gamma and vega: S=55, K=60, T=0.75, r=b=10 %, σ=30 %: gamma 0.0278, vega 18.9358 (per
    # 1.00 of vol).
    greeks = bs_greeks(55.0, 60.0, 0.75, 0.10, 0.0, 0.30, True)
    assert round(float(greeks.gamma), 4) == 0.0278
    assert round(float(greeks.vega), 4) == 18.9358


def test_mills_ratio_and_normal_cdf_against_mpmath() -> None:
    import mpmath as mp

    ys = np.concatenate([np.linspace(0.0, 14.0, 2801), np.geomspace(14.0, 1e8, 200)])
    with mp.workdps(40):
        for y in ys:
            exact = mp.ncdf(-y) / mp.npdf(y)
            assert abs(mills_ratio(float(y)) / float(exact) - 1.0) < 4 * EPS, y
        # erfc(-z / sqrt 2): rounding z / sqrt 2 costs ~z² ulps of relative accuracy far out.
        for z in np.linspace(-37.0, 8.0, 451):
            exact_cdf = float(mp.ncdf(z))
            assert abs(norm_cdf(float(z)) - exact_cdf) <= 4 * EPS * max(1.0, z * z) * exact_cdf, z


def test_extreme_but_valid_corners_are_finite() -> None:
    # K/S 0.25..4, T 1 hour..10 years, sigma 0.5 %..500 %: prices and greeks exist.
    S = 100.0
    K = np.array([25.0, 400.0])[:, None, None]
    T = np.array([1.0 / 8760.0, 10.0])[None, :, None]
    sigma = np.array([0.005, 5.0])[None, None, :]
    for is_call in (True, False):
        greeks = bs_greeks(S, K, T, 0.05, 0.02, sigma, is_call)
        for field in ("price", "delta", "gamma", "vega", "theta", "rho"):
            assert np.all(np.isfinite(getattr(greeks, field))), field
        assert np.all(greeks.price >= 0.0) and np.all(greeks.vega >= 0.0)


def test_at_the_money_vol_round_trip_to_machine_precision() -> None:
    sigma = np.array([0.005, 0.05, 0.2, 1.0, 5.0])
    T = np.array([1.0 / 8760.0, 1.0 / 365.0, 0.25, 1.0, 10.0])[:, None]
    price = bs_price(100.0, 100.0, T, 0.0, 0.0, sigma, True)
    iv, status = implied_vol_with_status(price, 100.0, 100.0, T, 0.0, 0.0, True)
    assert np.all(status == IvStatus.OK)
    # sigma sqrt(T) = 5 x sqrt(10) = 15.8 puts the price within 1e-14 of its upper bound S:
    # vega is ~1e-12 there and the price no longer pins the vol; everything else must be exact.
    pinned = sigma * np.sqrt(T) < 10.0
    assert np.max(np.abs(iv - sigma)[pinned]) < 1e-12
    assert math.isfinite(float(iv.sum()))
