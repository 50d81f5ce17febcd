"""Public API shape, broadcasting, edge cases and status codes of the BSM kernels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.pricing import _kernels
from agent.pricing.bsm import IvStatus, bs_greeks, bs_price, implied_vol, implied_vol_with_status


def test_hull_textbook_example() -> None:
    # Hull, Options, Futures and Other Derivatives, example 15.6: S=42, K=40, r=10 %, σ=20 %,
    # T=0.5 -> call 4.76, put 0.81.
    call = float(bs_price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, True))
    put = float(bs_price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, False))
    assert round(call, 2) == 4.76
    assert round(put, 2) == 0.81


def test_status_codes_mirror_kernel_constants() -> None:
    assert IvStatus.OK == _kernels.STATUS_OK == 0
    assert len({int(s) for s in IvStatus}) == len(IvStatus)


def test_broadcasting_scalars_and_arrays() -> None:
    strikes = np.array([[90.0], [100.0], [110.0]])
    expiries = np.array([0.1, 0.5, 1.0, 2.0])
    prices = bs_price(100.0, strikes, expiries, 0.03, 0.01, 0.25, True)
    assert prices.shape == (3, 4)
    for i, k in enumerate(strikes[:, 0]):
        for j, t in enumerate(expiries):
            assert prices[i, j] == bs_price(100.0, k, t, 0.03, 0.01, 0.25, True)
    greeks = bs_greeks(
        100.0, strikes, expiries, 0.03, 0.01, 0.25, np.array([True, False, True, False])
    )
    assert greeks.delta.shape == (3, 4)
    assert np.all(greeks.delta[:, 1] < 0) and np.all(greeks.delta[:, 0] > 0)
    assert bs_price(100.0, 100.0, 1.0, 0.0, 0.0, 0.2, True).shape == ()


def test_parallel_and_serial_paths_agree() -> None:
    rng = np.random.default_rng(7)
    n = 50_000
    K = rng.uniform(50, 150, n)
    T = rng.uniform(0.01, 2, n)
    sigma = rng.uniform(0.05, 1.0, n)
    calls = rng.random(n) < 0.5
    big = bs_greeks(100.0, K, T, 0.02, 0.01, sigma, calls)
    small = bs_greeks(100.0, K[:1000], T[:1000], 0.02, 0.01, sigma[:1000], calls[:1000])
    np.testing.assert_array_equal(big.vega[:1000], small.vega)
    iv_big = implied_vol(big.price, 100.0, K, T, 0.02, 0.01, calls)
    iv_small = implied_vol(small.price, 100.0, K[:1000], T[:1000], 0.02, 0.01, calls[:1000])
    np.testing.assert_array_equal(iv_big[:1000], iv_small)


def test_expiry_gives_intrinsic_and_step_delta() -> None:
    greeks = bs_greeks(100.0, np.array([90.0, 100.0, 110.0]), 0.0, 0.05, 0.0, 0.3, True)
    np.testing.assert_array_equal(greeks.price, [10.0, 0.0, 0.0])
    np.testing.assert_array_equal(greeks.delta, [1.0, 0.5, 0.0])
    for name in ("gamma", "vega", "theta", "rho"):
        np.testing.assert_array_equal(getattr(greeks, name), 0.0)
    puts = bs_greeks(100.0, np.array([90.0, 110.0]), 0.0, 0.05, 0.0, 0.3, False)
    np.testing.assert_array_equal(puts.price, [0.0, 10.0])
    np.testing.assert_array_equal(puts.delta, [0.0, -1.0])


def test_zero_vol_is_discounted_forward_intrinsic() -> None:
    S, K, T, r, q = 100.0, 95.0, 0.5, 0.05, 0.02
    greeks = bs_greeks(S, K, T, r, q, 0.0, True)
    expected = S * math.exp(-q * T) - K * math.exp(-r * T)
    assert float(greeks.price) == pytest.approx(expected, rel=1e-15)
    assert float(greeks.delta) == pytest.approx(math.exp(-q * T), rel=1e-15)
    assert float(greeks.gamma) == 0.0 and float(greeks.vega) == 0.0
    put = bs_price(S, K, T, r, q, 0.0, False)
    assert float(put) == 0.0


def test_invalid_inputs_give_nan_never_raise() -> None:
    bad = [
        (math.nan, 100.0, 1.0, 0.0, 0.0, 0.2),
        (100.0, -1.0, 1.0, 0.0, 0.0, 0.2),
        (0.0, 100.0, 1.0, 0.0, 0.0, 0.2),
        (100.0, 100.0, -0.1, 0.0, 0.0, 0.2),
        (100.0, 100.0, 1.0, 0.0, 0.0, -0.2),
        (100.0, 100.0, math.inf, 0.0, 0.0, 0.2),
    ]
    for S, K, T, r, q, sigma in bad:
        greeks = bs_greeks(S, K, T, r, q, sigma, True)
        assert all(math.isnan(float(getattr(greeks, f))) for f in ("price", "delta", "vega"))


def test_implied_vol_status_codes() -> None:
    S, K, T, r, q = 100.0, 100.0, 0.5, 0.03, 0.01
    fair = float(bs_price(S, K, T, r, q, 0.3, True))
    prices = np.array([fair, -1.0, 0.0, S, math.nan, fair])
    expiries = np.array([T, T, T, T, T, 0.0])
    iv, status = implied_vol_with_status(prices, S, K, expiries, r, q, True)
    assert iv[0] == pytest.approx(0.3, abs=1e-13)
    assert list(status) == [
        IvStatus.OK,
        IvStatus.NON_POSITIVE_PRICE,
        IvStatus.NON_POSITIVE_PRICE,
        IvStatus.ABOVE_UPPER_BOUND,
        IvStatus.INVALID_INPUT,
        IvStatus.EXPIRED,
    ]
    assert np.all(np.isnan(iv[1:]))
    # An in-the-money call below its discounted forward intrinsic value.
    intrinsic = S * math.exp(-q * T) - 80.0 * math.exp(-r * T)
    iv_below, status_below = implied_vol_with_status(intrinsic - 0.01, S, 80.0, T, r, q, True)
    assert math.isnan(float(iv_below)) and status_below == IvStatus.BELOW_INTRINSIC
    # A put above the strike's present value.
    _, status_put = implied_vol_with_status(80.0 * math.exp(-r * T), S, 80.0, T, r, q, False)
    assert status_put == IvStatus.ABOVE_UPPER_BOUND


def test_price_at_intrinsic_has_zero_vol() -> None:
    S, K, T, r, q = 100.0, 80.0, 0.5, 0.03, 0.01
    at_intrinsic = bs_price(S, K, T, r, q, 0.0, True)
    iv, status = implied_vol_with_status(at_intrinsic, S, K, T, r, q, True)
    assert float(iv) == 0.0 and status == IvStatus.OK
