"""Pricing core: Black-Scholes-Merton kernels (numba) and the array boundary.

Public API (float64 arrays, numpy broadcasting, never raises on bad numbers):

- :func:`bs_price`, :func:`bs_greeks` (:class:`Greeks`), :func:`implied_vol`,
  :func:`implied_vol_with_status` (:class:`IvStatus`) in :mod:`agent.pricing.bsm`;
- :func:`enrich_chain` (:class:`EnrichedChain`, :class:`ChainFlag`) in
  :mod:`agent.pricing.chain`;
- :func:`atm_iv`, :func:`iv_rank` (:class:`IvRankResult`) in :mod:`agent.pricing.ivrank`;
- :func:`liquidity_score` in :mod:`agent.pricing.liquidity`;
- unit conversions in :mod:`agent.pricing.units`.

Conventions, units and the NaN policy: docs/pricing.md. numba caches compiled kernels in
``__pycache__`` next to the modules; set ``NUMBA_CACHE_DIR`` to put them elsewhere (e.g. a
read-only install).
"""

from agent.pricing.bsm import (
    Greeks,
    IvStatus,
    bs_greeks,
    bs_price,
    implied_vol,
    implied_vol_with_status,
)
from agent.pricing.chain import (
    FLAG_REASONS,
    ChainFlag,
    EnrichedChain,
    enrich_chain,
    time_to_expiry_years,
)
from agent.pricing.ivrank import IvRankResult, IvRankStatus, atm_iv, iv_rank
from agent.pricing.liquidity import liquidity_score
from agent.pricing.units import (
    rho_per_pct,
    theta_per_day,
    theta_per_year,
    vega_per_unit_vol,
    vega_per_vol_point,
)

__all__ = [
    "FLAG_REASONS",
    "ChainFlag",
    "EnrichedChain",
    "Greeks",
    "IvRankResult",
    "IvRankStatus",
    "IvStatus",
    "atm_iv",
    "bs_greeks",
    "bs_price",
    "enrich_chain",
    "implied_vol",
    "implied_vol_with_status",
    "iv_rank",
    "liquidity_score",
    "rho_per_pct",
    "theta_per_day",
    "theta_per_year",
    "time_to_expiry_years",
    "vega_per_unit_vol",
    "vega_per_vol_point",
]
