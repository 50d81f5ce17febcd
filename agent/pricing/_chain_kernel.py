"""The fused numba kernel behind :func:`agent.pricing.chain.enrich_chain` (private).

One pass per contract: quote checks and flags, mid and spread, IV from the mid, IVs from bid
and ask (seeded with the mid vol, so they take one or two iterations), greeks at the mid
vol, vendor differences and the liquidity score. Outputs are written into preallocated rows
of one float64 matrix (row order: ``chain._FLOAT_COLUMNS``), so a chain costs one Python
call and a handful of allocations.
"""

from __future__ import annotations

import math

from numba import njit, prange

from agent.pricing._kernels import (
    STATUS_ABOVE_UPPER_BOUND,
    STATUS_BELOW_INTRINSIC,
    STATUS_EXPIRED,
    STATUS_INVALID_INPUT,
    STATUS_OK,
    iv_from_setup,
    iv_setup,
    price_greeks_scalar,
)
from agent.pricing.liquidity import liquidity_score_scalar

FLAG_CROSSED = 1 << 0
FLAG_ZERO_BID = 1 << 1
FLAG_NO_QUOTE = 1 << 2
FLAG_STALE = 1 << 3
FLAG_NO_IV = 1 << 4
FLAG_BELOW_INTRINSIC = 1 << 5
FLAG_ABOVE_UPPER_BOUND = 1 << 6
FLAG_EXPIRED = 1 << 7
FLAG_VENDOR_IV_MISMATCH = 1 << 8
FLAG_VENDOR_DELTA_MISMATCH = 1 << 9

PARALLEL_MIN_CONTRACTS = 4_000
"""Chains at least this long use the threaded kernel. A typical chain (hundreds to a few
thousand contracts) is cheaper on one thread than waking the pool, and the scanner already
runs one chain per worker."""

_NAN = math.nan


@njit(cache=True, inline="always", error_model="numpy")
def _enrich_row(  # type: ignore[no-untyped-def]  # noqa: PLR0917
    i,
    strike,
    is_call,
    bid,
    ask,
    quote_time_s,
    volume,
    open_interest,
    vendor_iv,
    vendor_delta,
    spot,
    rate,
    dividend_yield,
    as_of_s,
    max_quote_age_s,
    vendor_iv_tolerance,
    vendor_delta_tolerance,
    out,
    iv_status,
    flags,
):
    flag = 0
    T = out[0, i]
    K = strike[i]
    call = is_call[i]
    b = bid[i]
    a = ask[i]
    age = as_of_s - quote_time_s[i]
    if not age <= max_quote_age_s:  # NaN (unknown quote time) counts as stale
        flag |= FLAG_STALE
    expired = not T > 0.0
    if expired:
        flag |= FLAG_EXPIRED
    mid = _NAN
    spread_pct = _NAN
    usable = False
    if not (a > 0.0 and b >= 0.0):  # NaN on either side fails too
        flag |= FLAG_NO_QUOTE
    elif b > a:
        flag |= FLAG_CROSSED
    else:
        usable = True
        if b == 0.0:
            flag |= FLAG_ZERO_BID
        mid = 0.5 * (a + b)
        spread_pct = (a - b) / mid * 100.0
    iv = _NAN
    iv_b = _NAN
    iv_a = _NAN
    status = STATUS_INVALID_INPUT
    if usable:
        if expired:
            status = STATUS_EXPIRED
        else:
            # One set of forward, discount and normalisation constants for all three prices.
            st, df_r, F, intr, upper, x, ex, sqrt_FK, sqrt_T = iv_setup(
                spot, K, T, rate, dividend_yield, call
            )
            iv, status = iv_from_setup(mid, st, df_r, F, intr, upper, x, ex, sqrt_FK, sqrt_T, 0.0)
            if status == STATUS_BELOW_INTRINSIC:
                flag |= FLAG_BELOW_INTRINSIC
            elif status == STATUS_ABOVE_UPPER_BOUND:
                flag |= FLAG_ABOVE_UPPER_BOUND
            seed = iv if status == STATUS_OK else 0.0
            iv_a = iv_from_setup(a, st, df_r, F, intr, upper, x, ex, sqrt_FK, sqrt_T, seed)[0]
            if b > 0.0:
                iv_b = iv_from_setup(b, st, df_r, F, intr, upper, x, ex, sqrt_FK, sqrt_T, seed)[0]
    if math.isnan(iv):
        flag |= FLAG_NO_IV
        delta = _NAN
        gamma = _NAN
        vega = _NAN
        theta = _NAN
        rho = _NAN
    else:
        _, delta, gamma, vega, theta, rho = price_greeks_scalar(
            spot, K, T, rate, dividend_yield, iv, call
        )
    iv_diff = vendor_iv[i] - iv
    delta_diff = vendor_delta[i] - delta
    if abs(iv_diff) > vendor_iv_tolerance:
        flag |= FLAG_VENDOR_IV_MISMATCH
    if abs(delta_diff) > vendor_delta_tolerance:
        flag |= FLAG_VENDOR_DELTA_MISMATCH
    out[1, i] = mid
    out[2, i] = spread_pct
    out[3, i] = iv
    out[4, i] = iv_b
    out[5, i] = iv_a
    out[6, i] = delta
    out[7, i] = gamma
    out[8, i] = vega
    out[9, i] = theta
    out[10, i] = rho
    out[11, i] = age
    out[12, i] = liquidity_score_scalar(spread_pct, open_interest[i], volume[i], age)
    out[13, i] = iv_diff
    out[14, i] = delta_diff
    iv_status[i] = status
    flags[i] = flag


@njit(cache=True, error_model="numpy")
def enrich_serial(  # type: ignore[no-untyped-def]  # noqa: PLR0917
    strike,
    is_call,
    bid,
    ask,
    quote_time_s,
    volume,
    open_interest,
    vendor_iv,
    vendor_delta,
    spot,
    rate,
    dividend_yield,
    as_of_s,
    max_quote_age_s,
    vendor_iv_tolerance,
    vendor_delta_tolerance,
    out,
    iv_status,
    flags,
):
    for i in range(strike.shape[0]):
        _enrich_row(
            i,
            strike,
            is_call,
            bid,
            ask,
            quote_time_s,
            volume,
            open_interest,
            vendor_iv,
            vendor_delta,
            spot,
            rate,
            dividend_yield,
            as_of_s,
            max_quote_age_s,
            vendor_iv_tolerance,
            vendor_delta_tolerance,
            out,
            iv_status,
            flags,
        )


@njit(cache=True, parallel=True, error_model="numpy")
def enrich_parallel(  # type: ignore[no-untyped-def]  # noqa: PLR0917
    strike,
    is_call,
    bid,
    ask,
    quote_time_s,
    volume,
    open_interest,
    vendor_iv,
    vendor_delta,
    spot,
    rate,
    dividend_yield,
    as_of_s,
    max_quote_age_s,
    vendor_iv_tolerance,
    vendor_delta_tolerance,
    out,
    iv_status,
    flags,
):
    for i in prange(strike.shape[0]):
        _enrich_row(
            i,
            strike,
            is_call,
            bid,
            ask,
            quote_time_s,
            volume,
            open_interest,
            vendor_iv,
            vendor_delta,
            spot,
            rate,
            dividend_yield,
            as_of_s,
            max_quote_age_s,
            vendor_iv_tolerance,
            vendor_delta_tolerance,
            out,
            iv_status,
            flags,
        )
