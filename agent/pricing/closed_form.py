"""Black-Scholes-Merton price, greeks and implied vol in plain numpy: no numba, no scipy.

Why this exists: importing numba and initialising its target costs every process ~55 MiB.
That buys a lot where whole chains are enriched (the scanners: :mod:`agent.pricing.bsm` and
:mod:`agent.pricing.chain` stay the bulk path), and nothing where a process prices a handful of
contracts (Risk's stress test, the Monitor's marks) or a few thousand at a time (the
simulated market, whose quotes are a pure numpy pipeline). Those processes use this module
and never load numba.

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
test_closed_form.py).

:func:`implied_vol` (and :func:`implied_vol_with_status`) solve the kernels' normalised
problem (``_kernels`` module docstring: the out-of-the-money time value b(x, s) in
s = sigma sqrt(T), log objectives on either side of the inflection point, the same asymptotic
starts with the :mod:`agent.pricing._ivguess` correction, third-order Householder steps
inside a bisection bracket) with the same presolve rules, so vols, NaNs and status codes are
the kernels' (vols to 1e-9 relative wherever sigma vega >= 1e-4 price, most of them
bit-identical; below that the price's last ulps decide the vol). It is vectorised: every
unsolved option takes one step per pass (a Python loop over at most 40 iterations, usually
2-4), none per element. For the Monitor's few dozen legs that is ~0.4 ms a call (kernels:
20 µs); 2,000 options take ~1.7 ms (kernels: 0.3 ms), so whole chains stay on the kernels.

Cost: ~50 numpy operations per price/greeks call, so a few µs per option below ~100 options
and about 0.1 µs per option for long arrays; the kernels are 10-50 times faster in bulk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.pricing._ivguess import CORRECTION as GUESS_CORRECTION
from agent.pricing._ivguess import ROOT_X_MAX as GUESS_ROOT_X_MAX
from agent.pricing._ivguess import ROOT_X_MIN as GUESS_ROOT_X_MIN
from agent.pricing._ivguess import ROOT_X_STEPS as GUESS_ROOT_X_STEPS
from agent.pricing._ivguess import ZETA_MIN as GUESS_ZETA_MIN
from agent.pricing._ivguess import ZETA_STEPS as GUESS_ZETA_STEPS
from agent.pricing._mills import MILLS_TABLE, MILLS_TAIL, MILLS_TAIL_START, MILLS_WIDTH
from agent.pricing.enriched import IvStatus

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
StatusArray = npt.NDArray[np.uint8]
ArrayLike = npt.ArrayLike

__all__ = ["Greeks", "bs_greeks", "bs_price", "implied_vol", "implied_vol_with_status"]

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
    if y.ndim == 0:  # the in-place steps below need arrays, not numpy scalars
        return _mills_ratio(y.reshape(1)).reshape(())
    near = y < MILLS_TAIL_START
    # Table part (polynomials in u on intervals of MILLS_WIDTH), evaluated everywhere on a
    # clipped index and selected below: cheaper than boolean gathers. One gather per power:
    # arrays of n (a chain: tens of KiB) stay in malloc's heap, where one (13, n) block of a
    # large chain would be a fresh mmap, page-faulted on every call (3x slower in a chain).
    scaled = np.where(near, y, 0.0) * _MILLS_INTERVALS_PER_UNIT
    k = np.minimum(scaled.astype(np.intp), _MILLS_LAST_INTERVAL)
    u = 2.0 * (scaled - k) - 1.0
    c = [row[k] for row in _MILLS_BY_POWER]
    u2 = u * u
    u4 = u2 * u2
    u8 = u4 * u4
    # Estrin's scheme, as in the kernels, evaluated in place in the gathered coefficients
    # (the same sums and products, so the same bits): fewer fresh arrays to fault in.
    for j in range(0, 12, 2):  # c[j] <- c[j] + c[j+1] u
        np.multiply(c[j + 1], u, out=c[j + 1])
        np.add(c[j], c[j + 1], out=c[j])
    for j in range(0, 12, 4):  # c[j] <- c[j] + c[j+2] u2
        np.multiply(c[j + 2], u2, out=c[j + 2])
        np.add(c[j], c[j + 2], out=c[j])
    np.multiply(c[4], u4, out=c[4])  # q0 + q1 u4
    np.add(c[0], c[4], out=c[0])
    np.multiply(c[12], u4, out=c[12])  # (q2 + c12 u4) u8
    np.add(c[8], c[12], out=c[8])
    np.multiply(c[8], u8, out=c[8])
    table = np.add(c[0], c[8], out=c[0])
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


# --------------------------------------------------------------------------- implied vol
#
# Status codes: agent.pricing.enriched.IvStatus (numba-free; the kernels use the same).

_IV_OK = int(IvStatus.OK)
_IV_BELOW_INTRINSIC = int(IvStatus.BELOW_INTRINSIC)
_IV_ABOVE_UPPER_BOUND = int(IvStatus.ABOVE_UPPER_BOUND)
_IV_NON_POSITIVE_PRICE = int(IvStatus.NON_POSITIVE_PRICE)
_IV_EXPIRED = int(IvStatus.EXPIRED)
_IV_NO_CONVERGENCE = int(IvStatus.NO_CONVERGENCE)
_IV_INVALID_INPUT = int(IvStatus.INVALID_INPUT)

_EPS = float(np.finfo(np.float64).eps)
_AT_INTRINSIC_ULPS = 8.0
_MAX_ITERATIONS = 40
_MIN_BETA = 1e-280
"""Normalised time values below this (price / sqrt(F K)) are treated as zero prices."""
_S_TOLERANCE = 1e-5
"""Stop when a Householder step changes s by less than this, relative (the step before had
third-order convergence)."""
_LN_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_MILLS_AT_ZERO = math.sqrt(0.5 * math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_CORRECTION_U_SCALE = GUESS_ROOT_X_STEPS / (GUESS_ROOT_X_MAX - GUESS_ROOT_X_MIN)
_CORRECTION_V_SCALE = GUESS_ZETA_STEPS / (1.0 - GUESS_ZETA_MIN)


def _mills_pair(y1: FloatArray, y2: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(R(y1), R(y2)) in one pass over stacked arrays (y >= 0)."""
    values = _mills_ratio(np.concatenate((y1, y2)))
    return values[: y1.size], values[y1.size :]


def _inverse_norm_cdf_rough(p: FloatArray) -> FloatArray:
    """Inverse normal CDF to about 5e-4 (Abramowitz & Stegun 26.2.23): only a first guess."""
    tail = np.where(p < 0.5, p, 1.0 - p)
    t = np.sqrt(-2.0 * np.log(tail))
    z = t - (2.515517 + t * (0.802853 + t * 0.010328)) / (
        1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))
    )
    z = np.where(p < 0.5, -z, z)
    return np.asarray(np.where(p <= 0.0, -np.inf, np.where(p >= 1.0, np.inf, z)))


def _start_correction(s_c: FloatArray, zeta: FloatArray) -> FloatArray:
    """Bilinear factor from the :mod:`_ivguess` table over sqrt|x| = s_c / sqrt 2 and
    zeta = s_model / s_c; 1 outside the table (as in the kernels)."""
    root_x = s_c * _INV_SQRT2
    inside = (root_x >= GUESS_ROOT_X_MIN) & (root_x <= GUESS_ROOT_X_MAX)
    u = (np.where(inside, root_x, GUESS_ROOT_X_MIN) - GUESS_ROOT_X_MIN) * _CORRECTION_U_SCALE
    v = np.clip(
        np.nan_to_num((zeta - GUESS_ZETA_MIN) * _CORRECTION_V_SCALE, nan=0.0),
        0.0,
        float(GUESS_ZETA_STEPS),
    )
    i = np.minimum(u.astype(np.intp), GUESS_ROOT_X_STEPS - 1)
    j = np.minimum(v.astype(np.intp), GUESS_ZETA_STEPS - 1)
    fu = u - i
    fv = v - j
    row = GUESS_ZETA_STEPS + 1
    c = GUESS_CORRECTION
    o = i * row + j
    low = c[o] + (c[o + 1] - c[o]) * fv
    high = c[o + row] + (c[o + row + 1] - c[o + row]) * fv
    return np.asarray(np.where(inside, low + (high - low) * fu, 1.0))


def _start(
    beta: FloatArray, x: FloatArray, ex: FloatArray
) -> tuple[FloatArray, BoolArray, FloatArray]:
    """(s0, lower, log target) per problem b(x, s) = beta, as the kernels' ``_start``.

    ``lower``: solve ln b(s) = ln beta (below the inflection point s_c = sqrt(2|x|)), else
    -ln(exp(x/2) - b(s)) = -ln(exp(x/2) - beta). Starts from asymptotic models matched at s_c.
    """
    gap_target = ex - beta
    s_c = np.sqrt(-2.0 * x)
    r_c, r_half = _mills_pair(s_c, 0.5 * s_c)
    ratio_c = _MILLS_AT_ZERO - r_c  # b(s_c) / b'(s_c)
    log_b_c = 0.5 * x - _LN_SQRT_2PI + np.log(ratio_c)
    log_beta = np.log(beta)
    lower = log_beta < log_b_c
    # Lower: ln b(s) ~ A - B / s^2, matched in value and slope at s_c.
    B = 0.5 * s_c * s_c * s_c / ratio_c
    A = log_b_c + B / (s_c * s_c)
    s_low = np.sqrt(B / (A - log_beta))
    s_low = s_low * _start_correction(s_c, s_low / s_c)
    # Upper: exp(x/2) - b(s) ~ kappa 2 N(-s/2), matched at s_c; the tangent at s_c bounds it.
    vega_c = ex * _INV_SQRT_2PI
    b_c = vega_c * ratio_c
    tail_c = np.sqrt(ex) * _INV_SQRT_2PI * r_half
    kappa = np.where(s_c > 0.0, (ex - b_c) / (2.0 * tail_c), 1.0)
    s_high = -2.0 * _inverse_norm_cdf_rough(0.5 * gap_target / kappa)
    s_high = np.maximum(s_high, s_c + (beta - b_c) / vega_c)
    s = np.where(lower, s_low, s_high)
    s = np.where((s > 0.0) & np.isfinite(s), s, np.maximum(s_c, 0.5))
    return s, lower, np.where(lower, log_beta, np.log(gap_target))


def _solve_normalized(beta: FloatArray, x: FloatArray, ex: FloatArray) -> FloatArray:
    """s = sigma sqrt(T) with b(x, s) = beta (x <= 0, 0 < beta < exp(x/2)); NaN without
    convergence. Every unsolved problem takes one bracketed Householder step per pass."""
    s, lower, target = _start(beta, x, ex)
    result = np.full(s.shape, np.nan)
    active = np.arange(s.size)
    lo = np.zeros(s.size)
    hi = np.full(s.size, np.inf)
    for _ in range(_MAX_ITERATIONS):
        if active.size == 0:
            break
        x_a = x[active]
        ex_a = ex[active]
        lower_a = lower[active]
        target_a = target[active]
        inv_s = 1.0 / s
        a = -x_a * inv_s
        t = 0.5 * s
        a2 = a * a
        log_vega = -0.5 * (a2 + t * t) - _LN_SQRT_2PI
        r2 = a2 * inv_s - 0.25 * s  # b'' / b'
        r3 = r2 * r2 - 3.0 * a2 * inv_s * inv_s - 0.25  # b(3) / b'
        r_near, r_far = _mills_pair(np.abs(a - t), a + t)
        vega = np.exp(log_vega)
        a_ge_t = a >= t
        # Lower objective f = ln b - ln beta (1 / f' = b / b'); upper f = ln(gap target) -
        # ln(exp(x/2) - b) (1 / f' = (exp(x/2) - b) / b'). Either ratio is a difference or
        # a sum of the two Mills ratios, or comes from b itself where that is accurate.
        ratio = r_near - r_far  # b / b' for a >= t
        total = r_near + r_far  # (exp(x/2) - b) / b' for a < t
        b = ex_a - vega * total  # a < t
        gap = ex_a - vega * ratio  # a >= t
        collapsed = lower_a & a_ge_t & ~(ratio > 0.0)  # cancelled to nothing: far below
        f = np.where(
            lower_a,
            np.where(a_ge_t, log_vega + np.log(ratio), np.log(b)) - target_a,
            np.where(a_ge_t, target_a - np.log(gap), target_a - log_vega - np.log(total)),
        )
        inv_f1 = np.where(
            lower_a, np.where(a_ge_t, ratio, b / vega), np.where(a_ge_t, gap / vega, total)
        )
        f = np.where(collapsed, -np.inf, f)
        inv_f1 = np.where(collapsed, 0.0, inv_f1)
        m = np.where(lower_a, -1.0, 1.0) / inv_f1  # -lambda below, +mu above
        g = r2 + m
        d = r3 + 3.0 * m * r2 + 2.0 * m * m
        lo_a = np.where(f < 0.0, np.maximum(lo, s), lo)
        hi_a = np.where(f > 0.0, np.minimum(hi, s), hi)
        nu = -f * inv_f1
        denominator = 1.0 + g * nu + d * nu * nu * (1.0 / 6.0)
        step = nu * (1.0 + 0.5 * g * nu) / denominator
        step = np.where((denominator > 0.0) & np.isfinite(step), step, nu)  # else Newton
        converged = (f == 0.0) | (np.abs(step) <= _S_TOLERANCE * s)
        s_next = np.where(f != 0.0, s + step, s)
        # A step that leaves the bracket (or could not be computed) bisects instead.
        off = ~converged & ~((lo_a < s_next) & (s_next < hi_a))
        middle = 0.5 * (lo_a + hi_a)
        bisected = np.where(hi_a == np.inf, 2.0 * s, np.where(lo_a == 0.0, 0.5 * hi_a, middle))
        exhausted = (hi_a != np.inf) & (lo_a != 0.0) & ((middle == lo_a) | (middle == hi_a))
        converged = converged | (off & exhausted)
        s_next = np.where(off, bisected, s_next)
        result[active[converged]] = s_next[converged]
        keep = ~converged
        active = active[keep]
        s, lo, hi = s_next[keep], lo_a[keep], hi_a[keep]
    return result


def implied_vol_with_status(  # noqa: PLR0917
    price: ArrayLike,
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    is_call: ArrayLike,
) -> tuple[FloatArray, StatusArray]:
    """Implied vol (per sqrt(year)) of BSM prices (USD per share), and a status per element.

    Same semantics as :func:`agent.pricing.bsm.implied_vol_with_status`; the status codes are
    the values of :class:`agent.pricing.enriched.IvStatus` as uint8 (0 OK, 1 below intrinsic,
    2 at/above the upper bound, 3 non-positive price, 4 expired, 5 no convergence, 6 invalid
    input). Where no vol exists the vol is NaN: a price below the discounted forward
    intrinsic value max(±(S e^-qT - K e^-rT), 0) by more than rounding noise (8 ulps of
    F + price e^rT), at or above S e^-qT (call) / K e^-rT (put), ``price <= 0``, ``T == 0``,
    NaN or infinite inputs, ``S <= 0``, ``K <= 0``, ``T < 0``. A price at the discounted
    forward intrinsic value within that noise gives 0.0 (status OK); a normalised time value
    price / sqrt(F K) below 1e-280 counts as a non-positive price.
    """
    arrays = [np.asarray(v, dtype=np.float64) for v in (price, S, K, T, r, q)]
    calls_in = np.asarray(is_call, dtype=np.bool_)
    shape = np.broadcast_shapes(*(a.shape for a in arrays), calls_in.shape)
    p_, S_, K_, T_, r_, q_ = (np.broadcast_to(a, shape).ravel() for a in arrays)
    calls = np.broadcast_to(calls_in, shape).ravel()
    n = p_.size
    iv = np.full(n, np.nan)
    status = np.full(n, _IV_OK, dtype=np.uint8)
    with np.errstate(all="ignore"):
        valid = (
            (S_ > 0.0)
            & (K_ > 0.0)
            & (T_ >= 0.0)
            & np.isfinite(S_)
            & np.isfinite(K_)
            & np.isfinite(T_)
            & np.isfinite(r_)
            & np.isfinite(q_)
        )
        df_r = np.exp(-r_ * T_)
        df_q = np.exp(-q_ * T_)
        upper_bound = np.where(calls, S_ * df_q, K_ * df_r)
        F = S_ * df_q / df_r
        intrinsic = np.maximum(np.where(calls, F - K_, K_ - F), 0.0)
        x = -np.abs(np.log(F / K_))
        ex = np.where(F < K_, np.sqrt(F / K_), np.sqrt(K_ / F))  # exp(x/2) without an exp
        undiscounted = p_ / df_r
        time_value = undiscounted - intrinsic
        # F - K and price e^rT each carry a few ulps of rounding: a time value inside that
        # noise is "at intrinsic" (vol 0); only a price clearly below it is an arbitrage.
        noise = np.where(intrinsic > 0.0, _AT_INTRINSIC_ULPS * _EPS * (F + undiscounted), 0.0)
        beta = time_value / np.sqrt(F * K_)
        at_intrinsic = (intrinsic > 0.0) & (time_value <= noise)
        # The kernels' checks, first match wins; the default is "solve".
        checks = [
            ~valid,
            T_ == 0.0,
            ~np.isfinite(p_),
            ~(p_ > 0.0),
            p_ >= upper_bound,
            time_value < -noise,
            at_intrinsic,
            beta < _MIN_BETA,
            ~(beta < ex),
        ]
        codes = [
            _IV_INVALID_INPUT,
            _IV_EXPIRED,
            _IV_INVALID_INPUT,
            _IV_NON_POSITIVE_PRICE,
            _IV_ABOVE_UPPER_BOUND,
            _IV_BELOW_INTRINSIC,
            _IV_OK,
            _IV_NON_POSITIVE_PRICE,
            _IV_ABOVE_UPPER_BOUND,
        ]
        status = np.asarray(np.select(checks, codes, _IV_OK), dtype=np.uint8)
        # OK comes from the at-intrinsic check (vol 0) or from no check at all (solve).
        ok = status == _IV_OK
        iv[ok & at_intrinsic] = 0.0
        todo = np.flatnonzero(ok & ~at_intrinsic)
        if todo.size:
            s = _solve_normalized(beta[todo], x[todo], ex[todo])
            iv[todo] = s / np.sqrt(T_[todo])
            status[todo] = np.where(np.isnan(s), _IV_NO_CONVERGENCE, _IV_OK)
    return iv.reshape(shape), status.reshape(shape)


def implied_vol(  # noqa: PLR0917
    price: ArrayLike,
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    is_call: ArrayLike,
) -> FloatArray:
    """Implied vol per sqrt(year); NaN where none exists (see :func:`implied_vol_with_status`)."""
    return implied_vol_with_status(price, S, K, T, r, q, is_call)[0]
