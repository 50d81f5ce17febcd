"""Black-Scholes-Merton prices, greeks and implied vol: the typed, broadcasting array API.

Model: European options on an underlying with a continuous dividend yield ``q``
(generalised Black-Scholes with cost of carry ``b = r - q``). Listed US equity options are
American; we use the European value as an approximation (documented in docs/pricing.md).

Inputs broadcast by numpy rules (scalars and arrays mix freely); everything is converted to
float64 (``is_call`` to bool). Outputs have the broadcast shape. Kernels never raise:
impossible inputs give NaN (and, for implied vol, an :class:`IvStatus`).

Units and symbols (textbook symbols are allowed inside ``agent.pricing`` only):

- ``S`` spot, ``K`` strike: USD per share.
- ``T``: time to expiry in years of 365 days (see :func:`agent.pricing.chain.time_to_expiry_years`).
- ``r``: continuously compounded risk-free rate per year (0.05 = 5 %).
- ``q``: continuous dividend yield per year.
- ``sigma``: volatility per sqrt(year) (0.20 = 20 %).
- price: USD per share; delta: per 1 USD of spot; gamma: per USD of spot, per USD;
  vega: USD per 1.00 of vol (divide by 100 for a vol point); theta: USD per year of
  calendar time (divide by 365 for a day); rho: USD per 1.00 of rate (divide by 100 for 1 %).
  :mod:`agent.pricing.units` has the conversions.

Edge cases: ``T == 0`` gives intrinsic value max(±(S - K), 0), delta 0 or ±1 (±0.5 exactly
at the money), other greeks 0. ``sigma == 0`` gives the discounted forward intrinsic value
max(±(S e^-qT - K e^-rT), 0) with gamma = vega = 0. NaN or infinite inputs, ``S <= 0``,
``K <= 0``, ``T < 0`` or ``sigma < 0`` give NaN.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt

from agent.pricing import _kernels
from agent.pricing.closed_form import Greeks
from agent.pricing.enriched import IvStatus

__all__ = ["Greeks", "IvStatus", "bs_greeks", "bs_price", "implied_vol", "implied_vol_with_status"]

FloatArray = npt.NDArray[np.float64]
StatusArray = npt.NDArray[np.uint8]
ArrayLike = npt.ArrayLike

PARALLEL_MIN_SIZE = 20_000
"""Arrays at least this long run on the multi-threaded kernels (numba ``prange``); smaller
ones (a single chain) stay on one thread, where thread start-up would cost more than it saves."""


def _as_flat(values: ArrayLike, shape: tuple[int, ...], dtype: type) -> npt.NDArray[np.generic]:
    """A 1-D contiguous, writable array of length 1 (a broadcast scalar) or prod(shape).

    Size-1 inputs stay length 1 (the kernels index them with step 0), so scalars are never
    expanded. Read-only arrays are copied: numba compiles a separate specialisation for them.
    """
    array: npt.NDArray[np.generic] = np.asarray(values, dtype=dtype)
    if array.size == 1:
        flat = array.reshape(1)
    elif array.shape == shape:
        flat = np.ascontiguousarray(array).reshape(-1)
    else:
        flat = np.ascontiguousarray(np.broadcast_to(array, shape)).reshape(-1)
    if not flat.flags.writeable or not flat.flags.c_contiguous:
        flat = flat.copy()
    return flat


def _broadcast(
    *values: ArrayLike, is_call: ArrayLike
) -> tuple[tuple[int, ...], list[npt.NDArray[np.generic]], npt.NDArray[np.generic]]:
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    calls = np.asarray(is_call, dtype=np.bool_)
    shape = np.broadcast_shapes(*(a.shape for a in arrays), calls.shape)
    flats = [_as_flat(a, shape, np.float64) for a in arrays]
    return shape, flats, _as_flat(calls, shape, np.bool_)


def bs_price(  # noqa: PLR0917
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> FloatArray:
    """Black-Scholes-Merton price in USD per share (see the module docstring for units)."""
    shape, (S_, K_, T_, r_, q_, sigma_), calls = _broadcast(S, K, T, r, q, sigma, is_call=is_call)
    n = int(np.prod(shape))
    out = np.empty(n, dtype=np.float64)
    loop = _kernels._price_loop_parallel if n >= PARALLEL_MIN_SIZE else _kernels._price_loop
    loop(S_, K_, T_, r_, q_, sigma_, calls, n, out)
    return out.reshape(shape)


def bs_greeks(  # noqa: PLR0917
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> Greeks:
    """Price and greeks: delta, gamma, vega (per 1.00 vol), theta (per year), rho (per 1.00)."""
    shape, (S_, K_, T_, r_, q_, sigma_), calls = _broadcast(S, K, T, r, q, sigma, is_call=is_call)
    n = int(np.prod(shape))
    out = np.empty((6, n), dtype=np.float64)
    loop = _kernels._greeks_loop_parallel if n >= PARALLEL_MIN_SIZE else _kernels._greeks_loop
    loop(S_, K_, T_, r_, q_, sigma_, calls, n, out)
    return Greeks(*(cast(FloatArray, row.reshape(shape)) for row in out))


def implied_vol_with_status(  # noqa: PLR0917
    price: ArrayLike,
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    is_call: ArrayLike,
) -> tuple[FloatArray, StatusArray]:
    """Implied vol (per sqrt(year)) of BSM prices (USD per share), and an IvStatus per element.

    Where no vol exists the vol is NaN and the status says why (:class:`IvStatus`). A price
    at the discounted forward intrinsic value (within rounding noise) gives vol 0.0 with
    status OK. Prices so small that the normalised time value price / sqrt(F K) is below
    1e-280 count as NON_POSITIVE_PRICE (no vol can be resolved from them).
    """
    shape, (p_, S_, K_, T_, r_, q_), calls = _broadcast(price, S, K, T, r, q, is_call=is_call)
    n = int(np.prod(shape))
    out = np.empty(n, dtype=np.float64)
    status = np.empty(n, dtype=np.uint8)
    loop = _kernels._iv_loop_parallel if n >= PARALLEL_MIN_SIZE else _kernels._iv_loop
    loop(p_, S_, K_, T_, r_, q_, calls, n, out, status)
    return out.reshape(shape), status.reshape(shape)


def implied_vol(  # noqa: PLR0917
    price: ArrayLike,
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    is_call: ArrayLike,
) -> FloatArray:
    """Implied vol per sqrt(year); NaN where none exists (see :func:`implied_vol_with_status`)."""
    return implied_vol_with_status(price, S, K, T, r, q, is_call)[0]
