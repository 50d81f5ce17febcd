"""What enrichment produces, without the kernels that produce it: :class:`EnrichedChain`,
its :class:`ChainFlag` bits and :class:`IvStatus` codes, and :func:`time_to_expiry_years`.

A numba-free module: a process that only *reads* enriched chains (the Monitor gets them from
a scanner for roll searches) unpickles them through this module and never loads numba
(~45 MiB per process). The kernels (:mod:`agent.pricing._kernels`,
:mod:`agent.pricing._chain_kernel`) take their status codes and flag bits from here;
:mod:`agent.pricing.chain` (:func:`~agent.pricing.chain.enrich_chain`) and
:mod:`agent.pricing.bsm` re-export these names. The NaN policy and units are in
:mod:`agent.pricing.chain`'s docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from enum import IntEnum, IntFlag
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from agent.domain import OptionChain

FloatArray = npt.NDArray[np.float64]
ET = ZoneInfo("America/New_York")
EXPIRY_VALUATION_TIME_ET = time(16, 0)
SECONDS_PER_YEAR = 365.0 * 86400.0


class IvStatus(IntEnum):
    """Why an implied vol is (or is not) available, per element."""

    OK = 0
    """Solved; also a price at the discounted forward intrinsic value (vol 0.0), within the
    rounding noise of F - K (8 ulps of F + price e^rT)."""
    BELOW_INTRINSIC = 1
    """Price below the discounted forward intrinsic value max(±(S e^-qT - K e^-rT), 0) by more
    than rounding noise."""
    ABOVE_UPPER_BOUND = 2
    """Price at or above the no-arbitrage bound (S e^-qT for a call, K e^-rT for a put)."""
    NON_POSITIVE_PRICE = 3
    """Price <= 0."""
    EXPIRED = 4
    """T == 0: no time value left to imply a vol from."""
    NO_CONVERGENCE = 5
    """The solver did not converge (not expected; reported rather than guessed)."""
    INVALID_INPUT = 6
    """NaN or infinite input, S <= 0, K <= 0 or T < 0."""


class ChainFlag(IntFlag):
    """Per-contract condition bits of an :class:`EnrichedChain` (``flags`` is uint32)."""

    CROSSED = 1 << 0
    ZERO_BID = 1 << 1
    NO_QUOTE = 1 << 2
    STALE = 1 << 3
    NO_IV = 1 << 4
    BELOW_INTRINSIC = 1 << 5
    ABOVE_UPPER_BOUND = 1 << 6
    EXPIRED = 1 << 7
    VENDOR_IV_MISMATCH = 1 << 8
    VENDOR_DELTA_MISMATCH = 1 << 9


FLAG_REASONS: dict[ChainFlag, str] = {
    ChainFlag.CROSSED: "crossed quote (bid > ask)",
    ChainFlag.ZERO_BID: "zero bid",
    ChainFlag.NO_QUOTE: "no usable quote",
    ChainFlag.STALE: "stale or undated quote",
    ChainFlag.NO_IV: "no implied vol",
    ChainFlag.BELOW_INTRINSIC: "mid below intrinsic value",
    ChainFlag.ABOVE_UPPER_BOUND: "mid above no-arbitrage bound",
    ChainFlag.EXPIRED: "expired",
    ChainFlag.VENDOR_IV_MISMATCH: "vendor IV disagrees",
    ChainFlag.VENDOR_DELTA_MISMATCH: "vendor delta disagrees",
}
"""Human-readable text per flag, for decision records."""

FLOAT_COLUMNS = (
    "time_to_expiry_years",
    "mid",
    "spread_pct",
    "iv",
    "iv_bid",
    "iv_ask",
    "delta",
    "gamma",
    "vega",
    "theta",
    "rho",
    "quote_age_s",
    "liquidity",
    "vendor_iv_diff",
    "vendor_delta_diff",
)
ARRAY_COLUMNS = (*FLOAT_COLUMNS, "dte_days", "iv_status", "flags")


def time_to_expiry_years(as_of: datetime, expiry: date) -> float:
    """Years of 365 days from ``as_of`` (aware) to 16:00 New York time on ``expiry`` (>= 0)."""
    end = datetime.combine(expiry, EXPIRY_VALUATION_TIME_ET, ET)
    return max(0.0, (end - as_of).total_seconds()) / SECONDS_PER_YEAR


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrichedChain:
    """An option chain with model values per contract, as numpy columns aligned to ``chain``.

    Units: ``time_to_expiry_years`` years (365 d); ``dte_days`` calendar days (int64); ``mid``
    USD; ``spread_pct`` % of mid; ``iv*`` per sqrt(year); greeks as in
    :class:`agent.pricing.bsm.Greeks` (theta per year, vega per 1.00 vol, rho per 1.00 rate);
    ``quote_age_s`` seconds; ``liquidity`` 0-100; ``iv_status`` :class:`IvStatus` of the mid
    IV (uint8); ``flags`` :class:`ChainFlag` bits (uint32). See the module docstring for the
    NaN policy.
    """

    chain: OptionChain
    spot: float
    rate: float
    dividend_yield: float
    as_of: datetime
    time_to_expiry_years: FloatArray
    dte_days: npt.NDArray[np.int64]
    mid: FloatArray
    spread_pct: FloatArray
    iv: FloatArray
    iv_bid: FloatArray
    iv_ask: FloatArray
    iv_status: npt.NDArray[np.uint8]
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray
    quote_age_s: FloatArray
    flags: npt.NDArray[np.uint32]
    liquidity: FloatArray
    vendor_iv_diff: FloatArray
    vendor_delta_diff: FloatArray

    def __len__(self) -> int:
        return len(self.chain)

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> EnrichedChain:
        """A new enriched chain with only the selected rows (boolean mask or integer index)."""
        columns = {name: getattr(self, name)[index] for name in ARRAY_COLUMNS}
        return EnrichedChain(
            chain=self.chain.take(index),
            spot=self.spot,
            rate=self.rate,
            dividend_yield=self.dividend_yield,
            as_of=self.as_of,
            **columns,
        )

    def has_flag(self, flag: ChainFlag) -> npt.NDArray[np.bool_]:
        """Boolean mask of the contracts with ``flag`` set."""
        mask: npt.NDArray[np.bool_] = (self.flags & np.uint32(flag)) != 0
        return mask

    def reasons_for(self, i: int) -> list[str]:
        """Human-readable descriptions of the flags set on contract ``i`` (for decision records)."""
        bits = int(self.flags[i])
        return [text for flag, text in FLAG_REASONS.items() if bits & flag]

    def iv_status_of(self, i: int) -> IvStatus:
        return IvStatus(int(self.iv_status[i]))
