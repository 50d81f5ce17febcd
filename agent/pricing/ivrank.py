"""ATM implied vol at a constant maturity, and IV rank / IV percentile against a history.

``atm_iv``: per expiry, the ATM vol is the IV interpolated linearly in strike at the forward
F = S e^{(r - q) T}, using at each strike the mean of the call and put mid IVs where both
exist (else the one that does). Expiries whose strikes do not straddle the forward, and
same-day expiries (DTE 0, dominated by the last hours' noise), are skipped. Across expiries
the total variance sigma² T is interpolated linearly in T between the two expiries bracketing
the target; beyond the listed expiries the vol is extrapolated flat (nearest expiry's ATM
vol). NaN when no expiry gives an ATM vol.

``iv_rank``: over the last ``window`` finite daily observations (oldest first):
rank = 100 (current - min) / (max - min), clipped to [0, 100]; when max == min the rank is
100 if current > max, else 0. percentile = 100 x share of days with IV strictly below the
current one. With fewer than ``min_days`` observations the status is WARMING_UP and both
are None: a short history gives no rank, never a made-up constant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from agent.pricing.enriched import EnrichedChain

DAYS_PER_YEAR = 365.0


class IvRankStatus(StrEnum):
    OK = "ok"
    WARMING_UP = "warming_up"
    """Fewer than ``min_days`` observations: no rank yet."""
    NO_CURRENT_IV = "no_current_iv"
    """The current IV is NaN (e.g. ``atm_iv`` could not be computed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IvRankResult:
    """IV rank and percentile (0-100) of the current IV; None unless ``status`` is OK."""

    rank: float | None
    percentile: float | None
    days: int
    """Observations used (finite values within the window)."""
    status: IvRankStatus
    current: float


def _expiry_atm_iv(
    strikes: npt.NDArray[np.float64],
    ivs: npt.NDArray[np.float64],
    forward: float,
) -> float:
    """Linear interpolation in strike at ``forward`` of the per-strike mean IV."""
    unique_strikes, inverse = np.unique(strikes, return_inverse=True)
    sums = np.bincount(inverse, weights=ivs, minlength=len(unique_strikes))
    counts = np.bincount(inverse, minlength=len(unique_strikes))
    per_strike = sums / counts
    if len(unique_strikes) == 0 or not (unique_strikes[0] <= forward <= unique_strikes[-1]):
        return math.nan
    return float(np.interp(forward, unique_strikes, per_strike))


def atm_iv(enriched: EnrichedChain, target_days: float = 30.0) -> float:
    """ATM implied vol (per sqrt(year)) at ``target_days`` calendar days; NaN if none."""
    usable = np.isfinite(enriched.iv) & (enriched.dte_days > 0)
    if not usable.any():
        return math.nan
    years_all = enriched.time_to_expiry_years
    points: list[tuple[float, float]] = []
    for T in np.unique(years_all[usable]):
        rows = usable & (years_all == T)
        forward = enriched.spot * math.exp((enriched.rate - enriched.dividend_yield) * float(T))
        sigma = _expiry_atm_iv(enriched.chain.strike[rows], enriched.iv[rows], forward)
        if math.isfinite(sigma):
            points.append((float(T), sigma))
    if not points:
        return math.nan
    target = target_days / DAYS_PER_YEAR
    below = [p for p in points if p[0] <= target]
    above = [p for p in points if p[0] >= target]
    if not below:
        return above[0][1]
    if not above:
        return below[-1][1]
    (T1, sigma1), (T2, sigma2) = below[-1], above[0]
    if T2 == T1:
        return sigma1
    variance1, variance2 = sigma1 * sigma1 * T1, sigma2 * sigma2 * T2
    variance = variance1 + (variance2 - variance1) * (target - T1) / (T2 - T1)
    return math.sqrt(max(variance, 0.0) / target)


def iv_rank(
    history: Sequence[float] | npt.NDArray[np.float64],
    current: float,
    *,
    min_days: int = 20,
    window: int = 252,
) -> IvRankResult:
    """IV rank and percentile of ``current`` against the last ``window`` daily IVs
    (``history`` oldest first; NaNs are skipped). See the module docstring."""
    values = np.asarray(history, dtype=np.float64)
    values = values[np.isfinite(values)][-window:] if window > 0 else values[:0]
    days = len(values)
    if not math.isfinite(current):
        return IvRankResult(
            rank=None,
            percentile=None,
            days=days,
            status=IvRankStatus.NO_CURRENT_IV,
            current=current,
        )
    if days < min_days or days == 0:
        return IvRankResult(
            rank=None, percentile=None, days=days, status=IvRankStatus.WARMING_UP, current=current
        )
    low, high = float(values.min()), float(values.max())
    if high > low:
        rank = min(max((current - low) / (high - low), 0.0), 1.0) * 100.0
    else:
        rank = 100.0 if current > high else 0.0
    percentile = float(np.count_nonzero(values < current)) / days * 100.0
    return IvRankResult(
        rank=rank, percentile=percentile, days=days, status=IvRankStatus.OK, current=current
    )
