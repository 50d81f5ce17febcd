"""Margin of a level-3 options account: the universal spread rule.

Per underlying, the requirement is the worst value at expiry of all option and stock
positions on that underlying, taken over every possible underlying price. The value at
expiry is piecewise linear in the underlying price ``S`` with kinks only at strikes, so the
minimum over ``S ≥ 0`` is found by evaluating ``S = 0``, every strike, and the slope as
``S → ∞`` (a negative slope means the loss is unbounded: a naked short call, short stock).

Every option is valued at intrinsic, whatever its expiry: for a calendar or diagonal this
is the usual conservative reading (a later-expiring long is worth at least its intrinsic).

Premiums are not part of the requirement: they already moved cash when the order filled,
so ``buying power = cash − Σ requirements`` charges a credit spread ``width − credit`` and a
long option or long stock its price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from agent.domain import (
    CONTRACT_MULTIPLIER,
    OptionContract,
    OptionRight,
    is_option_symbol,
    parse_occ,
)

UNBOUNDED_STRESS_FACTOR = Decimal("1.5")
"""An unbounded exposure that already exists (short stock after an assignment) is charged
as if the underlying rose to 1.5 × max(spot, highest strike): for plain short stock this is
Reg-T's 150 % (proceeds + 50 %)."""

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionExposure:
    """``contracts`` signed (negative = short) of one option on the underlying."""

    right: OptionRight
    strike_usd: Decimal
    contracts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UnderlyingExposure:
    """Everything held on one underlying: signed shares and option contracts."""

    shares: int = 0
    options: tuple[OptionExposure, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.shares == 0 and not any(o.contracts for o in self.options)

    @property
    def slope_at_infinity(self) -> int:
        """USD of value per USD of underlying price as ``S → ∞`` (shares + 100 × net calls)."""
        calls = sum(o.contracts for o in self.options if o.right is OptionRight.CALL)
        return self.shares + CONTRACT_MULTIPLIER * calls

    @property
    def is_bounded(self) -> bool:
        """True when the worst loss at expiry is finite (no uncovered upside)."""
        return self.slope_at_infinity >= 0

    @property
    def max_strike_usd(self) -> Decimal:
        return max((o.strike_usd for o in self.options), default=_ZERO)

    def value_at_expiry_usd(self, price_usd: Decimal) -> Decimal:
        """Value in USD of the whole exposure if the underlying is at ``price_usd`` at expiry."""
        value = Decimal(self.shares) * price_usd
        for option in self.options:
            if option.right is OptionRight.CALL:
                intrinsic = max(_ZERO, price_usd - option.strike_usd)
            else:
                intrinsic = max(_ZERO, option.strike_usd - price_usd)
            value += Decimal(option.contracts * CONTRACT_MULTIPLIER) * intrinsic
        return value

    def worst_value_usd(self, *, stress_price_usd: Decimal | None = None) -> Decimal | None:
        """The minimum value over all underlying prices; None if unbounded (and no stress).

        With ``stress_price_usd`` an unbounded exposure is evaluated up to that price instead.
        """
        points = [_ZERO, *(o.strike_usd for o in self.options)]
        if not self.is_bounded:
            if stress_price_usd is None:
                return None
            points.append(stress_price_usd)
        return min(self.value_at_expiry_usd(p) for p in points)

    def requirement_usd(self, *, spot_usd: Decimal | None) -> Decimal:
        """Maintenance requirement in USD (≥ 0) under the universal spread rule.

        ``spot_usd`` is only used to stress an unbounded exposure (see
        :data:`UNBOUNDED_STRESS_FACTOR`).
        """
        stress = None
        if not self.is_bounded:
            stress = UNBOUNDED_STRESS_FACTOR * max(spot_usd or _ZERO, self.max_strike_usd)
        worst = self.worst_value_usd(stress_price_usd=stress)
        assert worst is not None  # a stress price is always given for an unbounded exposure
        return max(_ZERO, -worst)


@lru_cache(maxsize=65536)
def _contract(symbol: str) -> OptionContract:
    return parse_occ(symbol)


def underlying_and_contract(symbol: str) -> tuple[str, OptionContract | None]:
    """The underlying of a symbol and its option contract (None for a stock)."""
    if is_option_symbol(symbol):
        contract = _contract(symbol)
        return contract.underlying, contract
    return symbol, None


def exposures_by_underlying(holdings: Mapping[str, int]) -> dict[str, UnderlyingExposure]:
    """Group signed holdings (symbol → contracts or shares) into exposures per underlying."""
    shares: dict[str, int] = {}
    options: dict[str, list[OptionExposure]] = {}
    for symbol, qty in holdings.items():
        if qty == 0:
            continue
        underlying, contract = underlying_and_contract(symbol)
        if contract is None:
            shares[underlying] = shares.get(underlying, 0) + qty
        else:
            options.setdefault(underlying, []).append(
                OptionExposure(right=contract.right, strike_usd=contract.strike, contracts=qty)
            )
    return {
        und: UnderlyingExposure(shares=shares.get(und, 0), options=tuple(options.get(und, ())))
        for und in sorted(set(shares) | set(options))
    }


def exposure_of(holdings: Iterable[tuple[str, int]]) -> UnderlyingExposure:
    """The exposure of holdings that all share one underlying (e.g. an order's legs)."""
    grouped = exposures_by_underlying(_sum_holdings(holdings))
    if len(grouped) > 1:
        raise ValueError(f"holdings span several underlyings: {sorted(grouped)}")
    return next(iter(grouped.values()), UnderlyingExposure())


def _sum_holdings(holdings: Iterable[tuple[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for symbol, qty in holdings:
        out[symbol] = out.get(symbol, 0) + qty
    return out
