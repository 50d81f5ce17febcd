"""Unit conversions for greeks.

The kernels return theta per year of calendar time, vega per 1.00 (100 vol points) of vol
and rho per 1.00 (100 %) of rate. Traders and most feeds quote theta per day, vega per vol
point and rho per 1 % of rate; convert at the edges with these helpers (they accept scalars
or arrays and return the same kind).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

DAYS_PER_YEAR = 365.0
"""Calendar days per year, the same 365-day year as T."""

Value = TypeVar("Value", float, npt.NDArray[np.float64])


def theta_per_day(theta_per_year: Value, *, days_per_year: float = DAYS_PER_YEAR) -> Value:
    """Theta in USD per calendar day from USD per year."""
    return theta_per_year / days_per_year


def theta_per_year(theta_per_day: Value, *, days_per_year: float = DAYS_PER_YEAR) -> Value:
    """Theta in USD per year from USD per calendar day."""
    return theta_per_day * days_per_year


def vega_per_vol_point(vega_per_unit_vol: Value) -> Value:
    """Vega in USD per vol point (0.01 of vol) from USD per 1.00 of vol."""
    return vega_per_unit_vol / 100.0


def vega_per_unit_vol(vega_per_vol_point: Value) -> Value:
    """Vega in USD per 1.00 of vol from USD per vol point."""
    return vega_per_vol_point * 100.0


def rho_per_pct(rho_per_unit_rate: Value) -> Value:
    """Rho in USD per 1 % of rate (0.01) from USD per 1.00 of rate."""
    return rho_per_unit_rate / 100.0
