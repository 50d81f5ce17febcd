"""The numpy closed form (:mod:`agent.pricing.closed_form`) against the numba kernels
(:mod:`agent.pricing.bsm`): same values to rounding, same edge cases, same NaN policy, same
broadcasting, same implied vols and status codes; and it loads neither numba nor scipy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.pricing import bsm, closed_form

FIELDS = ("price", "delta", "gamma", "vega", "theta", "rho")


def assert_same(  # noqa: PLR0917
    S: object, K: object, T: object, r: object, q: object, sigma: object, is_call: object
) -> None:
    """Both implementations agree: NaN in the same places, values to ~1e-11 relative (with
    an absolute floor for values that are differences of near-equal terms)."""
    want = bsm.bs_greeks(S, K, T, r, q, sigma, is_call)
    got = closed_form.bs_greeks(S, K, T, r, q, sigma, is_call)
    pairs = [(name, getattr(want, name), getattr(got, name)) for name in FIELDS]
    pairs.append(
        (
            "bs_price",
            bsm.bs_price(S, K, T, r, q, sigma, is_call),
            closed_form.bs_price(S, K, T, r, q, sigma, is_call),
        )
    )
    scale = np.nan_to_num(
        np.abs(np.asarray(S, dtype=np.float64)) + np.abs(np.asarray(K, dtype=np.float64)),
        nan=1.0,
        posinf=1.0,
    )
    for name, a, b in pairs:
        assert a.shape == b.shape and b.dtype == np.float64, name
        assert np.array_equal(np.isnan(a), np.isnan(b)), name
        ok = np.isnan(a) | np.isclose(a, b, rtol=1e-11, atol=1e-12 * np.max(scale))
        assert ok.all(), (name, a[~ok], b[~ok])


def random_grid(seed: int, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    S = rng.lognormal(np.log(100.0), 1.0, n)
    K = S * rng.lognormal(0.0, 0.5, n)
    T = rng.choice([1e-6, 1.0 / 365, 0.05, 0.5, 3.0], n) * rng.uniform(0.5, 1.5, n)
    r = rng.uniform(-0.02, 0.10, n)
    q = rng.uniform(0.0, 0.08, n)
    sigma = rng.uniform(0.005, 3.0, n)
    is_call = rng.random(n) < 0.5
    # edge cases among ordinary rows: expired, zero vol, at the money (spot and forward)
    T[rng.random(n) < 0.05] = 0.0
    sigma[rng.random(n) < 0.05] = 0.0
    atm = rng.random(n) < 0.05
    K[atm] = S[atm]
    return S, K, T, r, q, sigma, is_call


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_the_kernels_on_a_random_grid(seed: int) -> None:
    assert_same(*random_grid(seed, 20_000))


@given(
    st.floats(1.0, 5000.0),
    st.floats(0.25, 4.0),
    st.one_of(st.just(0.0), st.floats(1e-8, 10.0)),
    st.floats(-0.01, 0.10),
    st.floats(0.0, 0.08),
    st.one_of(st.just(0.0), st.floats(1e-4, 5.0)),
    st.booleans(),
)
@settings(max_examples=300)
def test_matches_the_kernels_per_option(  # noqa: PLR0917
    S: float, m: float, T: float, r: float, q: float, sigma: float, call: bool
) -> None:
    assert_same(S, S * m, T, r, q, sigma, call)


def test_edge_cases() -> None:
    # expired: intrinsic, delta ±1 / ±0.5 at the money / 0, other greeks 0
    calls = closed_form.bs_greeks(100.0, [90.0, 100.0, 110.0], 0.0, 0.05, 0.01, 0.2, True)
    puts = closed_form.bs_greeks(100.0, [90.0, 100.0, 110.0], 0.0, 0.05, 0.01, 0.2, False)
    assert calls.price.tolist() == [10.0, 0.0, 0.0] and puts.price.tolist() == [0.0, 0.0, 10.0]
    assert calls.delta.tolist() == [1.0, 0.5, 0.0] and puts.delta.tolist() == [0.0, -0.5, -1.0]
    assert not np.signbit(puts.delta[0])  # 0.0, not -0.0, as in the kernels
    for name in ("gamma", "vega", "theta", "rho"):
        assert not getattr(calls, name).any() and not getattr(puts, name).any()
    # zero vol: discounted forward intrinsic, gamma = vega = 0
    S, K, T, r, q = 100.0, 95.0, 0.5, 0.05, 0.02
    flat = closed_form.bs_greeks(S, K, T, r, q, 0.0, True)
    assert flat.price == pytest.approx(S * np.exp(-q * T) - K * np.exp(-r * T), rel=1e-15)
    assert flat.gamma == 0.0 and flat.vega == 0.0
    assert_same(S, [80.0, K, 120.0, S * np.exp((r - q) * T)], T, r, q, 0.0, [[True], [False]])
    # at the money, short and long
    assert_same(100.0, 100.0, [1e-9, 1e-4, 0.1, 2.0], 0.03, 0.01, 0.25, [[True], [False]])


def test_invalid_inputs_give_nan_in_both() -> None:
    nan, inf = float("nan"), float("inf")
    rows = [
        (nan, 100.0, 0.5, 0.05, 0.0, 0.2),
        (100.0, nan, 0.5, 0.05, 0.0, 0.2),
        (100.0, 100.0, nan, 0.05, 0.0, 0.2),
        (100.0, 100.0, 0.5, nan, 0.0, 0.2),
        (100.0, 100.0, 0.5, 0.05, nan, 0.2),
        (100.0, 100.0, 0.5, 0.05, 0.0, nan),
        (0.0, 100.0, 0.5, 0.05, 0.0, 0.2),
        (-1.0, 100.0, 0.5, 0.05, 0.0, 0.2),
        (100.0, 0.0, 0.5, 0.05, 0.0, 0.2),
        (100.0, 100.0, -0.1, 0.05, 0.0, 0.2),
        (100.0, 100.0, 0.5, 0.05, 0.0, -0.2),
        (inf, 100.0, 0.5, 0.05, 0.0, 0.2),
        (100.0, 100.0, inf, 0.05, 0.0, 0.2),
        (100.0, 100.0, 0.5, -inf, 0.0, 0.2),
        (100.0, 100.0, 0.5, 0.05, 0.0, inf),
    ]
    columns = [np.array(c) for c in zip(*rows, strict=True)]
    for call in (True, False):
        got = closed_form.bs_greeks(*columns, call)
        for name in FIELDS:
            assert np.isnan(getattr(got, name)).all(), name
        assert np.isnan(closed_form.bs_price(*columns, call)).all()
        assert_same(*columns, call)


def test_broadcasting_and_scalars() -> None:
    strikes = np.array([[90.0], [100.0], [110.0]])
    expiries = np.array([0.1, 0.5])
    g = closed_form.bs_greeks(100.0, strikes, expiries, 0.04, 0.01, 0.2, [[True], [False], [True]])
    assert all(getattr(g, name).shape == (3, 2) for name in FIELDS)
    assert_same(100.0, strikes, expiries, 0.04, 0.01, 0.2, [[True], [False], [True]])
    scalar = closed_form.bs_price(100.0, 100.0, 0.5, 0.04, 0.0, 0.2, True)
    assert isinstance(scalar, np.ndarray) and scalar.shape == ()
    assert float(scalar) == pytest.approx(
        float(bsm.bs_price(100.0, 100.0, 0.5, 0.04, 0.0, 0.2, True)), rel=1e-13
    )
    empty = closed_form.bs_price(np.zeros(0), 100.0, 0.5, 0.04, 0.0, 0.2, True)
    assert empty.shape == (0,)
    out = closed_form.bs_price([100.0, 101.0], 100.0, 0.5, 0.04, 0.0, 0.2, True)
    out[0] = 1.0  # results are fresh arrays the caller owns


def test_greeks_is_one_type_for_both() -> None:
    assert bsm.Greeks is closed_form.Greeks


def test_loads_neither_numba_nor_scipy() -> None:
    code = (
        "import sys\n"
        "from agent.pricing.closed_form import bs_greeks, bs_price, implied_vol\n"
        "bs_greeks([90.0, 100.0, 1e9], 100.0, [0.0, 0.5, 1.0], 0.04, 0.0, [0.2, 0.0, 0.3], True)\n"
        "bs_price(100.0, 100.0, 0.5, 0.04, 0.0, 0.2, False)\n"
        "iv = implied_vol([5.0, 0.0, 1e-300, 50.0], 100.0, [100.0, 90.0, 50.0, 200.0],"
        " [0.5, 0.5, 0.1, 2.0], 0.04, 0.01, [True, False, False, True])\n"
        "import math\n"
        "assert 0.0 < iv[0] < 1.0 and all(math.isnan(v) for v in iv[1:3]), iv\n"
        "import agent.pricing, agent.pricing.units\n"
        "print(sorted(m for m in ('numba', 'scipy') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stderr


# --------------------------------------------------------------------------- implied vol

IV_REL_TOL = 1e-9
MIN_VOL_ELASTICITY = 1e-4
"""Vols are compared where sigma * vega / price >= this: a 1 % vol move changes the price
by at least 1e-6 of itself. Below that the price's last ulps decide the vol (the two
implementations' exp and log may differ by an ulp) and no solver can agree to 1e-9."""


def iv_grid(seed: int, n: int) -> tuple[np.ndarray, ...]:
    """Fair prices on moneyness K/S 0.5-2, T 1 day-3 years, vols 3 %-300 % (log-uniform)."""
    rng = np.random.default_rng(seed)
    S = rng.lognormal(np.log(100.0), 1.0, n)
    K = S * np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))
    T = np.exp(rng.uniform(np.log(1.0 / 365), np.log(3.0), n))
    r = rng.uniform(-0.01, 0.10, n)
    q = rng.uniform(0.0, 0.08, n)
    sigma = np.exp(rng.uniform(np.log(0.03), np.log(3.0), n))
    is_call = rng.random(n) < 0.5
    return S, K, T, r, q, sigma, is_call


def assert_same_iv(  # noqa: PLR0917
    price: object, S: object, K: object, T: object, r: object, q: object, is_call: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same NaNs and status codes as the kernels; vols equal to 1e-9 relative where vol is
    resolvable (:data:`MIN_VOL_ELASTICITY`). Returns (kernel vols, closed-form vols, the
    resolvable mask)."""
    want, want_status = bsm.implied_vol_with_status(price, S, K, T, r, q, is_call)
    got, got_status = closed_form.implied_vol_with_status(price, S, K, T, r, q, is_call)
    assert got.shape == want.shape and got.dtype == np.float64
    assert got_status.dtype == np.uint8
    assert np.array_equal(np.isnan(want), np.isnan(got))
    assert np.array_equal(want_status, got_status)
    assert np.array_equal(
        closed_form.implied_vol(price, S, K, T, r, q, is_call), got, equal_nan=True
    )
    with np.errstate(all="ignore"):
        g = closed_form.bs_greeks(S, K, T, r, q, want, is_call)
        resolvable = np.isfinite(want) & (want * g.vega >= MIN_VOL_ELASTICITY * g.price)
        rel = np.abs(got - want) / want
    bad = resolvable & ~(rel < IV_REL_TOL)
    assert not bad.any(), (want[bad], got[bad])
    return want, got, resolvable


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_implied_vol_matches_the_kernels_on_a_random_grid(seed: int) -> None:
    S, K, T, r, q, sigma, is_call = iv_grid(seed, 20_000)
    price = bsm.bs_price(S, K, T, r, q, sigma, is_call)
    want, got, resolvable = assert_same_iv(price, S, K, T, r, q, is_call)
    # ~72 % of the grid is compared to 1e-9; the rest are deep in or out of the money at low
    # vol and short expiry (no time value left in the double: vol 0.0 or NaN in both).
    assert resolvable.mean() > 0.65
    # Zero vols (at intrinsic) agree except, at most, a few contracts on the rounding-noise
    # boundary (with a vega of ~1e-10).
    assert np.count_nonzero((want == 0.0) != (got == 0.0)) <= 2


def test_implied_vol_round_trip() -> None:
    S, K, T, r, q, sigma, is_call = iv_grid(3, 5_000)
    price = closed_form.bs_price(S, K, T, r, q, sigma, is_call)
    iv = closed_form.implied_vol(price, S, K, T, r, q, is_call)
    g = closed_form.bs_greeks(S, K, T, r, q, sigma, is_call)
    # prices above the floor on the normalised time value (1e-280 of sqrt(F K))
    resolvable = (price >= 1e-250 * S) & (sigma * g.vega >= MIN_VOL_ELASTICITY * price)
    assert resolvable.mean() > 0.65
    assert np.isfinite(iv[resolvable]).all()
    np.testing.assert_allclose(iv[resolvable], sigma[resolvable], rtol=1e-9)
    # price -> vol -> price holds everywhere a vol came back (0.0 at intrinsic included)
    back = closed_form.bs_price(S, K, T, r, q, iv, is_call)
    found = np.isfinite(iv)
    error = np.abs(back - price)[found]
    assert found.mean() > 0.85
    assert (error <= 1e-12 * (S + K)[found]).all(), error.max()


def test_implied_vol_edge_cases_match_the_kernels() -> None:
    nan, inf = float("nan"), float("inf")
    S, K, T, r, q = 100.0, 80.0, 0.5, 0.03, 0.01
    fair = float(closed_form.bs_price(S, 100.0, T, r, q, 0.3, True))
    at_intrinsic = float(closed_form.bs_price(S, K, T, r, q, 0.0, True))
    put_bound = 80.0 * np.exp(-r * T)
    rows = [
        # price, S, K, T, r, q, call
        (fair, S, 100.0, T, r, q, True),  # ordinary
        (at_intrinsic, S, K, T, r, q, True),  # at intrinsic: 0.0
        (at_intrinsic * (1 + 1e-15), S, K, T, r, q, True),  # within noise: 0.0
        (at_intrinsic - 0.01, S, K, T, r, q, True),  # below intrinsic
        (S * np.exp(-q * T), S, K, T, r, q, True),  # at the call bound
        (S * 2, S, K, T, r, q, True),  # above it
        (put_bound, S, K, T, r, q, False),  # at the put bound
        (0.0, S, K, T, r, q, True),  # zero price
        (-1.0, S, K, T, r, q, False),  # negative price
        (1e-300, S, 50.0, 0.1, r, q, False),  # time value too small to resolve
        (fair, S, 100.0, 0.0, r, q, True),  # expired
        (nan, S, K, T, r, q, True),
        (inf, S, K, T, r, q, True),
        (fair, nan, K, T, r, q, True),
        (fair, S, nan, T, r, q, True),
        (fair, S, K, nan, r, q, True),
        (fair, S, K, T, nan, q, True),
        (fair, S, K, T, r, nan, True),
        (fair, 0.0, K, T, r, q, True),
        (fair, S, -1.0, T, r, q, True),
        (fair, S, K, -0.1, r, q, True),
        (fair, inf, K, T, r, q, True),
        (fair, S, K, inf, r, q, True),
    ]
    columns = [np.array(c) for c in zip(*rows, strict=True)]
    iv, status = closed_form.implied_vol_with_status(*columns)
    assert 0.29 < iv[0] < 0.31
    assert iv[1] == 0.0 and iv[2] == 0.0
    assert np.isnan(iv[3:]).all()
    codes = bsm.IvStatus
    assert status.tolist() == [
        codes.OK,
        codes.OK,
        codes.OK,
        codes.BELOW_INTRINSIC,
        codes.ABOVE_UPPER_BOUND,
        codes.ABOVE_UPPER_BOUND,
        codes.ABOVE_UPPER_BOUND,
        codes.NON_POSITIVE_PRICE,
        codes.NON_POSITIVE_PRICE,
        codes.NON_POSITIVE_PRICE,
        codes.EXPIRED,
        *[codes.INVALID_INPUT] * 12,
    ]
    assert_same_iv(*columns)


def test_implied_vol_tolerances_are_the_kernels() -> None:
    from agent.pricing import _kernels

    assert closed_form._MIN_BETA == _kernels._MIN_BETA
    assert closed_form._AT_INTRINSIC_ULPS == _kernels._AT_INTRINSIC_ULPS
    assert closed_form._S_TOLERANCE == _kernels._S_TOLERANCE


def test_implied_vol_broadcasting_and_scalars() -> None:
    strikes = np.array([[90.0], [100.0], [110.0]])
    expiries = np.array([0.1, 0.5])
    calls = [[True], [False], [True]]
    price = closed_form.bs_price(100.0, strikes, expiries, 0.04, 0.01, 0.25, calls)
    iv = closed_form.implied_vol(price, 100.0, strikes, expiries, 0.04, 0.01, calls)
    assert iv.shape == (3, 2)
    np.testing.assert_allclose(iv, 0.25, rtol=1e-12)
    assert_same_iv(price, 100.0, strikes, expiries, 0.04, 0.01, calls)
    scalar = closed_form.implied_vol(float(price[1, 1]), 100.0, 100.0, 0.5, 0.04, 0.01, False)
    assert isinstance(scalar, np.ndarray) and scalar.shape == ()
    assert float(scalar) == pytest.approx(0.25, rel=1e-12)
    empty = closed_form.implied_vol(np.zeros(0), 100.0, 100.0, 0.5, 0.04, 0.0, True)
    assert empty.shape == (0,)


@given(
    st.floats(1.0, 5000.0),
    st.floats(0.5, 2.0),
    st.floats(1.0 / 365, 3.0),
    st.floats(-0.01, 0.10),
    st.floats(0.0, 0.08),
    st.floats(0.03, 3.0),
    st.booleans(),
    st.sampled_from([1.0, 1.0 - 1e-12, 1.0 + 1e-9, 0.5, 2.0]),
)
@settings(max_examples=300, deadline=None)
def test_implied_vol_matches_the_kernels_per_option(  # noqa: PLR0917
    S: float, m: float, T: float, r: float, q: float, sigma: float, call: bool, bump: float
) -> None:
    """Fair prices and prices bumped off them (some below intrinsic or above the bound)."""
    price = float(bsm.bs_price(S, S * m, T, r, q, sigma, call)) * bump
    assert_same_iv(price, S, S * m, T, r, q, call)
