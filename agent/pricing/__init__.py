"""Pricing core: Black-Scholes-Merton kernels (numba) and the array boundary.

Public API (float64 arrays, numpy broadcasting, never raises on bad numbers):

- :func:`bs_price`, :func:`bs_greeks` (:class:`Greeks`), :func:`implied_vol`,
  :func:`implied_vol_with_status` (:class:`IvStatus`) in :mod:`agent.pricing.bsm`;
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
from agent.pricing.units import (
    rho_per_pct,
    theta_per_day,
    theta_per_year,
    vega_per_unit_vol,
    vega_per_vol_point,
)

__all__ = [
    "Greeks",
    "IvStatus",
    "bs_greeks",
    "bs_price",
    "implied_vol",
    "implied_vol_with_status",
    "rho_per_pct",
    "theta_per_day",
    "theta_per_year",
    "vega_per_unit_vol",
    "vega_per_vol_point",
]
