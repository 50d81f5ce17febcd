"""Property tests of the BSM kernels: parity, bounds, monotonicity, vega > 0, IV round trip."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from agent.pricing.bsm import IvStatus, bs_greeks, bs_price, implied_vol_with_status

spot = st.floats(1.0, 5000.0)
moneyness = st.floats(0.25, 4.0)  # K / S
expiry = st.floats(1.0 / 8760.0, 10.0)  # 1 hour .. 10 years
vol = st.floats(0.005, 5.0)
rate = st.floats(-0.01, 0.10)
dividend = st.floats(0.0, 0.08)


def _price(  # noqa: PLR0917
    S: float, K: float, T: float, r: float, q: float, sigma: float, call: bool
) -> float:
    return float(bs_price(S, K, T, r, q, sigma, call))


@given(spot, moneyness, expiry, rate, dividend, vol)
def test_put_call_parity(  # noqa: PLR0917
    S: float, m: float, T: float, r: float, q: float, sigma: float
) -> None:
    K = S * m
    call, put = _price(S, K, T, r, q, sigma, True), _price(S, K, T, r, q, sigma, False)
    forward_value = S * math.exp(-q * T) - K * math.exp(-r * T)
    assert abs((call - put) - forward_value) <= 1e-12 * (S + K)


@given(spot, moneyness, expiry, rate, dividend, vol, st.booleans())
def test_price_within_no_arbitrage_bounds(  # noqa: PLR0917
    S: float, m: float, T: float, r: float, q: float, sigma: float, call: bool
) -> None:
    K = S * m
    price = _price(S, K, T, r, q, sigma, call)
    S_q, K_r = S * math.exp(-q * T), K * math.exp(-r * T)
    lower = max(S_q - K_r, 0.0) if call else max(K_r - S_q, 0.0)
    upper = S_q if call else K_r
    assert lower <= price <= upper * (1 + 1e-15)


@given(spot, moneyness, expiry, rate, dividend, vol, vol, st.booleans())
def test_price_increases_with_vol(  # noqa: PLR0917
    S: float, m: float, T: float, r: float, q: float, sigma1: float, sigma2: float, call: bool
) -> None:
    K = S * m
    low, high = sorted((sigma1, sigma2))
    assert _price(S, K, T, r, q, low, call) <= _price(S, K, T, r, q, high, call) + 1e-13 * S


@given(spot, moneyness, moneyness, expiry, rate, dividend, vol)
def test_monotone_in_strike(  # noqa: PLR0917
    S: float, m1: float, m2: float, T: float, r: float, q: float, sigma: float
) -> None:
    K1, K2 = sorted((S * m1, S * m2))
    tol = 1e-13 * (S + K2)
    assert _price(S, K1, T, r, q, sigma, True) >= _price(S, K2, T, r, q, sigma, True) - tol
    assert _price(S, K1, T, r, q, sigma, False) <= _price(S, K2, T, r, q, sigma, False) + tol


@given(
    spot,
    st.floats(0.5, 2.0),
    st.floats(1.0 / 365.0, 5.0),
    rate,
    dividend,
    st.floats(0.02, 2.0),
    st.booleans(),
)
def test_vega_and_gamma_positive(  # noqa: PLR0917
    S: float, m: float, T: float, r: float, q: float, sigma: float, call: bool
) -> None:
    greeks = bs_greeks(S, S * m, T, r, q, sigma, call)
    assert float(greeks.vega) >= 0.0 and float(greeks.gamma) >= 0.0
    d1 = (math.log(1.0 / m) + (r - q + sigma * sigma / 2) * T) / (sigma * math.sqrt(T))
    if abs(d1) < 30.0:  # beyond, the density n(d1) underflows towards 0 for real
        assert float(greeks.vega) > 0.0 and float(greeks.gamma) > 0.0
    delta = float(greeks.delta)
    assert (0.0 <= delta <= 1.0) if call else (-1.0 <= delta <= 0.0)


@given(spot, moneyness, expiry, rate, dividend, vol, st.booleans())
def test_implied_vol_round_trip(  # noqa: PLR0917
    S: float, m: float, T: float, r: float, q: float, sigma: float, call: bool
) -> None:
    K = S * m
    greeks = bs_greeks(S, K, T, r, q, sigma, call)
    price, vega = float(greeks.price), float(greeks.vega)
    intrinsic = max((1 if call else -1) * (S * math.exp(-q * T) - K * math.exp(-r * T)), 0.0)
    # Only where the price pins the vol (see tests/unit/pricing/test_accuracy.py).
    conditioning = 2.0 * np.finfo(float).eps * price / vega if vega > 0 else math.inf
    assume(conditioning < 1e-13 and price - intrinsic > 1e-12 * S and vega / S > 1e-6)
    iv, status = implied_vol_with_status(price, S, K, T, r, q, call)
    assert status == IvStatus.OK
    assert abs(float(iv) - sigma) <= max(1e-12, 20 * conditioning)


@given(spot, moneyness, expiry, rate, dividend, st.floats(-10.0, 1e6), st.booleans())
def test_implied_vol_never_raises_and_status_explains_nan(  # noqa: PLR0917
    S: float, m: float, T: float, r: float, q: float, price: float, call: bool
) -> None:
    iv, status = implied_vol_with_status(price, S, S * m, T, r, q, call)
    assert math.isnan(float(iv)) == (status != IvStatus.OK)
    if status == IvStatus.OK:
        assert float(iv) >= 0.0
        assert abs(_price(S, S * m, T, r, q, float(iv), call) - price) <= 1e-9 * max(price, S)
