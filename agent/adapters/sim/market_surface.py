"""The implied-volatility surface of the simulated market.

For an underlying at a minute, with ``v0 = (vrp × regime vol × exp(x))²`` the instantaneous
implied variance (``x`` the IV level shock, :mod:`market_paths`) and ``v_long = (vrp × normal
vol)²`` its long-run level:

- **term structure** in business time ``tau`` (years of 252 sessions still to trade, the
  rest of today counted by its remaining intraday variance): the average variance
  ``v_long + (v0 − v_long)(1 − e^{−κ tau})/(κ tau)``, so the curve is in contango when ``v0`` is
  low (calm) and inverted when high (stress);
- **earnings bump**: each earnings gap between now and the expiry adds
  ``(EVENT_VRP × earnings move)²`` of total variance;
- quoted (calendar) ATM vol ``sqrt(w / T)`` with ``T`` the calendar years to 16:00 ET on expiry
  (the pricing convention), ``w`` the total variance — so weekends and nights carry little
  variance, as on a real desk;
- **skew/smile** in standardised moneyness ``z = ln(K/F)/sqrt(w)``:
  ``σ = σ_ATM × (1 − skew·ζ + smile·ζ²)`` for ``ζ ≤ 0``, with the call side's slope at
  ``CALL_SKEW_SHARE`` of the put side's, where ``ζ = Z_SAT × tanh(z / Z_SAT)`` saturates
  smoothly so the wings flatten without a kink. (A hard clip of ``z`` would put a concave
  kink in the smile: negative butterflies. With ``Z_SAT = 3`` Durrleman's condition holds
  for the specs' skew, smile and total-variance ranges over the listed strikes.)

The variance risk premium is the spec's ``vrp`` (implied over realised vol, > 1): on average
options are priced above the variance the paths deliver, as in real markets.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

TERM_KAPPA = 6.0
"""Mean reversion of implied variance, per business year (half-life about 4 weeks)."""
EVENT_VRP = 1.1
"""Implied earnings move over the realised earnings move's standard deviation."""
MARKET_VRP = 1.25
"""Implied over realised vol of the market factor (the vol-index proxy)."""
CALL_SKEW_SHARE = 0.35
Z_SAT = 3.0
"""Saturation scale of standardised moneyness in the smile."""
MIN_SMILE_MULT = 0.5
MAX_SMILE_MULT = 3.0


def mean_variance(v0: FloatArray | float, v_long: float, tau: FloatArray) -> FloatArray:
    """Average instantaneous variance over ``tau`` business years (per year)."""
    tau = np.asarray(tau, dtype=np.float64)
    k_tau = TERM_KAPPA * tau
    with np.errstate(divide="ignore", invalid="ignore"):
        decay = np.where(k_tau > 1e-8, -np.expm1(-k_tau) / k_tau, 1.0 - 0.5 * k_tau)
    return np.asarray(v_long + (np.asarray(v0) - v_long) * decay, dtype=np.float64)


def total_variance(
    v0: FloatArray | float, v_long: float, tau: FloatArray, event_variance: FloatArray
) -> FloatArray:
    """Total implied variance to expiry (dimensionless): diffusion plus earnings events."""
    tau = np.asarray(tau, dtype=np.float64)
    return np.asarray(mean_variance(v0, v_long, tau) * tau + event_variance, dtype=np.float64)


def smile_multiplier(z: FloatArray, skew: float, smile: float) -> FloatArray:
    """Implied vol over ATM vol at standardised moneyness ``z`` (see the module docstring);
    the [MIN_SMILE_MULT, MAX_SMILE_MULT] guard never binds for the universe's specs."""
    zc = Z_SAT * np.tanh(np.asarray(z) / Z_SAT)
    slope = np.where(zc <= 0.0, skew, CALL_SKEW_SHARE * skew)
    return np.asarray(
        np.clip(1.0 - slope * zc + smile * zc * zc, MIN_SMILE_MULT, MAX_SMILE_MULT),
        dtype=np.float64,
    )


def strike_vols(
    *,
    spot_usd: FloatArray | float,
    strike_usd: FloatArray,
    years: FloatArray,
    total_var: FloatArray,
    rate: float,
    dividend_yield: float,
    skew: float,
    smile: float,
) -> tuple[FloatArray, FloatArray]:
    """(implied vol per sqrt(calendar year), standardised moneyness z) per contract."""
    forward = np.asarray(spot_usd) * np.exp((rate - dividend_yield) * years)
    sd = np.sqrt(np.maximum(total_var, 1e-12))
    z = np.log(strike_usd / forward) / sd
    atm = sd / np.sqrt(np.maximum(years, 1e-12))
    return np.asarray(atm * smile_multiplier(z, skew, smile), dtype=np.float64), z


def strike_vols_grouped(
    *,
    spot_usd: FloatArray,
    strike_usd: FloatArray,
    row_group: npt.NDArray[np.int64],
    group_years: FloatArray,
    group_total_var: FloatArray,
    rate: float,
    dividend_yield: float,
    skew: float,
    smile: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(calendar years ≥ 1e-9, implied vol, z) per row, where row ``i`` takes its time to
    expiry and total variance from group ``row_group[i]`` (an expiry); ``spot_usd`` has one
    value or one per row. Same formula as :func:`strike_vols`, the per-expiry parts computed
    once per expiry."""
    # Per expiry first (a chain has ~10 expiries and ~50 strikes each), then per row.
    group_years = np.maximum(np.asarray(group_years, dtype=np.float64), 1e-9)
    group_sd = np.sqrt(np.maximum(np.asarray(group_total_var, dtype=np.float64), 1e-12))
    group_atm = group_sd / np.sqrt(np.maximum(group_years, 1e-12))
    group_growth = np.exp((float(rate) - float(dividend_yield)) * group_years)
    rows = np.asarray(row_group, dtype=np.intp)
    years = group_years[rows]
    forward = np.asarray(spot_usd, dtype=np.float64).reshape(-1) * group_growth[rows]
    z = np.log(np.asarray(strike_usd, dtype=np.float64) / forward) / group_sd[rows]
    zc = Z_SAT * np.tanh(z / Z_SAT)
    slope = np.where(zc <= 0.0, skew, CALL_SKEW_SHARE * skew)
    mult = np.minimum(
        np.maximum(1.0 - slope * zc + smile * zc * zc, MIN_SMILE_MULT), MAX_SMILE_MULT
    )
    sigma = group_atm[rows] * mult
    return years, sigma, z
