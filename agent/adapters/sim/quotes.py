"""Option and stock quotes of the simulated market: spreads, ticks, sizes, open interest,
volume, and the occasional bad quote.

Spread (full width, USD per share) of an option whose fair value is ``fair``::

    width = max(base_pct[tier] × (1 + 0.35 |z|) × (1 + 0.6 / sqrt(dte + 0.25))
                × regime_mult × open_mult × fair,  min_width[tier])

so it widens with distance from the money (``|z|`` standard deviations), shorter expiry,
a less liquid tier, the stressed regime (×2) and the first 15 minutes of the session (×1.5).
The bid is ``fair − width/2`` rounded *down* to the tick, the ask ``fair + width/2`` rounded
*up* (with no bid, the ask is twice fair value rounded up): ``bid ≤ fair ≤ ask`` always, with ``fair = max(model price, intrinsic)`` (American
floor), so a clean quote never violates the no-arbitrage bounds (``0 ≤ bid ≤ ask``,
``ask ≥ intrinsic``, monotone in strike). Deep out of the money the bid is 0 and the ask the
tier's minimum (e.g. 0.00 / 0.05).

Ticks (the exchanges' penny-pilot style): tiers TOP and HIGH quote in $0.01 at every price;
tier MID in $0.01 below $3 and $0.05 from $3; tier LOW in $0.05 below $3 and $0.10 from $3.

Bad quotes: a share ``bad_quote_rate`` of (contract, minute) pairs, chosen by a hash of
(seed, contract, minute), is quoted *stale* (the quote of 1–15 minutes earlier, with its
older quote time), *crossed* (bid one tick above the ask) or with a *zero bid*: these are the
only quotes that may break the bounds above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.adapters.sim.market_rng import U64Array, combine, hash_uniform, mix64
from agent.adapters.sim.universe import LiquidityTier

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int8Array = npt.NDArray[np.int8]

BAD_NONE = 0
BAD_STALE = 1
BAD_CROSSED = 2
BAD_ZERO_BID = 3
STALE_SHARE = 0.4
CROSSED_SHARE = 0.3
"""Of bad quotes: 40 % stale, 30 % crossed, the rest zero-bid."""
MAX_STALE_MINUTES = 15
OPEN_WIDE_MINUTES = 15
OPEN_WIDTH_MULT = 1.5
REGIME_WIDTH_MULT: tuple[float, float, float] = (0.85, 1.0, 2.0)
VENDOR_MISSING_RATE = 0.03
"""Share of contracts whose vendor greeks and IV are missing (besides zero-bid ones)."""
VENDOR_IV_NOISE = 0.01
"""Relative noise of the vendor's implied vol."""


@dataclass(frozen=True, slots=True)
class TierQuoting:
    """How one liquidity tier is quoted (USD per share unless stated)."""

    base_pct: float
    """Full width as a share of fair value at the money, ~30 days, normal regime."""
    min_width: float
    min_ask: float
    tick_small_cents: int
    """Tick below $3."""
    tick_large_cents: int
    """Tick from $3."""
    size_lo: int
    size_hi: int
    """Displayed size range, contracts."""
    oi_atm: float
    """Typical open interest at the money (contracts)."""
    volume_atm: float
    """Typical full-day volume at the money (contracts)."""
    stock_half_spread_frac: float
    """Half the stock's bid-ask spread as a share of its price (at least half a cent)."""


TIER_QUOTING: dict[LiquidityTier, TierQuoting] = {
    LiquidityTier.TOP: TierQuoting(0.004, 0.01, 0.01, 1, 1, 50, 800, 25_000, 6_000, 0.00001),
    LiquidityTier.HIGH: TierQuoting(0.02, 0.02, 0.05, 1, 1, 10, 250, 6_000, 1_200, 0.00005),
    LiquidityTier.MID: TierQuoting(0.05, 0.05, 0.05, 1, 5, 1, 50, 700, 150, 0.0002),
    LiquidityTier.LOW: TierQuoting(0.12, 0.10, 0.05, 5, 10, 1, 10, 40, 10, 0.001),
}


def tick_size(tier: LiquidityTier, price_usd: float) -> float:
    """The option tick for a price level in a tier (USD)."""
    q = TIER_QUOTING[tier]
    return (q.tick_small_cents if price_usd < 3.0 else q.tick_large_cents) / 100.0


# --------------------------------------------------------------------------- quote engine

_SALT_SIZE = np.uint64(0x5151)
_SALT_KIND = np.uint64(0x7171)
_STALE_BELOW = STALE_SHARE
_CROSSED_BELOW = STALE_SHARE + CROSSED_SHARE


@dataclass(frozen=True, slots=True)
class QuoteArrays:
    """Top of book per contract (USD per share, contracts)."""

    bid: FloatArray
    ask: FloatArray
    bid_size: FloatArray
    ask_size: FloatArray
    bad_kind: Int8Array
    stale_lag_min: IntArray
    fair: FloatArray
    """``max(model price, intrinsic)`` per contract."""


def make_quotes(
    *,
    price: FloatArray,
    spot_usd: FloatArray | float,
    strike_usd: FloatArray,
    is_call: npt.NDArray[np.bool_],
    z: FloatArray,
    years: FloatArray,
    contract_id: U64Array,
    minute_key: int,
    tier: LiquidityTier,
    width_mult: float,
    bad_quote_rate: float,
) -> QuoteArrays:
    """Quotes around ``fair = max(price, intrinsic)`` (see the module docstring).

    ``price`` is the model (European) price, ``z`` the standardised moneyness, ``years`` the
    calendar time to expiry; ``minute_key`` names the minute and the seed for the bad-quote
    draw.
    """
    q = TIER_QUOTING[tier]
    price = np.asarray(price, dtype=np.float64)
    spot = np.asarray(spot_usd, dtype=np.float64).reshape(-1)
    strike = np.asarray(strike_usd, dtype=np.float64)
    calls = np.asarray(is_call, dtype=np.bool_)
    tick_small_c = float(q.tick_small_cents)
    tick_large_c = float(q.tick_large_cents)

    intrinsic = np.where(calls, np.maximum(spot - strike, 0.0), np.maximum(strike - spot, 0.0))
    fair = np.maximum(price, intrinsic)  # American floor
    dte_days = np.asarray(years, dtype=np.float64) * 365.0
    pct = q.base_pct * (1.0 + 0.35 * np.abs(z)) * (1.0 + 0.6 / np.sqrt(dte_days + 0.25))
    width = np.maximum(pct * width_mult * fair, q.min_width)
    # in cents from here on
    lo = (fair - 0.5 * width) * 100.0
    hi = (fair + 0.5 * width) * 100.0
    tick_b = np.where(lo < 300.0, tick_small_c, tick_large_c)
    bid_c = np.maximum(np.floor(lo / tick_b + 1e-7) * tick_b, 0.0) + 0.0  # + 0.0: no -0.0
    tick_a = np.where(hi < 300.0, tick_small_c, tick_large_c)
    ask_c = np.ceil(hi / tick_a - 1e-7) * tick_a
    no_bid = bid_c <= 0.0
    # no bid: market makers offer at about twice fair value, at least the minimum
    ask_c = np.where(no_bid, np.ceil(2.0 * fair * 100.0 / tick_a - 1e-7) * tick_a, ask_c)
    ask_c = np.maximum(ask_c, q.min_ask * 100.0)
    ask_c = np.where(ask_c <= bid_c, bid_c + tick_a, ask_c)

    # sizes and the bad-quote draw: hashes of (contract, minute)
    minute_hash = mix64(np.array([minute_key & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
    h = mix64(np.asarray(contract_id, dtype=np.uint64) ^ minute_hash)
    h_size = mix64(h ^ _SALT_SIZE)
    span = np.uint64(q.size_hi - q.size_lo + 1)
    bid_size = (h_size % span).astype(np.float64) + q.size_lo
    ask_size = (mix64(h_size) % span).astype(np.float64) + q.size_lo
    bid_size[no_bid] = 0.0
    n = len(price)
    bad_kind = np.zeros(n, dtype=np.int8)
    stale_lag = np.zeros(n, dtype=np.int64)
    u = hash_uniform(h)
    bad = np.flatnonzero(u < bad_quote_rate)
    if len(bad):
        v = u[bad] / bad_quote_rate
        stale = bad[v < _STALE_BELOW]
        crossed = bad[(v >= _STALE_BELOW) & (v < _CROSSED_BELOW)]
        zero_bid = bad[v >= _CROSSED_BELOW]
        bad_kind[stale] = BAD_STALE
        stale_lag[stale] = 1 + (mix64(h[stale] ^ _SALT_KIND) % np.uint64(MAX_STALE_MINUTES)).astype(
            np.int64
        )
        bad_kind[crossed] = BAD_CROSSED
        bid_c[crossed] = ask_c[crossed] + tick_a[crossed]
        bid_size[crossed] = np.maximum(bid_size[crossed], 1.0)
        bad_kind[zero_bid] = BAD_ZERO_BID
        bid_c[zero_bid] = 0.0
        bid_size[zero_bid] = 0.0
    bid = bid_c / 100.0
    ask = ask_c / 100.0
    return QuoteArrays(bid, ask, bid_size, ask_size, bad_kind, stale_lag, fair)


# --------------------------------------------------------------------------- OI and volume


def _hash_normal(ids: U64Array, salt: int) -> FloatArray:
    """Approximately standard normal numbers from hashes (Irwin-Hall of 4 uniforms)."""
    total = np.zeros(len(ids))
    h = ids
    for k in range(4):
        h = combine(h, salt * 16 + k + 1)
        total += hash_uniform(h)
    return np.asarray((total - 2.0) * math.sqrt(3.0), dtype=np.float64)


def open_interest_and_volume(
    *,
    tier: LiquidityTier,
    vol: float,
    strike_usd: FloatArray,
    is_call: npt.NDArray[np.bool_],
    days_to_expiry: FloatArray,
    days_listed: FloatArray,
    is_monthly: npt.NDArray[np.bool_],
    prev_close_usd: float,
    contract_id: U64Array,
    day_key: int,
    volume_mult: float,
) -> tuple[FloatArray, FloatArray]:
    """(open interest, full-day volume) per contract for one session, contracts.

    Highest near the money and at monthlies, decaying with distance (in standard
    deviations at the underlying's normal vol), building up over the first weeks a contract
    is listed; out-of-the-money puts carry more than calls. A persistent per-contract factor
    and a small daily one keep the numbers plausible from day to day.
    """
    q = TIER_QUOTING[tier]
    years = (days_to_expiry + 1.0) / 365.0
    z = np.log(strike_usd / prev_close_usd) / (vol * np.sqrt(years))
    otm_put = (~is_call) & (z < 0.0)
    shape_oi = np.exp(-0.5 * (z / 1.3) ** 2) * np.where(otm_put, 1.3, 1.0)
    age = np.minimum(1.0, (days_listed + 3.0) / 20.0)
    persistent = _hash_normal(contract_id, 1)
    daily_ids = combine(contract_id, day_key)
    oi = (
        q.oi_atm
        * shape_oi
        * np.where(is_monthly, 2.0, 1.0)
        * age
        * np.exp(0.5 * persistent - 0.125 + 0.1 * _hash_normal(daily_ids, 2))
    )
    shape_vol = np.exp(-0.5 * (z / 1.0) ** 2) * np.where(otm_put, 1.2, 1.0)
    near = 1.0 + 1.5 / np.sqrt(days_to_expiry + 1.0)
    volume = (
        q.volume_atm
        * shape_vol
        * near
        * np.where(is_monthly, 1.5, 1.0)
        * volume_mult
        * np.exp(0.7 * _hash_normal(daily_ids, 3) - 0.245)
    )
    return np.floor(oi), np.floor(volume)


def stock_quote(tier: LiquidityTier, price_usd: float, width_mult: float) -> tuple[float, float]:
    """(bid, ask) of the stock around its last price, in cents, at least a cent wide."""
    half = max(TIER_QUOTING[tier].stock_half_spread_frac * price_usd * width_mult, 0.005)
    bid = math.floor((price_usd - half) * 100.0 + 1e-7) / 100.0
    ask = math.ceil((price_usd + half) * 100.0 - 1e-7) / 100.0
    if ask <= bid:
        ask = round(bid + 0.01, 2)
    return max(bid, 0.0), ask
