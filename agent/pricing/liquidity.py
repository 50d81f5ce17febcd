"""Liquidity score 0-100 of option contracts from spread, open interest, volume and quote age.

Formula (each sub-score in [0, 1], saturating, NaN input -> 0 for that component)::

    spread  = 2 ** (-spread_pct / 10)          # 1 at 0 %, 0.5 at 10 % of mid, 0.25 at 20 %
    oi      = open_interest / (open_interest + 500)   # 0.5 at 500 contracts
    volume  = volume / (volume + 100)                 # 0.5 at 100 contracts today
    age     = 2 ** (-max(quote_age_s, 0) / 60)        # 0.5 for a one-minute-old quote
    score   = 100 * (0.40 spread + 0.25 oi + 0.20 volume + 0.15 age)

The score rises monotonically with open interest and volume and falls with spread and age;
it lies in [0, 100]. A contract with no usable quote (NaN spread) can still score up to 60
from open interest, volume and age, so filters should also check the chain flags.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]

SPREAD_WEIGHT = 0.40
OPEN_INTEREST_WEIGHT = 0.25
VOLUME_WEIGHT = 0.20
QUOTE_AGE_WEIGHT = 0.15
SPREAD_HALF_PCT = 10.0
"""Spread (% of mid) at which the spread sub-score is one half."""
OPEN_INTEREST_HALF = 500.0
"""Open interest (contracts) at which the open-interest sub-score is one half."""
VOLUME_HALF = 100.0
"""Day volume (contracts) at which the volume sub-score is one half."""
QUOTE_AGE_HALF_S = 60.0
"""Quote age (seconds) at which the age sub-score is one half."""
_LN2 = math.log(2.0)


@njit(cache=True, error_model="numpy")
def liquidity_score_scalar(
    spread_pct: float, open_interest: float, volume: float, quote_age_s: float
) -> float:
    """Score 0-100 of one contract (see the module docstring for the formula)."""
    score = 0.0
    if spread_pct >= 0.0:  # False for NaN
        score += SPREAD_WEIGHT * math.exp(-_LN2 * spread_pct / SPREAD_HALF_PCT)
    if open_interest >= 0.0 and not math.isinf(open_interest):
        score += OPEN_INTEREST_WEIGHT * open_interest / (open_interest + OPEN_INTEREST_HALF)
    elif open_interest == math.inf:
        score += OPEN_INTEREST_WEIGHT
    if volume >= 0.0 and not math.isinf(volume):
        score += VOLUME_WEIGHT * volume / (volume + VOLUME_HALF)
    elif volume == math.inf:
        score += VOLUME_WEIGHT
    if not math.isnan(quote_age_s):
        score += QUOTE_AGE_WEIGHT * math.exp(-_LN2 * max(quote_age_s, 0.0) / QUOTE_AGE_HALF_S)
    return 100.0 * score


@njit(cache=True, error_model="numpy")
def _liquidity_loop(spread_pct, open_interest, volume, quote_age_s, out):  # type: ignore[no-untyped-def]
    for i in range(out.shape[0]):
        out[i] = liquidity_score_scalar(spread_pct[i], open_interest[i], volume[i], quote_age_s[i])


def liquidity_score(
    spread_pct: npt.ArrayLike,
    open_interest: npt.ArrayLike,
    volume: npt.ArrayLike,
    quote_age_s: npt.ArrayLike,
) -> FloatArray:
    """Liquidity score 0-100 per contract; inputs broadcast (spread in % of mid, open interest
    and volume in contracts, quote age in seconds)."""
    arrays = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (spread_pct, open_interest, volume, quote_age_s))
    )
    shape = arrays[0].shape
    flat = [np.ascontiguousarray(a).reshape(-1).copy() for a in arrays]
    out = np.empty(flat[0].shape[0], dtype=np.float64)
    _liquidity_loop(flat[0], flat[1], flat[2], flat[3], out)
    return out.reshape(shape)
