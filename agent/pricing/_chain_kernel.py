"""The fused numba kernel behind :func:`agent.pricing.chain.enrich_chain` (private).

Per block of contracts, in five passes over plain arrays:

1. quote checks and flags, mid, spread, quote age, and the implied-vol constants of each
   contract (forward, discount, normalisation: computed once, used for mid, bid and ask);
2. IVs from the mids, all problems stepped together (:func:`solve_lockstep`);
3. bid and ask problems, seeded with the mid vol;
4. those, stepped together;
5. greeks at the mid vol, vendor differences, liquidity score, final flags.

Outputs go into preallocated rows of one float64 matrix (row order: ``chain._FLOAT_COLUMNS``),
so a chain costs one Python call and a handful of allocations.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from agent.pricing._kernels import (
    NEEDS_SOLVE,
    STATUS_ABOVE_UPPER_BOUND,
    STATUS_BELOW_INTRINSIC,
    STATUS_INVALID_INPUT,
    STATUS_NO_CONVERGENCE,
    STATUS_OK,
    _start,
    _start_seeded,
    iv_presolve,
    iv_setup,
    price_greeks_scalar,
    solve_lockstep,
    solve_normalized,
)
from agent.pricing.enriched import ChainFlag
from agent.pricing.liquidity import liquidity_score_scalar

FLAG_CROSSED = int(ChainFlag.CROSSED)
FLAG_ZERO_BID = int(ChainFlag.ZERO_BID)
FLAG_NO_QUOTE = int(ChainFlag.NO_QUOTE)
FLAG_STALE = int(ChainFlag.STALE)
FLAG_NO_IV = int(ChainFlag.NO_IV)
FLAG_BELOW_INTRINSIC = int(ChainFlag.BELOW_INTRINSIC)
FLAG_ABOVE_UPPER_BOUND = int(ChainFlag.ABOVE_UPPER_BOUND)
FLAG_EXPIRED = int(ChainFlag.EXPIRED)
FLAG_VENDOR_IV_MISMATCH = int(ChainFlag.VENDOR_IV_MISMATCH)
FLAG_VENDOR_DELTA_MISMATCH = int(ChainFlag.VENDOR_DELTA_MISMATCH)

PARALLEL_MIN_CONTRACTS = 4_000
"""Chains at least this long use the threaded kernel. A typical chain (hundreds to a few
thousand contracts) is cheaper on one thread than waking the pool, and the scanner already
runs one chain per worker."""

BLOCK = 512
"""Contracts per block of the threaded kernel (the serial kernel takes the chain whole)."""

_NAN = math.nan

# Rows of the output matrix (chain._FLOAT_COLUMNS).
_T, _MID, _SPREAD, _IV, _IV_BID, _IV_ASK = 0, 1, 2, 3, 4, 5
_DELTA, _GAMMA, _VEGA, _THETA, _RHO = 6, 7, 8, 9, 10
_AGE, _LIQUIDITY, _IV_DIFF, _DELTA_DIFF = 11, 12, 13, 14


@njit(cache=True, error_model="numpy")
def _enrich_block(  # type: ignore[no-untyped-def]  # noqa: PLR0917
    start,
    stop,
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
    m = stop - start
    # Per-contract implied-vol constants (see _kernels.iv_setup).
    setup_status = np.empty(m, dtype=np.int64)
    df_r = np.empty(m)
    forward = np.empty(m)
    intrinsic = np.empty(m)
    upper = np.empty(m)
    x = np.empty(m)
    ex = np.empty(m)
    sqrt_FK = np.empty(m)
    sqrt_T = np.empty(m)
    # Lockstep jobs: up to one per contract for the mids, two for bid and ask.
    job_x = np.empty(2 * m)
    job_ex = np.empty(2 * m)
    job_s = np.empty(2 * m)
    job_lower = np.empty(2 * m, dtype=np.bool_)
    job_target = np.empty(2 * m)
    job_row = np.empty(2 * m, dtype=np.int64)
    job_result = np.empty(2 * m)

    # Pass 1: quotes, flags, mid; IV constants; mid problems.
    n_jobs = 0
    for k in range(m):
        i = start + k
        flag = 0
        T = out[_T, i]
        b = bid[i]
        a = ask[i]
        age = as_of_s - quote_time_s[i]
        if not age <= max_quote_age_s:  # NaN (unknown quote time) counts as stale
            flag |= FLAG_STALE
        if not T > 0.0:
            flag |= FLAG_EXPIRED
        mid = _NAN
        spread_pct = _NAN
        if not (a > 0.0 and b >= 0.0):  # NaN on either side fails too
            flag |= FLAG_NO_QUOTE
        elif b > a:
            flag |= FLAG_CROSSED
        else:
            if b == 0.0:
                flag |= FLAG_ZERO_BID
            mid = 0.5 * (a + b)
            spread_pct = (a - b) / mid * 100.0
        out[_MID, i] = mid
        out[_SPREAD, i] = spread_pct
        out[_AGE, i] = age
        out[_IV, i] = _NAN
        out[_IV_BID, i] = _NAN
        out[_IV_ASK, i] = _NAN
        flags[i] = flag
        iv_status[i] = STATUS_INVALID_INPUT  # no usable mid, unless set below
        st, df_r[k], forward[k], intrinsic[k], upper[k], x[k], ex[k], sqrt_FK[k], sqrt_T[k] = (
            iv_setup(spot, strike[i], T, rate, dividend_yield, is_call[i])
        )
        setup_status[k] = st
        if not math.isnan(mid) and st != STATUS_OK:
            iv_status[i] = st  # expired (T = 0) or an invalid contract
        elif not math.isnan(mid):
            iv, status, beta = iv_presolve(
                mid, st, df_r[k], forward[k], intrinsic[k], upper[k], ex[k], sqrt_FK[k]
            )
            out[_IV, i] = iv
            iv_status[i] = status
            if status == NEEDS_SOLVE:
                job_s[n_jobs], job_lower[n_jobs], job_target[n_jobs] = _start(
                    beta, x[k], ex[k], 0.0
                )
                job_x[n_jobs] = x[k]
                job_ex[n_jobs] = ex[k]
                job_row[n_jobs] = k
                n_jobs += 1

    # Pass 2: the mid problems, stepped together.
    solve_lockstep(job_x, job_ex, job_s, job_lower, job_target, n_jobs, job_result)
    for j in range(n_jobs):
        k = job_row[j]
        i = start + k
        s = job_result[j]
        out[_IV, i] = s / sqrt_T[k]
        iv_status[i] = STATUS_NO_CONVERGENCE if math.isnan(s) else STATUS_OK

    # Pass 3: bid and ask problems, seeded with the mid vol where there is one.
    n_jobs = 0
    for k in range(m):
        i = start + k
        if math.isnan(out[_MID, i]) or setup_status[k] != STATUS_OK:
            continue
        seed = out[_IV, i] * sqrt_T[k] if iv_status[i] == STATUS_OK else 0.0
        for side in range(2):
            price = ask[i] if side == 0 else bid[i]
            if side == 1 and not price > 0.0:
                continue  # zero bid: no bid-side vol
            iv, status, beta = iv_presolve(
                price, STATUS_OK, df_r[k], forward[k], intrinsic[k], upper[k], ex[k], sqrt_FK[k]
            )
            if status == NEEDS_SOLVE and seed > 0.0:
                job_s[n_jobs], job_lower[n_jobs], job_target[n_jobs] = _start_seeded(
                    beta, x[k], ex[k], seed
                )
                job_x[n_jobs] = x[k]
                job_ex[n_jobs] = ex[k]
                job_row[n_jobs] = 2 * k + side
                n_jobs += 1
            elif status == NEEDS_SOLVE:  # rare: no mid vol to start from
                out[_IV_ASK if side == 0 else _IV_BID, i] = (
                    solve_normalized(beta, x[k], ex[k], 0.0)[0] / sqrt_T[k]
                )
            else:
                out[_IV_ASK if side == 0 else _IV_BID, i] = iv

    # Pass 4: bid and ask, stepped together.
    solve_lockstep(job_x, job_ex, job_s, job_lower, job_target, n_jobs, job_result)
    for j in range(n_jobs):
        k = job_row[j] // 2
        side = job_row[j] - 2 * k
        out[_IV_ASK if side == 0 else _IV_BID, start + k] = job_result[j] / sqrt_T[k]

    # Pass 5: greeks at the mid vol, flags from the mid status, vendor check, liquidity.
    for k in range(m):
        i = start + k
        flag = flags[i]
        status = iv_status[i]
        if status == STATUS_BELOW_INTRINSIC:
            flag |= FLAG_BELOW_INTRINSIC
        elif status == STATUS_ABOVE_UPPER_BOUND:
            flag |= FLAG_ABOVE_UPPER_BOUND
        iv = out[_IV, i]
        if not math.isnan(iv):
            _, delta, gamma, vega, theta, rho = price_greeks_scalar(
                spot, strike[i], out[_T, i], rate, dividend_yield, iv, is_call[i]
            )
        else:
            flag |= FLAG_NO_IV
            delta = _NAN
            gamma = _NAN
            vega = _NAN
            theta = _NAN
            rho = _NAN
        iv_diff = vendor_iv[i] - iv
        delta_diff = vendor_delta[i] - delta
        if abs(iv_diff) > vendor_iv_tolerance:
            flag |= FLAG_VENDOR_IV_MISMATCH
        if abs(delta_diff) > vendor_delta_tolerance:
            flag |= FLAG_VENDOR_DELTA_MISMATCH
        out[_DELTA, i] = delta
        out[_GAMMA, i] = gamma
        out[_VEGA, i] = vega
        out[_THETA, i] = theta
        out[_RHO, i] = rho
        out[_LIQUIDITY, i] = liquidity_score_scalar(
            out[_SPREAD, i], open_interest[i], volume[i], out[_AGE, i]
        )
        out[_IV_DIFF, i] = iv_diff
        out[_DELTA_DIFF, i] = delta_diff
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
    n = strike.shape[0]
    for block in range((n + BLOCK - 1) // BLOCK):
        start = block * BLOCK
        _enrich_block(
            start,
            min(start + BLOCK, n),
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
    n = strike.shape[0]
    for block in prange((n + BLOCK - 1) // BLOCK):
        start = block * BLOCK
        _enrich_block(
            start,
            min(start + BLOCK, n),
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
