"""Probability of profit and expected value of a structure held to expiry.

The underlying at expiry is lognormal around the forward ``F = S e^{(r - q) T}``:
``ln S_T ~ N(ln F - sigma^2 T / 2, sigma^2 T)``. Two uses, two vols:

- **Probability of profit** (the market's view): P(S_T on the profitable side of each
  breakeven) with sigma = the implied vol *at that breakeven*, interpolated linearly in
  strike between the structure's legs on that side (flat beyond the outermost leg).
- **Expected value** (our view): the payoff at expiry integrated in closed form
  (undiscounted Black: ``E[(K - S_T)^+] = K N(-d2) - F N(-d1)``) with one vol for every leg,
  normally the 20-session realized vol. Pricing the legs at implied vol but integrating at
  realized vol is what captures the volatility risk premium a credit seller is paid for.
  The payout is discounted at ``r`` to today and netted against the credit received.

Units: prices and strikes USD per share, T years of 365 days, vols per sqrt(year).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

_SQRT2 = math.sqrt(2.0)


def norm_cdf(x: float) -> float:
    """Standard normal CDF (erfc form: accurate in the lower tail)."""
    return 0.5 * math.erfc(-x / _SQRT2)


def forward_price(spot: float, years: float, rate: float, dividend_yield: float) -> float:
    """Forward price (USD) of the underlying for delivery in ``years``."""
    return spot * math.exp((rate - dividend_yield) * years)


def prob_above(level: float, forward: float, years: float, sigma: float) -> float:
    """P(S_T > level) under the lognormal around ``forward`` with vol ``sigma``."""
    if level <= 0.0:
        return 1.0
    if not (years > 0.0 and sigma > 0.0):
        return 1.0 if forward > level else 0.0
    vol_t = sigma * math.sqrt(years)
    d2 = (math.log(forward / level) - 0.5 * vol_t * vol_t) / vol_t
    return norm_cdf(d2)


def interpolate_iv(points: Sequence[tuple[float, float]], strike: float) -> float:
    """Linear interpolation in strike of (strike, iv) points; flat beyond the ends.

    Points with a non-finite IV are ignored; NaN when none remains.
    """
    usable = sorted((k, v) for k, v in points if math.isfinite(v) and v > 0.0)
    if not usable:
        return math.nan
    if strike <= usable[0][0]:
        return usable[0][1]
    if strike >= usable[-1][0]:
        return usable[-1][1]
    for (k1, v1), (k2, v2) in itertools.pairwise(usable):
        if k1 <= strike <= k2:
            if k2 == k1:
                return v1
            return v1 + (v2 - v1) * (strike - k1) / (k2 - k1)
    return usable[-1][1]  # unreachable: the loop covers [first, last]


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoffLeg:
    """One option of a structure: ``quantity`` > 0 long, < 0 short (contracts per unit)."""

    strike: float
    is_call: bool
    quantity: int


def expected_option_payoff(
    strike: float, is_call: bool, forward: float, years: float, sigma: float
) -> float:
    """E[payoff at expiry] of one option (USD per share, undiscounted, lognormal)."""
    if not (years > 0.0 and sigma > 0.0):
        intrinsic = forward - strike if is_call else strike - forward
        return max(intrinsic, 0.0)
    vol_t = sigma * math.sqrt(years)
    d1 = (math.log(forward / strike) + 0.5 * vol_t * vol_t) / vol_t
    d2 = d1 - vol_t
    if is_call:
        return forward * norm_cdf(d1) - strike * norm_cdf(d2)
    return strike * norm_cdf(-d2) - forward * norm_cdf(-d1)


def expected_value_per_share(
    legs: Sequence[PayoffLeg],
    *,
    credit: float,
    spot: float,
    years: float,
    rate: float,
    dividend_yield: float,
    sigma: float,
) -> float:
    """Expected P&L at expiry (USD per share per unit): ``credit`` received today (negative
    for a debit) plus the discounted expected value of the legs' payoffs at expiry."""
    forward = forward_price(spot, years, rate, dividend_yield)
    payoff = sum(
        leg.quantity * expected_option_payoff(leg.strike, leg.is_call, forward, years, sigma)
        for leg in legs
    )
    return credit + math.exp(-rate * years) * payoff


def prob_profit_above(
    breakeven: float, *, spot: float, years: float, rate: float, dividend_yield: float, iv: float
) -> float:
    """P(S_T > breakeven): the PoP of a bull put spread or a cash-secured put."""
    forward = forward_price(spot, years, rate, dividend_yield)
    return prob_above(breakeven, forward, years, iv)


def prob_profit_between(
    lower: float,
    upper: float,
    *,
    spot: float,
    years: float,
    rate: float,
    dividend_yield: float,
    iv_lower: float,
    iv_upper: float,
) -> float:
    """P(lower < S_T < upper), each tail at its own breakeven's vol: an iron condor's PoP."""
    if upper <= lower:
        return 0.0
    forward = forward_price(spot, years, rate, dividend_yield)
    above_lower = prob_above(lower, forward, years, iv_lower)
    above_upper = prob_above(upper, forward, years, iv_upper)
    return min(max(above_lower - above_upper, 0.0), 1.0)
