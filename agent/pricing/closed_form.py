"""Black-Scholes-Merton price and greeks in plain numpy: no numba, no scipy.

Why this exists: importing numba and initialising its target costs every process ~55 MiB.
That buys a lot where whole chains are enriched (the scanners: :mod:`agent.pricing.bsm` and
:mod:`agent.pricing.chain` stay the bulk path), and nothing where a process prices a handful of
contracts (Risk's stress test) or a few thousand at a time (the simulated market, whose
quotes are a pure numpy pipeline). Those processes use this module and never load numba.

Same model, conventions, units, edge cases and NaN policy as :mod:`agent.pricing.bsm` (read
its docstring): European options with a continuous dividend yield ``q``; inputs broadcast by
numpy rules and are converted to float64 (``is_call`` to bool); outputs are float64 arrays of
the broadcast shape (0-d for all-scalar inputs). price USD per share; delta per USD of spot;
gamma per USD²; vega USD per 1.00 of vol; theta USD per year of calendar time (dV/dt); rho
USD per 1.00 of rate. ``T == 0``: intrinsic value, delta 0 or ±1 (±0.5 exactly at the money),
other greeks 0. ``sigma == 0``: discounted forward intrinsic value, gamma = vega = 0. NaN or
infinite inputs, ``S <= 0``, ``K <= 0``, ``T < 0`` or ``sigma < 0``: NaN. Never raises on
bad numbers (floating-point warnings are silenced).

The formulas are those of the kernels (``_kernels.price_greeks_scalar``), including the normal
CDF N(z) = n(z) R(|z|) from the Mills ratio tables of :mod:`agent.pricing._mills` (about 1 ulp,
accurate deep in the tails), so the two agree to rounding (tests/unit/pricing/
test_closed_form.py). Implied vol stays in :mod:`agent.pricing.bsm` (an iterative solver is
where the kernels pay off).

Cost: ~50 numpy operations per call, so a few µs per option below ~100 options and about
0.1 µs per option for long arrays; the kernels are 10-50 times faster in bulk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.pricing._mills import MILLS_TABLE, MILLS_TAIL, MILLS_TAIL_START, MILLS_WIDTH

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ArrayLike = npt.ArrayLike

__all__ = ["Greeks", "bs_greeks", "bs_price"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_MILLS_INTERVALS_PER_UNIT = 1.0 / MILLS_WIDTH
_MILLS_LAST_INTERVAL = MILLS_TABLE.shape[0] - 1
_MILLS_TAIL_SCALE = 2.0 * MILLS_TAIL_START * MILLS_TAIL_START
_MILLS_BY_POWER = np.ascontiguousarray(MILLS_TABLE.T)
"""Row j: the coefficient of u^j on every interval."""


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price and greeks of many options, one float64 array each (the broadcast shape).

    Units: price USD; delta per USD of spot; gamma per USD²; vega USD per 1.00 of vol;
    theta USD per year (calendar, dV/dt); rho USD per 1.00 of rate. Returned by this module
    and by :func:`agent.pricing.bsm.bs_greeks` alike.
    """

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray


def _mills_ratio(y: FloatArray) -> FloatArray:
    """R(y) = N(-y) / n(y) for y >= 0 (NaN in, NaN out; inf gives 0), elementwise."""
    near = y < MILLS_TAIL_START
    # Table part (polynomials in u on intervals of MILLS_WIDTH), evaluated everywhere on a
    # clipped index and selected below: cheaper than boolean gathers. One row of
    # coefficients per power, gathered contiguously.
    scaled = np.where(near, y, 0.0) * _MILLS_INTERVALS_PER_UNIT
    k = np.minimum(scaled.astype(np.intp), _MILLS_LAST_INTERVAL)
    u = 2.0 * (scaled - k) - 1.0
    c = _MILLS_BY_POWER[:, k]
    u2 = u * u
    u4 = u2 * u2
    u8 = u4 * u4
    # Estrin's scheme, as in the kernels
    q0 = (c[0] + c[1] * u) + (c[2] + c[3] * u) * u2
    q1 = (c[4] + c[5] * u) + (c[6] + c[7] * u) * u2
    q2 = (c[8] + c[9] * u) + (c[10] + c[11] * u) * u2
    table = (q0 + q1 * u4) + (q2 + c[12] * u4) * u8
    if near.all():
        return np.asarray(table, dtype=np.float64)
    # Tail: y R(y) is smooth in 1 / y^2.
    t = _MILLS_TAIL_SCALE / (y * y) - 1.0
    acc = np.full_like(y, MILLS_TAIL[-1])
    for coefficient in MILLS_TAIL[-2::-1]:
        acc = acc * t + coefficient
    return np.asarray(np.where(near, table, acc / y), dtype=np.float64)


def _norm_cdf_pair(
    z1: FloatArray, pdf1: FloatArray, z2: FloatArray, pdf2: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(N(z1), N(z2)) given pdf = n(z): n(z) R(-z) below 0, 1 - n(z) R(z) above.

    Both in one pass over stacked arrays: for the short arrays of a chain or a stress test,
    the cost is mostly per numpy call, not per element."""
    shape = np.broadcast_shapes(z1.shape, pdf1.shape, z2.shape, pdf2.shape)
    z = np.empty((2, *shape))
    z[0] = z1
    z[1] = z2
    pdf = np.empty((2, *shape))
    pdf[0] = pdf1
    pdf[1] = pdf2
    tail = pdf * _mills_ratio(np.abs(z))
    n = np.where(z <= 0.0, tail, 1.0 - tail)
    return n[0], n[1]


@dataclass(frozen=True, slots=True)
class _Inputs:
    shape: tuple[int, ...]
    S: FloatArray
    K: FloatArray
    T: FloatArray
    r: FloatArray
    q: FloatArray
    sigma: FloatArray
    w: FloatArray
    """+1 for a call, -1 for a put."""


def _inputs(  # noqa: PLR0917
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> _Inputs:
    # At least 1-d so that numpy keeps arrays (0-d operands would give numpy scalars);
    # operands are not expanded: size-1 ones broadcast in every operation.
    values = [np.asarray(v, dtype=np.float64) for v in (S, K, T, r, q, sigma)]
    calls = np.asarray(is_call, dtype=np.bool_)
    shape = np.broadcast(*values, calls).shape
    values = [v.reshape(1) if v.ndim == 0 else v for v in values]
    w = np.where(calls, 1.0, -1.0).reshape(calls.shape or (1,))
    S_, K_, T_, r_, q_, sigma_ = values
    return _Inputs(shape, S_, K_, T_, r_, q_, sigma_, w)


def _valid(x: _Inputs) -> BoolArray:
    """All finite, S and K > 0, T and sigma >= 0 (comparisons with NaN are False)."""
    return np.asarray(
        (x.S > 0.0)
        & (x.K > 0.0)
        & (x.T >= 0.0)
        & (x.sigma >= 0.0)
        & np.isfinite(x.S)
        & np.isfinite(x.K)
        & np.isfinite(x.T)
        & np.isfinite(x.sigma)
        & np.isfinite(x.r)
        & np.isfinite(x.q),
        dtype=np.bool_,
    )


def _full(value: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    """``value`` (a result computed here, never an input) as a float64 array of ``shape``."""
    if value.shape == shape:
        return value
    if value.size == 1 and not shape:
        return value.reshape(())
    return np.array(np.broadcast_to(value, shape or (1,)), dtype=np.float64).reshape(shape)


def bs_price(  # noqa: PLR0917
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> FloatArray:
    """Black-Scholes-Merton price in USD per share (units and edge cases: module docstring)."""
    x = _inputs(S, K, T, r, q, sigma, is_call)
    w = x.w
    with np.errstate(all="ignore"):
        valid = _valid(x)
        S_q = x.S * np.exp(-x.q * x.T)
        K_r = x.K * np.exp(-x.r * x.T)
        v = x.sigma * np.sqrt(x.T)
        forward_ratio = S_q / K_r
        d1 = np.log(forward_ratio) / v + 0.5 * v
        d2 = d1 - v
        pdf1 = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
        n1, n2 = _norm_cdf_pair(w * d1, pdf1, w * d2, pdf1 * forward_ratio)
        # Rounding can leave the price an ulp below the discounted forward intrinsic value;
        # + 0.0 turns -0.0 into 0.0.
        fwd_intrinsic = np.maximum(w * (S_q - K_r), 0.0)
        price = np.maximum(w * (S_q * n1 - K_r * n2), fwd_intrinsic) + 0.0
        smooth = valid & (v > 0.0)
        if not smooth.all():
            expired = valid & ~smooth & (x.T == 0.0)
            flat = valid & ~smooth & ~expired  # sigma == 0 (or sigma sqrt(T) underflows)
            price = np.select(
                [smooth, expired, flat],
                [price, np.maximum(w * (x.S - x.K), 0.0) + 0.0, fwd_intrinsic + 0.0],
                np.nan,
            )
    return _full(price, x.shape)


def bs_greeks(  # noqa: PLR0917
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> Greeks:
    """Price and greeks: delta, gamma, vega (per 1.00 vol), theta (per year), rho (per 1.00)."""
    x = _inputs(S, K, T, r, q, sigma, is_call)
    w = x.w
    with np.errstate(all="ignore"):
        valid = _valid(x)
        sqrt_T = np.sqrt(x.T)
        df_q = np.exp(-x.q * x.T)
        S_q = x.S * df_q
        K_r = x.K * np.exp(-x.r * x.T)
        v = x.sigma * sqrt_T
        inv_v = 1.0 / v
        forward_ratio = S_q / K_r
        d1 = np.log(forward_ratio) * inv_v + 0.5 * v
        d2 = d1 - v
        pdf1 = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
        # S e^-qT n(d1) = K e^-rT n(d2) saves an exp.
        n1, n2 = _norm_cdf_pair(w * d1, pdf1, w * d2, pdf1 * forward_ratio)
        pdf_term = S_q * pdf1
        fwd_moneyness = w * (S_q - K_r)
        price = np.maximum(w * (S_q * n1 - K_r * n2), np.maximum(fwd_moneyness, 0.0)) + 0.0
        delta = w * df_q * n1
        gamma = pdf_term * inv_v / (x.S * x.S)
        vega = pdf_term * sqrt_T
        # sigma / (2 sqrt(T)) = sigma^2 / (2 v)
        theta = w * (x.q * S_q * n1 - x.r * K_r * n2) - 0.5 * pdf_term * x.sigma * x.sigma * inv_v
        rho = w * K_r * x.T * n2
        smooth = valid & (v > 0.0)
        if not smooth.all():
            expired = valid & ~smooth & (x.T == 0.0)
            flat = valid & ~smooth & ~expired  # sigma == 0 (or sigma sqrt(T) underflows)
            moneyness = w * (x.S - x.K)
            # N(d1) and N(d2) of a certain outcome: 1 in the money, 0.5 exactly at it, else 0
            expired_n = np.where(moneyness > 0.0, 1.0, np.where(moneyness == 0.0, 0.5, 0.0))
            flat_n = np.where(fwd_moneyness > 0.0, 1.0, np.where(fwd_moneyness == 0.0, 0.5, 0.0))
            cases = [smooth, expired, flat]

            def pick(
                smooth_value: FloatArray, expired_value: ArrayLike, flat_value: ArrayLike
            ) -> FloatArray:
                return np.asarray(
                    np.select(cases, [smooth_value, expired_value, flat_value], np.nan),
                    dtype=np.float64,
                )

            price = pick(
                price, np.maximum(moneyness, 0.0) + 0.0, np.maximum(fwd_moneyness, 0.0) + 0.0
            )
            expired_delta = np.where(expired_n == 0.0, 0.0, w * expired_n)  # 0.0, never -0.0
            delta = pick(delta, expired_delta, w * df_q * flat_n)
            gamma = pick(gamma, 0.0, 0.0)
            vega = pick(vega, 0.0, 0.0)
            theta = pick(theta, 0.0, w * (x.q * S_q - x.r * K_r) * flat_n)
            rho = pick(rho, 0.0, w * K_r * x.T * flat_n)
    return Greeks(*(_full(a, x.shape) for a in (price, delta, gamma, vega, theta, rho)))
