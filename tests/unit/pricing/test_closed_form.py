"""The numpy closed form (:mod:`agent.pricing.closed_form`) against the numba kernels
(:mod:`agent.pricing.bsm`): same values to rounding, same edge cases, same NaN policy, same
broadcasting; and it loads neither numba nor scipy."""

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
        "from agent.pricing.closed_form import bs_greeks, bs_price\n"
        "bs_greeks([90.0, 100.0, 1e9], 100.0, [0.0, 0.5, 1.0], 0.04, 0.0, [0.2, 0.0, 0.3], True)\n"
        "bs_price(100.0, 100.0, 0.5, 0.04, 0.0, 0.2, False)\n"
        "import agent.pricing, agent.pricing.units\n"
        "print(sorted(m for m in ('numba', 'scipy') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stderr
