"""The simulated exchange's fill model: pure functions of quotes, limit and a seeded draw.

Prices are USD per share. Net prices follow optagent's signed convention (buyer pays:
positive = debit, negative = credit; net = Σ side sign × ratio × leg price).

Per session minute, a working limit order whose signed limit is

- at or above the net **natural** (buys at the ask, sells at the bid) fills at the natural
  (price improvement to the touch);
- between the net **mid** and the natural fills at its limit with probability
  ``fill_rate_per_min × x^1.5 × 0.85^(legs−1) × width factor``, where ``x`` is the limit's
  position from mid (0) to natural (1);
- better than mid does not fill.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

PRICE_QUANTUM = Decimal("0.0001")
"""Leg fill prices are quantized to 1/100 of a cent."""
SPREAD_POSITION_EXPONENT = 1.5
EXTRA_LEG_FACTOR = 0.85
"""Each leg beyond the first multiplies the per-minute fill probability by this."""
TIGHT_HALF_SPREAD_USD = 0.05
"""Net half-spreads up to this width do not reduce the fill probability..."""
WIDE_HALF_SPREAD_SCALE_USD = 0.25
"""...beyond it, every further 0.25 USD of net half-spread divides it by one more."""

_TWO = Decimal(2)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class LegQuote:
    """The NBBO of one leg in USD per share (4 decimals)."""

    bid: Decimal
    ask: Decimal

    @property
    def is_tradable(self) -> bool:
        """A quote we are willing to fill against: a positive ask and not crossed."""
        return self.ask > 0 and self.bid >= 0 and self.bid <= self.ask

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / _TWO

    @property
    def half_spread(self) -> Decimal:
        return (self.ask - self.bid) / _TWO

    def natural(self, sign: int) -> Decimal:
        """What a buy (+1) pays or a sell (−1) receives at the touch."""
        return self.ask if sign > 0 else self.bid


@dataclass(frozen=True, slots=True, kw_only=True)
class LegSpec:
    """A leg as the fill model sees it: ``sign`` +1 buy / −1 sell, ``ratio`` units per unit."""

    sign: int
    ratio: int


def to_price(value: float) -> Decimal:
    """A float quote from the market as a Decimal with 4 decimals."""
    return Decimal(repr(round(value, 4))).quantize(PRICE_QUANTUM)


def net_natural(legs: Sequence[LegSpec], quotes: Sequence[LegQuote]) -> Decimal:
    """Signed net price per unit at the touch (buys at the ask, sells at the bid)."""
    return sum(
        (leg.sign * leg.ratio * q.natural(leg.sign) for leg, q in zip(legs, quotes, strict=True)),
        _ZERO,
    )


def net_mid(legs: Sequence[LegSpec], quotes: Sequence[LegQuote]) -> Decimal:
    """Signed net mid price per unit."""
    return sum((leg.sign * leg.ratio * q.mid for leg, q in zip(legs, quotes, strict=True)), _ZERO)


def fill_probability_per_min(
    *,
    limit: Decimal,
    mid: Decimal,
    natural: Decimal,
    n_legs: int,
    fill_rate_per_min: float,
) -> float:
    """Chance that a limit between mid and natural fills in one minute (0 outside that band)."""
    if natural <= mid or limit < mid:
        return 0.0
    if limit >= natural:
        return 1.0
    half_spread = float(natural - mid)
    position = float((limit - mid) / (natural - mid))
    width_factor = 1.0 / (
        1.0 + max(0.0, half_spread - TIGHT_HALF_SPREAD_USD) / WIDE_HALF_SPREAD_SCALE_USD
    )
    legs_factor = EXTRA_LEG_FACTOR ** max(0, n_legs - 1)
    return (
        fill_rate_per_min
        * math.pow(position, SPREAD_POSITION_EXPONENT)
        * legs_factor
        * width_factor
    )


def allocate_leg_prices(
    legs: Sequence[LegSpec], quotes: Sequence[LegQuote], net_price: Decimal
) -> tuple[Decimal, ...]:
    """Unsigned leg prices whose signed, ratio-weighted sum is ``net_price`` when possible.

    Each leg sits at the same fraction ``f`` of the way from its mid to its touch as the
    package does: ``leg = mid + sign × f × half-spread`` with ``f = (P − mid)/(natural − mid)``;
    then legs are quantized to $0.0001 and the rounding residue is put on a ratio-1 leg.
    Callers must take the parent's net from the returned legs (:func:`net_of`), which is
    exactly ``net_price`` unless no ratio-1 leg can absorb the residue.
    """
    mid = net_mid(legs, quotes)
    natural = net_natural(legs, quotes)
    fraction = _ZERO if natural == mid else (net_price - mid) / (natural - mid)
    prices = [
        max(_ZERO, (q.mid + leg.sign * fraction * q.half_spread).quantize(PRICE_QUANTUM))
        for leg, q in zip(legs, quotes, strict=True)
    ]
    residue = net_price - net_of(legs, prices)
    if residue:
        for i, leg in enumerate(legs):
            adjusted = prices[i] + leg.sign * residue
            if leg.ratio == 1 and adjusted >= 0:
                prices[i] = adjusted
                break
    return tuple(prices)


def net_of(legs: Sequence[LegSpec], prices: Sequence[Decimal]) -> Decimal:
    """Signed net price per unit of legs filled at ``prices``."""
    return sum((leg.sign * leg.ratio * p for leg, p in zip(legs, prices, strict=True)), _ZERO)


def quantize_price(value: Decimal, places: Decimal = PRICE_QUANTUM) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_EVEN)


def hashed_uniform(*parts: object) -> float:
    """A uniform draw in [0, 1) that depends only on ``parts`` (seed, order id, minute, …).

    Hash-derived rather than a stateful generator, so the outcome of one order at one minute
    does not depend on what else happened before it (or whether the exchange was restarted).
    """
    digest = hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64
