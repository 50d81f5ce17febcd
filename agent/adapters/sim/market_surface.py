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
  ``σ = σ_ATM × (1 − skew·z + smile·z²)`` for ``z ≤ 0``, with the call side's slope at
  ``CALL_SKEW_SHARE`` of the put side's; ``z`` is clipped to ±``Z_CLIP`` (flat wings).

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
Z_CLIP = 3.0
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
    """Implied vol over ATM vol at standardised moneyness ``z`` (see the module docstring)."""
    zc = np.clip(z, -Z_CLIP, Z_CLIP)
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
