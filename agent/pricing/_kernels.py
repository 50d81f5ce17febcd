"""numba kernels for Black-Scholes-Merton prices, greeks and implied volatility (private).

Everything here works on scalars or flat float64 arrays and never raises: impossible inputs
give NaN and, for implied vol, a status code (the ``STATUS_*`` integers below, mirrored by
:class:`agent.pricing.bsm.IvStatus`). The typed, broadcasting public API lives in
:mod:`agent.pricing.bsm`.

Array kernels take 1-D inputs whose length is either ``n`` or 1 (a broadcast scalar); the
step of an input is 1 or 0 and multiplies the loop index, so scalars are never copied into
full arrays.

Performance notes (measured; see bench/pricing.py): numba does not inline one compiled
function into another by itself, and a call costs 20-80 ns here, so the small scalar kernels
are ``inline="always"``; tuple-returning kernels have a single return with the rare cases
as assignments on a cold path. ``error_model="numpy"`` makes a division by zero give inf/NaN
instead of raising, which is what "kernels never raise" needs and drops the checks.
N(x) comes from the Mills ratio R(y) = N(-y) / n(y) (Chebyshev tables, :mod:`_mills`) times
a density that is already at hand, instead of another erfc.

mypy: numba is untyped (``Any``), so decorated kernels are ``Any`` to callers; scalar kernels
carry annotations (numba ignores them), array loops a narrow ``type: ignore[no-untyped-def]``.
The long positional signatures are the textbook ones, hence ``noqa: PLR0917``.

Implied vol method (our own formulation, in the spirit of Jäckel's "Let's be rational"):
the price is turned into the normalised time value of the out-of-the-money call

    beta = (price / D - max(theta (F - K), 0)) / sqrt(F K),    x = -|ln(F / K)| <= 0,
    b(x, s) = exp(x/2) N(x/s + s/2) - exp(-x/2) N(x/s - s/2),  s = sigma sqrt(T),

which is valid for calls and puts alike (time value is the same for both at one strike).
``b`` rises from 0 to exp(x/2) in ``s``, convex below the inflection point
``s_c = sqrt(2|x|)`` and concave above it. Below ``b(s_c)`` we solve ``ln b(s) = ln beta``
(the log removes the exponential flatness of deep out-of-the-money prices); above it we solve
``-ln(exp(x/2) - b(s)) = -ln(exp(x/2) - beta)``, where ``exp(x/2) - b`` is computed as a sum
of two positive terms, so prices close to the upper bound keep their precision. With
a = -x/s, t = s/2 the vega b' has a closed-form logarithm and b / b' = R(a - t) - R(a + t),
(exp(x/2) - b) / b' = R(t - a) + R(a + t), so an iteration needs no exp at all. Starting
guesses come from two-parameter asymptotic models matched at ``s_c``; third-order Householder
steps then converge in two or three evaluations, inside a bracket that falls back to
bisection if a step ever leaves it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from agent.pricing._ivguess import CORRECTION as GUESS_CORRECTION
from agent.pricing._ivguess import ROOT_X_MAX as GUESS_ROOT_X_MAX
from agent.pricing._ivguess import ROOT_X_MIN as GUESS_ROOT_X_MIN
from agent.pricing._ivguess import ROOT_X_STEPS as GUESS_ROOT_X_STEPS
from agent.pricing._ivguess import ZETA_MIN as GUESS_ZETA_MIN
from agent.pricing._ivguess import ZETA_STEPS as GUESS_ZETA_STEPS
from agent.pricing._mills import MILLS_TABLE, MILLS_TAIL, MILLS_TAIL_START, MILLS_WIDTH
from agent.pricing.enriched import IvStatus

STATUS_OK = int(IvStatus.OK)
STATUS_BELOW_INTRINSIC = int(IvStatus.BELOW_INTRINSIC)
STATUS_ABOVE_UPPER_BOUND = int(IvStatus.ABOVE_UPPER_BOUND)
STATUS_NON_POSITIVE_PRICE = int(IvStatus.NON_POSITIVE_PRICE)
STATUS_EXPIRED = int(IvStatus.EXPIRED)
STATUS_NO_CONVERGENCE = int(IvStatus.NO_CONVERGENCE)
STATUS_INVALID_INPUT = int(IvStatus.INVALID_INPUT)

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_NAN = math.nan
_INF = math.inf

_EPS = 2.220446049250313e-16
_AT_INTRINSIC_ULPS = 8.0
_MAX_ITERATIONS = 40
_MIN_BETA = 1e-280
"""Normalised time values below this (price / sqrt(F K)) are treated as zero prices."""
_S_TOLERANCE = 1e-5
"""Stop when a Householder step changes s by less than this, relative. The step before had
third-order convergence, so the error left is far below the floating-point noise."""


@njit(cache=True, error_model="numpy")
def norm_cdf(z: float) -> float:
    """Standard normal CDF via erfc: relative accuracy holds deep in the lower tail."""
    return 0.5 * math.erfc(-z * _INV_SQRT2)


_MILLS_INTERVALS_PER_UNIT = 1.0 / MILLS_WIDTH
_MILLS_FLAT = np.ascontiguousarray(MILLS_TABLE).reshape(-1)
_MILLS_TAIL_SCALE = 2.0 * MILLS_TAIL_START * MILLS_TAIL_START


@njit(cache=True, inline="always", error_model="numpy")
def mills_ratio(y: float) -> float:
    """R(y) = N(-y) / n(y) for y >= 0, to about 1 ulp (tables in :mod:`_mills`).

    Cheaper than erfc, and the density n(y) is usually known already: N(-y) = n(y) R(y)
    then costs a short polynomial instead of another exp.
    """
    if y < MILLS_TAIL_START:
        k = int(y * _MILLS_INTERVALS_PER_UNIT)
        u = 2.0 * (y * _MILLS_INTERVALS_PER_UNIT - k) - 1.0
        c = _MILLS_FLAT
        o = k * 13  # flat indexing: a row view would cost reference counting per call
        # Estrin's scheme: a dependency chain of depth 4 instead of Horner's 12.
        u2 = u * u
        u4 = u2 * u2
        u8 = u4 * u4
        q0 = (c[o] + c[o + 1] * u) + (c[o + 2] + c[o + 3] * u) * u2
        q1 = (c[o + 4] + c[o + 5] * u) + (c[o + 6] + c[o + 7] * u) * u2
        q2 = (c[o + 8] + c[o + 9] * u) + (c[o + 10] + c[o + 11] * u) * u2
        value: float = (q0 + q1 * u4) + (q2 + c[o + 12] * u4) * u8
        return value
    # y R(y) is smooth in 1 / y^2; NaN and inf fall through here (inf gives 0).
    u = _MILLS_TAIL_SCALE / (y * y) - 1.0
    acc: float = MILLS_TAIL[8]
    for j in range(7, -1, -1):
        acc = acc * u + MILLS_TAIL[j]
    return acc / y


@njit(cache=True, inline="always", error_model="numpy")
def norm_cdf_with_pdf(z: float, pdf: float) -> float:
    """N(z) given pdf = n(z): n(z) R(-z) below 0, 1 - n(z) R(z) above."""
    # Written as a select, not a branch: the sign of d1, d2 is random across a chain.
    tail = pdf * mills_ratio(abs(z))
    return tail if z <= 0.0 else 1.0 - tail


@njit(cache=True, inline="always", error_model="numpy")
def _finite(v: float) -> bool:
    return abs(v) < _INF  # False for NaN and both infinities


@njit(cache=True, inline="always", error_model="numpy")
def _valid_inputs(S: float, K: float, T: float, r: float, q: float, sigma: float) -> bool:  # noqa: PLR0917
    """All finite, S and K > 0, T and sigma >= 0 (comparisons with NaN are False)."""
    return bool(
        (S > 0.0)
        & (S < _INF)
        & (K > 0.0)
        & (K < _INF)
        & (T >= 0.0)
        & (T < _INF)
        & (sigma >= 0.0)
        & (sigma < _INF)
        & (abs(r) < _INF)
        & (abs(q) < _INF)
    )


@njit(cache=True, inline="always", error_model="numpy")
def price_greeks_scalar(  # noqa: PLR0917
    S: float, K: float, T: float, r: float, q: float, sigma: float, is_call: bool
) -> tuple[float, float, float, float, float, float]:
    """(price, delta, gamma, vega, theta, rho) of one European option.

    Units: price USD; delta per 1 USD of spot; gamma per USD²; vega per 1.00 of vol; theta per
    year of calendar time (dV/dt = -dV/dT); rho per 1.00 of rate. T = 0: intrinsic value,
    delta 0, ±1 (±0.5 exactly at the money), other greeks 0. sigma = 0: discounted forward
    intrinsic, gamma and vega 0. Invalid inputs (NaN, S or K <= 0, T or sigma < 0): all NaN.

    Written with a single return and the rare cases as assignments on a cold path: early
    returns of tuples, a call on the cold path or a data-dependent exp cost the hot path up
    to 25 ns per option (measured 34 ns against 58 ns).
    """
    valid = _valid_inputs(S, K, T, r, q, sigma)
    w = 1.0 if is_call else -1.0
    sqrt_T = math.sqrt(T)
    df_q = math.exp(-q * T)
    df_r = math.exp(-r * T)
    S_q = S * df_q
    K_r = K * df_r
    v = sigma * sqrt_T
    inv_v = 1.0 / v
    forward_ratio = S_q / K_r
    d1 = math.log(forward_ratio) * inv_v + 0.5 * v
    d2 = d1 - v
    pdf1 = _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
    # S e^-qT n(d1) = K e^-rT n(d2) saves an exp. Where n(d1) underflows, n(d2) is below
    # 1e-100 too unless sigma sqrt(T) > 70, far outside any listed option.
    pdf2 = pdf1 * forward_ratio
    n1 = norm_cdf_with_pdf(w * d1, pdf1)
    n2 = norm_cdf_with_pdf(w * d2, pdf2)
    pdf_term = S_q * pdf1
    # Rounding can leave the price an ulp below the discounted forward intrinsic value.
    price = max(w * (S_q * n1 - K_r * n2), w * (S_q - K_r), 0.0) + 0.0  # + 0.0: no -0.0
    delta = w * df_q * n1
    gamma = pdf_term * inv_v / (S * S)
    vega = pdf_term * sqrt_T
    # sigma / (2 sqrt(T)) = sigma^2 / (2 v): no division.
    theta = w * (q * S_q * n1 - r * K_r * n2) - 0.5 * pdf_term * sigma * sigma * inv_v
    rho = w * K_r * T * n2
    if not (valid and v > 0.0):
        # Cold path, inline assignments (a call here costs the hot path ~5 ns).
        if not valid:
            price = _NAN
            delta = _NAN
            gamma = _NAN
            vega = _NAN
            theta = _NAN
            rho = _NAN
        elif T == 0.0:
            moneyness = w * (S - K)
            price = max(moneyness, 0.0) + 0.0
            delta = w if moneyness > 0.0 else (0.5 * w if moneyness == 0.0 else 0.0)
            gamma = 0.0
            vega = 0.0
            theta = 0.0
            rho = 0.0
        else:
            # sigma == 0: the option is worth its discounted forward intrinsic value.
            fwd_moneyness = w * (S_q - K_r)
            n = 1.0 if fwd_moneyness > 0.0 else (0.5 if fwd_moneyness == 0.0 else 0.0)
            price = max(fwd_moneyness, 0.0) + 0.0
            delta = w * df_q * n
            gamma = 0.0
            vega = 0.0
            theta = w * (q * S_q - r * K_r) * n
            rho = w * K_r * T * n
    return price, delta, gamma, vega, theta, rho


@njit(cache=True, inline="always", error_model="numpy")
def price_scalar(  # noqa: PLR0917
    S: float, K: float, T: float, r: float, q: float, sigma: float, is_call: bool
) -> float:
    """Price only (same conventions as :func:`price_greeks_scalar`, cheaper)."""
    valid = _valid_inputs(S, K, T, r, q, sigma)
    w = 1.0 if is_call else -1.0
    S_q = S * math.exp(-q * T)
    K_r = K * math.exp(-r * T)
    v = sigma * math.sqrt(T)
    forward_ratio = S_q / K_r
    d1 = math.log(forward_ratio) / v + 0.5 * v
    d2 = d1 - v
    pdf1 = _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
    pdf2 = pdf1 * forward_ratio
    n1 = norm_cdf_with_pdf(w * d1, pdf1)
    n2 = norm_cdf_with_pdf(w * d2, pdf2)
    price = max(w * (S_q * n1 - K_r * n2), w * (S_q - K_r), 0.0) + 0.0
    if not (valid and v > 0.0):
        if not valid:
            price = _NAN
        elif T == 0.0:
            price = max(w * (S - K), 0.0) + 0.0
        else:
            price = max(w * (S_q - K_r), 0.0) + 0.0
    return price


# --------------------------------------------------------------------------- implied vol


@njit(cache=True, error_model="numpy")
def _inverse_norm_cdf_rough(p: float) -> float:
    """Inverse normal CDF to about 5e-4 (Abramowitz & Stegun 26.2.23): only a first guess."""
    if p <= 0.0:
        return -_INF
    if p >= 1.0:
        return _INF
    tail = p if p < 0.5 else 1.0 - p
    t = math.sqrt(-2.0 * math.log(tail))
    z = t - (2.515517 + t * (0.802853 + t * 0.010328)) / (
        1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))
    )
    return -z if p < 0.5 else z


_LN_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_MILLS_AT_ZERO = math.sqrt(0.5 * math.pi)
_ONE_SIXTH = 1.0 / 6.0


_CORRECTION_U_SCALE = GUESS_ROOT_X_STEPS / (GUESS_ROOT_X_MAX - GUESS_ROOT_X_MIN)
_CORRECTION_V_SCALE = GUESS_ZETA_STEPS / (1.0 - GUESS_ZETA_MIN)


@njit(cache=True, inline="always", error_model="numpy")
def _start_correction(s_c: float, zeta: float) -> float:
    """Factor taking the lower-region model start to within ~1 % of the root (bilinear in the
    table of :mod:`_ivguess`, over sqrt|x| = s_c / sqrt 2 and zeta = s_model / s_c); 1 outside
    the table, where the solver simply takes an evaluation or two more."""
    root_x = s_c * _INV_SQRT2
    if not (GUESS_ROOT_X_MIN <= root_x <= GUESS_ROOT_X_MAX):
        return 1.0
    u = (root_x - GUESS_ROOT_X_MIN) * _CORRECTION_U_SCALE
    v = max(0.0, min((zeta - GUESS_ZETA_MIN) * _CORRECTION_V_SCALE, float(GUESS_ZETA_STEPS)))
    i = min(int(u), GUESS_ROOT_X_STEPS - 1)
    j = min(int(v), GUESS_ZETA_STEPS - 1)
    fu = u - i
    fv = v - j
    row = GUESS_ZETA_STEPS + 1
    c = GUESS_CORRECTION
    o = i * row + j
    low = c[o] + (c[o + 1] - c[o]) * fv
    high = c[o + row] + (c[o + row + 1] - c[o + row]) * fv
    value: float = low + (high - low) * fu
    return value


@njit(cache=True, inline="always", error_model="numpy")
def _start(beta: float, x: float, ex: float, s_guess: float) -> tuple[float, bool, float]:
    """(s0, lower, log target) for b(x, s) = beta: the starting point and the objective.

    ``lower`` selects ln b(s) = ln beta (target ln beta), else -ln(exp(x/2) - b(s)) =
    -ln(exp(x/2) - beta) (target ln(exp(x/2) - beta)). ``s_guess`` > 0 is used as is (e.g.
    the mid vol when solving bid and ask); otherwise asymptotic models matched at the
    inflection point s_c give the start.
    """
    gap_target = ex - beta
    s_c = math.sqrt(-2.0 * x)
    # At s_c: a = t = s_c / 2 and b' = exp(x/2) / sqrt(2 pi).
    ratio_c = _MILLS_AT_ZERO - mills_ratio(s_c)  # b(s_c) / b'(s_c)
    log_b_c = 0.5 * x - _LN_SQRT_2PI + math.log(ratio_c)
    log_beta = math.log(beta)
    if s_guess > 0.0:
        s = s_guess
        lower = s_guess < s_c
    else:
        lower = log_beta < log_b_c
        if lower:
            # ln b(s) ~ A - B / s^2 as s -> 0 (the x^2 / (2 s^2) exponent), matched in value
            # and slope (b'/b = 1 / ratio_c) to the true curve at s_c.
            B = 0.5 * s_c * s_c * s_c / ratio_c
            A = log_b_c + B / (s_c * s_c)
            s = math.sqrt(B / (A - log_beta))
            s *= _start_correction(s_c, s / s_c)
        else:
            # exp(x/2) - b(s) ~ kappa * 2 N(-s/2) as s -> infinity (exact for x = 0), matched
            # in value at s_c; the tangent at s_c is a lower bound in the concave region.
            vega_c = ex * _INV_SQRT_2PI
            b_c = vega_c * ratio_c
            # N(-s_c/2) = n(s_c/2) R(s_c/2) and n(s_c/2) = exp(x/4) / sqrt(2 pi).
            tail_c = math.sqrt(ex) * _INV_SQRT_2PI * mills_ratio(0.5 * s_c)
            kappa = (ex - b_c) / (2.0 * tail_c) if s_c > 0.0 else 1.0
            s = -2.0 * _inverse_norm_cdf_rough(0.5 * gap_target / kappa)
            s = max(s, s_c + (beta - b_c) / vega_c)
    if not (s > 0.0 and _finite(s)):
        s = max(s_c, 0.5)
    return s, lower, log_beta if lower else math.log(gap_target)


@njit(cache=True, inline="always", error_model="numpy")
def _start_seeded(beta: float, x: float, ex: float, s_guess: float) -> tuple[float, bool, float]:
    """:func:`_start` for a known nearby solution ``s_guess`` > 0 (no model needed)."""
    lower = s_guess * s_guess < -2.0 * x  # below s_c
    return s_guess, lower, math.log(beta) if lower else math.log(ex - beta)


@njit(cache=True, inline="always", error_model="numpy")
def _householder_step(  # noqa: PLR0917
    s: float, lo: float, hi: float, x: float, ex: float, lower: bool, log_target: float
) -> tuple[float, float, float, bool]:
    """One evaluation at s: (next s, lo, hi, converged). When converged, next s is the root.

    Both objectives are evaluated in log space without any exp: ln b' = -(a^2 + t^2)/2 -
    ln sqrt(2 pi) is known in closed form, so ln b = ln b' + ln(R(a - t) - R(a + t)) below
    s_c and ln(exp(x/2) - b) = ln b' + ln(R(t - a) + R(a + t)) above it. That also keeps
    deep out-of-the-money prices far below the smallest double representable as b itself.
    The step is third-order Householder, kept inside the bracket [lo, hi] (bisection when it
    leaves it).
    """
    inv_s = 1.0 / s
    a = -x * inv_s
    t = 0.5 * s
    a2 = a * a
    log_vega = -0.5 * (a2 + t * t) - _LN_SQRT_2PI
    r2 = a2 * inv_s - 0.25 * s  # b'' / b'
    r3 = r2 * r2 - 3.0 * a2 * inv_s * inv_s - 0.25  # b(3) / b'
    # b / b' = R(a - t) - R(a + t) for a >= t, and (exp(x/2) - b) / b' = R(t - a) + R(a + t)
    # for a < t: the same two Mills ratios serve every branch below.
    r_near = mills_ratio(abs(a - t))
    r_far = mills_ratio(a + t)
    # f is the objective, inv_f1 = 1 / f' (kept as a reciprocal to save divisions).
    if lower:
        # f = ln b - ln beta, f' = b'/b
        if a >= t:
            ratio = r_near - r_far  # b / b'
            f = log_vega + math.log(ratio) - log_target
            inv_f1 = ratio
            if not ratio > 0.0:  # cancelled to nothing: far below the target
                f = -_INF
                inv_f1 = 0.0
        else:
            vega = math.exp(log_vega)
            b = ex - vega * (r_near + r_far)
            f = math.log(b) - log_target
            inv_f1 = b / vega
        lam = 1.0 / inv_f1
        g = r2 - lam
        d = r3 - 3.0 * lam * r2 + 2.0 * lam * lam
    else:
        # f = ln(gap target) - ln(exp(x/2) - b), f' = b' / (exp(x/2) - b)
        if a < t:
            total = r_near + r_far  # (exp(x/2) - b) / b'
            f = log_target - log_vega - math.log(total)
            inv_f1 = total
        else:
            vega = math.exp(log_vega)
            gap = ex - vega * (r_near - r_far)
            f = log_target - math.log(gap)
            inv_f1 = gap / vega
        mu = 1.0 / inv_f1
        g = r2 + mu
        d = r3 + 3.0 * mu * r2 + 2.0 * mu * mu
    if f < 0.0:
        lo = max(lo, s)
    elif f > 0.0:
        hi = min(hi, s)
    nu = -f * inv_f1
    denominator = 1.0 + g * nu + d * nu * nu * _ONE_SIXTH
    step = nu * (1.0 + 0.5 * g * nu) / denominator
    if not (denominator > 0.0 and _finite(step)):
        step = nu  # plain Newton
    converged = f == 0.0 or abs(step) <= _S_TOLERANCE * s
    s_next = s + step if f != 0.0 else s
    if not converged and not (lo < s_next < hi):
        # The step left the bracket (or could not be computed): bisect instead.
        if hi == _INF:
            s_next = 2.0 * s
        elif lo == 0.0:
            s_next = 0.5 * hi
        else:
            s_next = 0.5 * (lo + hi)
            converged = s_next in (lo, hi)  # bracket exhausted at machine precision
    return s_next, lo, hi, converged


@njit(cache=True, error_model="numpy")
def solve_normalized(beta: float, x: float, ex: float, s_guess: float) -> tuple[float, int]:
    """s = sigma sqrt(T) with b(x, s) = beta, for x <= 0, ex = exp(x/2), 0 < beta < ex.

    Returns (s, status); see :func:`_start` and :func:`_householder_step`.
    """
    if not (beta > 0.0 and ex - beta > 0.0):
        return _NAN, STATUS_INVALID_INPUT
    s, lower, log_target = _start(beta, x, ex, s_guess)
    lo = 0.0
    hi = _INF
    result = _NAN
    status = STATUS_NO_CONVERGENCE
    for _ in range(_MAX_ITERATIONS):
        s, lo, hi, converged = _householder_step(s, lo, hi, x, ex, lower, log_target)
        if converged:
            result = s
            status = STATUS_OK
            break
    return result, status


@njit(cache=True, error_model="numpy")
def solve_lockstep(x, ex, s, lower, log_target, n_jobs, result):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    """Solve ``n_jobs`` independent problems, one Householder step for each in turn.

    One problem alone is latency-bound (every step waits for the previous one); stepping
    many problems round-robin lets the CPU overlap them. ``s`` holds the starting points
    and is overwritten; ``result`` gets s at the root, or NaN without convergence.
    """
    lo = np.zeros(n_jobs)
    hi = np.full(n_jobs, _INF)
    active = np.arange(n_jobs)
    n_active = n_jobs
    for _ in range(_MAX_ITERATIONS):
        if n_active == 0:
            break
        kept = 0
        for k in range(n_active):
            j = active[k]
            s_next, lo_j, hi_j, converged = _householder_step(
                s[j], lo[j], hi[j], x[j], ex[j], lower[j], log_target[j]
            )
            if converged:
                result[j] = s_next
            else:
                s[j] = s_next
                lo[j] = lo_j
                hi[j] = hi_j
                active[kept] = j
                kept += 1
        n_active = kept
    for k in range(n_active):
        result[active[k]] = _NAN


@njit(cache=True, inline="always", error_model="numpy")
def iv_setup(  # noqa: PLR0917
    S: float, K: float, T: float, r: float, q: float, is_call: bool
) -> tuple[int, float, float, float, float, float, float, float, float]:
    """Per-contract constants of the implied-vol problem, shared by several prices.

    Returns (status, df_r, F, intrinsic, upper_bound, x, ex, sqrt_FK, sqrt_T); status is OK
    unless the contract itself is invalid (INVALID_INPUT) or expired (EXPIRED).
    """
    valid = _valid_inputs(S, K, T, r, q, 0.0)
    df_r = math.exp(-r * T)
    df_q = math.exp(-q * T)
    upper_bound = S * df_q if is_call else K * df_r
    F = S * df_q / df_r
    intrinsic = max(F - K, 0.0) if is_call else max(K - F, 0.0)
    x = -abs(math.log(F / K))
    ex = math.sqrt(F / K) if F < K else math.sqrt(K / F)  # exp(x/2) without an exp
    status = STATUS_OK
    if not valid:
        status = STATUS_INVALID_INPUT
    elif T == 0.0:
        status = STATUS_EXPIRED
    return status, df_r, F, intrinsic, upper_bound, x, ex, math.sqrt(F * K), math.sqrt(T)


NEEDS_SOLVE = 255
"""Internal status of :func:`iv_presolve`: a normalised problem is left to solve."""


@njit(cache=True, inline="always", error_model="numpy")
def iv_presolve(  # noqa: PLR0917
    price: float,
    setup_status: int,
    df_r: float,
    F: float,
    intrinsic: float,
    upper_bound: float,
    ex: float,
    sqrt_FK: float,
) -> tuple[float, int, float]:
    """(sigma, status, beta): every answer that needs no iteration, else NEEDS_SOLVE and the
    normalised time value beta to solve for."""
    iv = _NAN
    beta = _NAN
    status = setup_status
    if status != STATUS_OK:
        pass
    elif not _finite(price):
        status = STATUS_INVALID_INPUT
    elif not price > 0.0:
        status = STATUS_NON_POSITIVE_PRICE
    elif price >= upper_bound:
        status = STATUS_ABOVE_UPPER_BOUND
    else:
        undiscounted = price / df_r
        time_value = undiscounted - intrinsic
        # F - K and price * e^rT each carry a few ulps of rounding: a time value inside that
        # noise is "at intrinsic" (vol 0), only a price clearly below it is an arbitrage.
        noise = _AT_INTRINSIC_ULPS * _EPS * (F + undiscounted) if intrinsic > 0.0 else 0.0
        beta = time_value / sqrt_FK
        if time_value < -noise:
            status = STATUS_BELOW_INTRINSIC
        elif intrinsic > 0.0 and time_value <= noise:
            iv = 0.0
        elif beta < _MIN_BETA:
            # So small against S and K that b(s) itself would underflow: no vol resolvable.
            status = STATUS_NON_POSITIVE_PRICE
        elif not beta < ex:
            status = STATUS_ABOVE_UPPER_BOUND
        else:
            status = NEEDS_SOLVE
    return iv, status, beta


@njit(cache=True, error_model="numpy")
def iv_from_setup(  # noqa: PLR0917
    price: float,
    setup_status: int,
    df_r: float,
    F: float,
    intrinsic: float,
    upper_bound: float,
    x: float,
    ex: float,
    sqrt_FK: float,
    sqrt_T: float,
    sigma_guess: float,
) -> tuple[float, int]:
    """(sigma, status) of ``price`` given :func:`iv_setup` of its contract."""
    iv, status, beta = iv_presolve(
        price, setup_status, df_r, F, intrinsic, upper_bound, ex, sqrt_FK
    )
    if status == NEEDS_SOLVE:
        s_guess = sigma_guess * sqrt_T if sigma_guess > 0.0 else 0.0
        s, status = solve_normalized(beta, x, ex, s_guess)
        iv = s / sqrt_T
    return iv, status


@njit(cache=True, inline="always", error_model="numpy")
def implied_vol_scalar(  # noqa: PLR0917
    price: float,
    S: float,
    K: float,
    T: float,
    r: float,
    q: float,
    is_call: bool,
    sigma_guess: float,
) -> tuple[float, int]:
    """(sigma, status) for one price; ``sigma_guess`` > 0 seeds the iteration (else 0).

    A price at the discounted forward intrinsic value, to within the rounding of F - K
    (8 ulps of F + price e^rT), has implied vol 0 with status OK: the sigma = 0 limit of
    :func:`price_greeks_scalar`, so the round trip holds. Further below: BELOW_INTRINSIC.
    """
    st, df_r, F, intrinsic, upper_bound, x, ex, sqrt_FK, sqrt_T = iv_setup(S, K, T, r, q, is_call)
    return iv_from_setup(
        price, st, df_r, F, intrinsic, upper_bound, x, ex, sqrt_FK, sqrt_T, sigma_guess
    )


# --------------------------------------------------------------------------- array loops
#
# Size-1 inputs are broadcast with step 0 (the index is multiplied by 0 or 1). The price and
# greeks loops also have a direct-index path for the common all-full-length case (about 10 %
# faster there, where the per-option cost is ~35 ns); the implied-vol loops do not need it.


@njit(cache=True, error_model="numpy")
def _price_loop(S, K, T, r, q, sigma, is_call, n, out):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    if (
        S.shape[0] == n
        and K.shape[0] == n
        and T.shape[0] == n
        and r.shape[0] == n
        and q.shape[0] == n
        and sigma.shape[0] == n
        and is_call.shape[0] == n
    ):
        for i in range(n):
            out[i] = price_scalar(S[i], K[i], T[i], r[i], q[i], sigma[i], is_call[i])
    else:
        s_S = 1 if S.shape[0] > 1 else 0
        s_K = 1 if K.shape[0] > 1 else 0
        s_T = 1 if T.shape[0] > 1 else 0
        s_r = 1 if r.shape[0] > 1 else 0
        s_q = 1 if q.shape[0] > 1 else 0
        s_sigma = 1 if sigma.shape[0] > 1 else 0
        s_is_call = 1 if is_call.shape[0] > 1 else 0
        for i in range(n):
            out[i] = price_scalar(
                S[i * s_S],
                K[i * s_K],
                T[i * s_T],
                r[i * s_r],
                q[i * s_q],
                sigma[i * s_sigma],
                is_call[i * s_is_call],
            )


@njit(cache=True, parallel=True, error_model="numpy")
def _price_loop_parallel(S, K, T, r, q, sigma, is_call, n, out):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    if (
        S.shape[0] == n
        and K.shape[0] == n
        and T.shape[0] == n
        and r.shape[0] == n
        and q.shape[0] == n
        and sigma.shape[0] == n
        and is_call.shape[0] == n
    ):
        for i in prange(n):
            out[i] = price_scalar(S[i], K[i], T[i], r[i], q[i], sigma[i], is_call[i])
    else:
        s_S = 1 if S.shape[0] > 1 else 0
        s_K = 1 if K.shape[0] > 1 else 0
        s_T = 1 if T.shape[0] > 1 else 0
        s_r = 1 if r.shape[0] > 1 else 0
        s_q = 1 if q.shape[0] > 1 else 0
        s_sigma = 1 if sigma.shape[0] > 1 else 0
        s_is_call = 1 if is_call.shape[0] > 1 else 0
        for i in prange(n):
            out[i] = price_scalar(
                S[i * s_S],
                K[i * s_K],
                T[i * s_T],
                r[i * s_r],
                q[i * s_q],
                sigma[i * s_sigma],
                is_call[i * s_is_call],
            )


@njit(cache=True, error_model="numpy")
def _greeks_loop(S, K, T, r, q, sigma, is_call, n, out):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    if (
        S.shape[0] == n
        and K.shape[0] == n
        and T.shape[0] == n
        and r.shape[0] == n
        and q.shape[0] == n
        and sigma.shape[0] == n
        and is_call.shape[0] == n
    ):
        for i in range(n):
            p, de, ga, ve, th, rh = price_greeks_scalar(
                S[i], K[i], T[i], r[i], q[i], sigma[i], is_call[i]
            )
            out[0, i] = p
            out[1, i] = de
            out[2, i] = ga
            out[3, i] = ve
            out[4, i] = th
            out[5, i] = rh
    else:
        s_S = 1 if S.shape[0] > 1 else 0
        s_K = 1 if K.shape[0] > 1 else 0
        s_T = 1 if T.shape[0] > 1 else 0
        s_r = 1 if r.shape[0] > 1 else 0
        s_q = 1 if q.shape[0] > 1 else 0
        s_sigma = 1 if sigma.shape[0] > 1 else 0
        s_is_call = 1 if is_call.shape[0] > 1 else 0
        for i in range(n):
            p, de, ga, ve, th, rh = price_greeks_scalar(
                S[i * s_S],
                K[i * s_K],
                T[i * s_T],
                r[i * s_r],
                q[i * s_q],
                sigma[i * s_sigma],
                is_call[i * s_is_call],
            )
            out[0, i] = p
            out[1, i] = de
            out[2, i] = ga
            out[3, i] = ve
            out[4, i] = th
            out[5, i] = rh


@njit(cache=True, parallel=True, error_model="numpy")
def _greeks_loop_parallel(S, K, T, r, q, sigma, is_call, n, out):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    if (
        S.shape[0] == n
        and K.shape[0] == n
        and T.shape[0] == n
        and r.shape[0] == n
        and q.shape[0] == n
        and sigma.shape[0] == n
        and is_call.shape[0] == n
    ):
        for i in prange(n):
            p, de, ga, ve, th, rh = price_greeks_scalar(
                S[i], K[i], T[i], r[i], q[i], sigma[i], is_call[i]
            )
            out[0, i] = p
            out[1, i] = de
            out[2, i] = ga
            out[3, i] = ve
            out[4, i] = th
            out[5, i] = rh
    else:
        s_S = 1 if S.shape[0] > 1 else 0
        s_K = 1 if K.shape[0] > 1 else 0
        s_T = 1 if T.shape[0] > 1 else 0
        s_r = 1 if r.shape[0] > 1 else 0
        s_q = 1 if q.shape[0] > 1 else 0
        s_sigma = 1 if sigma.shape[0] > 1 else 0
        s_is_call = 1 if is_call.shape[0] > 1 else 0
        for i in prange(n):
            p, de, ga, ve, th, rh = price_greeks_scalar(
                S[i * s_S],
                K[i * s_K],
                T[i * s_T],
                r[i * s_r],
                q[i * s_q],
                sigma[i * s_sigma],
                is_call[i * s_is_call],
            )
            out[0, i] = p
            out[1, i] = de
            out[2, i] = ga
            out[3, i] = ve
            out[4, i] = th
            out[5, i] = rh


IV_BLOCK = 256
"""Options per lockstep block in the implied-vol array loops."""


@njit(cache=True, error_model="numpy")
def _iv_block(price, S, K, T, r, q, is_call, start, stop, out, status):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    """Implied vols of rows start..stop: closed-form answers first, then the rest in lockstep."""
    m = stop - start
    x = np.empty(m)
    ex = np.empty(m)
    s = np.empty(m)
    lower = np.empty(m, dtype=np.bool_)
    log_target = np.empty(m)
    sqrt_T = np.empty(m)
    rows = np.empty(m, dtype=np.int64)
    result = np.empty(m)
    s_p = 1 if price.shape[0] > 1 else 0
    s_S = 1 if S.shape[0] > 1 else 0
    s_K = 1 if K.shape[0] > 1 else 0
    s_T = 1 if T.shape[0] > 1 else 0
    s_r = 1 if r.shape[0] > 1 else 0
    s_q = 1 if q.shape[0] > 1 else 0
    s_c = 1 if is_call.shape[0] > 1 else 0
    n_jobs = 0
    for i in range(start, stop):
        st, df_r, F, intr, upper, x_i, ex_i, sqrt_FK, sqrt_T_i = iv_setup(
            S[i * s_S], K[i * s_K], T[i * s_T], r[i * s_r], q[i * s_q], is_call[i * s_c]
        )
        iv, st, beta = iv_presolve(price[i * s_p], st, df_r, F, intr, upper, ex_i, sqrt_FK)
        out[i] = iv
        status[i] = st
        if st == NEEDS_SOLVE:
            s0, lower_i, target = _start(beta, x_i, ex_i, 0.0)
            x[n_jobs] = x_i
            ex[n_jobs] = ex_i
            s[n_jobs] = s0
            lower[n_jobs] = lower_i
            log_target[n_jobs] = target
            sqrt_T[n_jobs] = sqrt_T_i
            rows[n_jobs] = i
            n_jobs += 1
    solve_lockstep(x, ex, s, lower, log_target, n_jobs, result)
    for j in range(n_jobs):
        i = rows[j]
        out[i] = result[j] / sqrt_T[j]
        status[i] = STATUS_NO_CONVERGENCE if math.isnan(result[j]) else STATUS_OK


@njit(cache=True, error_model="numpy")
def _iv_loop(price, S, K, T, r, q, is_call, n, out, status):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    for block in range((n + IV_BLOCK - 1) // IV_BLOCK):
        start = block * IV_BLOCK
        _iv_block(price, S, K, T, r, q, is_call, start, min(start + IV_BLOCK, n), out, status)


@njit(cache=True, parallel=True, error_model="numpy")
def _iv_loop_parallel(price, S, K, T, r, q, is_call, n, out, status):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    for block in prange((n + IV_BLOCK - 1) // IV_BLOCK):
        start = block * IV_BLOCK
        _iv_block(price, S, K, T, r, q, is_call, start, min(start + IV_BLOCK, n), out, status)
