"""Chain enrichment: the array boundary between raw quotes and the decision code.

:func:`enrich_chain` takes one :class:`~agent.domain.OptionChain` (struct of arrays) and, in
one fused numba pass, adds per contract: time to expiry, days to expiry, mid, spread, implied
vols from mid, bid and ask, greeks at the mid vol, quote age, a liquidity score, differences
to the vendor's IV and delta, and a ``uint32`` bitmask of flags (:class:`ChainFlag`).

Time convention: T in years of 365 days from ``as_of`` to 16:00 America/New_York on the
expiry date (DST-aware, the same as ``MarketCalendar.time_to_expiry_years``), floored at 0.
DTE is calendar days from the New York date of ``as_of`` to the expiry date.

NaN policy (what a contract gets in each situation):

- **No quote** (ask missing or <= 0, or bid missing or < 0): flag NO_QUOTE; mid, spread,
  every IV and every greek are NaN; ``iv_status`` INVALID_INPUT.
- **Crossed** (bid > ask): flag CROSSED; same NaNs as no quote (the quote is not usable).
- **Zero bid** (bid == 0 < ask): flag ZERO_BID; mid = ask / 2, spread 200 %; IV from the mid
  and from the ask as usual; ``iv_bid`` NaN (a zero price implies no vol).
- **Mid below the discounted forward intrinsic value / at or above the upper bound**: flag
  BELOW_INTRINSIC / ABOVE_UPPER_BOUND and NO_IV; IV and greeks NaN; ``iv_bid`` and ``iv_ask``
  still computed on their own prices.
- **Expired** (T = 0, i.e. at or after 16:00 ET on the expiry date): flag EXPIRED and NO_IV;
  IVs and greeks NaN; ``iv_status`` EXPIRED (INVALID_INPUT if the quote is unusable too).
- **Stale** (quote age > ``max_quote_age_s``, or unknown quote time): flag STALE only; the
  numbers are still computed (the caller decides whether to trust them).
- Any other mid without a vol (solver failure, which is not expected): flag NO_IV.
- Greeks are always evaluated at the mid IV; where that is NaN they are NaN.
- **Vendor cross-check**: where the feed sent IV / delta, ``vendor_iv_diff`` = vendor - ours
  and ``vendor_delta_diff`` likewise (NaN where either is missing); flags VENDOR_IV_MISMATCH
  / VENDOR_DELTA_MISMATCH when the absolute difference exceeds the tolerance. Vendor greeks
  are recorded, never substituted for ours.

Units: as :mod:`agent.pricing.bsm` (theta per year, vega per 1.00 vol, rho per 1.00 rate);
``spread_pct`` percent of mid; ``quote_age_s`` seconds; ``liquidity`` 0-100
(:mod:`agent.pricing.liquidity`).
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import numpy.typing as npt

from agent.domain import OptionChain
from agent.errors import DataError
from agent.pricing import _chain_kernel
from agent.pricing.enriched import (
    ET,
    FLAG_REASONS,
    FLOAT_COLUMNS,
    ChainFlag,
    EnrichedChain,
    FloatArray,
    time_to_expiry_years,
)

__all__ = ["FLAG_REASONS", "ChainFlag", "EnrichedChain", "enrich_chain", "time_to_expiry_years"]


def enrich_chain(
    chain: OptionChain,
    spot: float,
    rate: float,
    dividend_yield: float,
    as_of: datetime,
    *,
    max_quote_age_s: float = 300.0,
    vendor_iv_tolerance: float = 0.02,
    vendor_delta_tolerance: float = 0.05,
    parallel: bool | None = None,
) -> EnrichedChain:
    """Enrich ``chain`` at ``as_of`` (aware) for underlying price ``spot`` (USD), continuously
    compounded ``rate`` and ``dividend_yield`` (per year).

    ``max_quote_age_s``: older quotes are flagged STALE. ``vendor_iv_tolerance`` (vol, 0.02 = 2
    points) and ``vendor_delta_tolerance``: larger absolute differences to the feed's own
    values are flagged. ``parallel``: use numba's thread pool (default: only for chains of
    4,000+ contracts, since scanner workers already enrich one chain each in parallel);
    results are identical either way. Raises :class:`DataError` for an unusable spot, rate or
    dividend yield or a missing expiry date (skip the symbol this cycle) and ``ValueError``
    for a naive ``as_of``.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    if not (math.isfinite(spot) and spot > 0.0):
        raise DataError(f"chain {chain.underlying}: unusable spot {spot!r}")
    if not (math.isfinite(rate) and math.isfinite(dividend_yield)):
        raise DataError(
            f"chain {chain.underlying}: unusable rate {rate!r} or yield {dividend_yield!r}"
        )
    n = len(chain)
    expiry_days = chain.expiry.astype("datetime64[D]")
    if np.isnat(expiry_days).any():
        raise DataError(f"chain {chain.underlying}: contracts without an expiry date")
    unique_expiries, inverse = np.unique(expiry_days, return_inverse=True)
    years = np.array(
        [time_to_expiry_years(as_of, d.item()) for d in unique_expiries], dtype=np.float64
    )
    today = np.datetime64(as_of.astimezone(ET).date(), "D")
    dte_days = (unique_expiries - today).astype(np.int64)[inverse]
    floats = np.empty((len(FLOAT_COLUMNS), n), dtype=np.float64)
    floats[0] = years[inverse]
    iv_status = np.empty(n, dtype=np.uint8)
    flags = np.empty(n, dtype=np.uint32)
    if parallel is None:
        parallel = n >= _chain_kernel.PARALLEL_MIN_CONTRACTS
    kernel = _chain_kernel.enrich_parallel if parallel else _chain_kernel.enrich_serial
    kernel(
        _f64(chain.strike),
        _bool(chain.is_call),
        _f64(chain.bid),
        _f64(chain.ask),
        _f64(chain.quote_time_s),
        _f64(chain.volume),
        _f64(chain.open_interest),
        _f64(chain.vendor_iv),
        _f64(chain.vendor_delta),
        float(spot),
        float(rate),
        float(dividend_yield),
        as_of.timestamp(),
        float(max_quote_age_s),
        float(vendor_iv_tolerance),
        float(vendor_delta_tolerance),
        floats,
        iv_status,
        flags,
    )
    columns = dict(zip(FLOAT_COLUMNS, floats, strict=True))
    return EnrichedChain(
        chain=chain,
        spot=float(spot),
        rate=float(rate),
        dividend_yield=float(dividend_yield),
        as_of=as_of,
        dte_days=dte_days,
        iv_status=iv_status,
        flags=flags,
        **columns,
    )


def _f64(column: npt.ArrayLike) -> FloatArray:
    """Contiguous, writable float64 (what the compiled kernel was specialised for)."""
    array: FloatArray = np.ascontiguousarray(column, dtype=np.float64)
    return array if array.flags.writeable else array.copy()


def _bool(column: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    array: npt.NDArray[np.bool_] = np.ascontiguousarray(column, dtype=np.bool_)
    return array if array.flags.writeable else array.copy()
