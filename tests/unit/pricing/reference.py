"""High-precision Black-Scholes-Merton reference (mpmath, 50 significant digits) for tests."""

from __future__ import annotations

from dataclasses import dataclass

import mpmath as mp
import numpy as np

DIGITS = 50


@dataclass(frozen=True, slots=True)
class ReferenceValues:
    price: float
    delta: float
    gamma: float
    vega: float
    theta: float
    rho: float


def bsm_reference(  # noqa: PLR0917
    S: float, K: float, T: float, r: float, q: float, sigma: float, is_call: bool
) -> ReferenceValues:
    """Price and greeks (theta per year, vega per 1.00 vol, rho per 1.00 rate), rounded once."""
    with mp.workdps(DIGITS):
        S_, K_, T_, r_, q_, v_ = (mp.mpf(float(a)) for a in (S, K, T, r, q, sigma))
        w = 1 if is_call else -1
        sqrt_T = mp.sqrt(T_)
        d1 = (mp.log(S_ / K_) + (r_ - q_ + v_**2 / 2) * T_) / (v_ * sqrt_T)
        d2 = d1 - v_ * sqrt_T
        df_q, df_r = mp.exp(-q_ * T_), mp.exp(-r_ * T_)
        pdf1 = mp.npdf(d1)
        n1, n2 = mp.ncdf(w * d1), mp.ncdf(w * d2)
        price = w * (S_ * df_q * n1 - K_ * df_r * n2)
        delta = w * df_q * n1
        gamma = df_q * pdf1 / (S_ * v_ * sqrt_T)
        vega = S_ * df_q * pdf1 * sqrt_T
        theta = -S_ * df_q * pdf1 * v_ / (2 * sqrt_T) + w * (
            q_ * S_ * df_q * n1 - r_ * K_ * df_r * n2
        )
        rho = w * K_ * T_ * df_r * n2
        return ReferenceValues(*(float(v) for v in (price, delta, gamma, vega, theta, rho)))


def reference_grid(seed: int, n: int) -> dict[str, np.ndarray]:
    """Random contracts over the required ranges: K/S 0.25-4, T 1 hour-10 years, sigma
    0.5 %-500 % (log-uniform), r -1 %..10 %, q 0..6 %, calls and puts."""
    rng = np.random.default_rng(seed)
    S = rng.uniform(5.0, 2000.0, n)
    return {
        "S": S,
        "K": S * np.exp(rng.uniform(np.log(0.25), np.log(4.0), n)),
        "T": np.exp(rng.uniform(np.log(1.0 / (365 * 24)), np.log(10.0), n)),
        "r": rng.uniform(-0.01, 0.10, n),
        "q": rng.uniform(0.0, 0.06, n),
        "sigma": np.exp(rng.uniform(np.log(0.005), np.log(5.0), n)),
        "is_call": rng.random(n) < 0.5,
    }
