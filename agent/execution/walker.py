"""The price walker, as pure functions of quotes, time and settings.

Prices are signed net prices per structure unit (positive = debit, negative = credit; see
:mod:`agent.domain.orders`). In that convention "worse for us" is always *higher*: paying
more or receiving less. So the bound risk approved (``RiskDecision.limit_bound``: the max
debit, or the min credit) is a ceiling, and walking toward the natural price means moving up.

A walk round: start at the anchor (``multi_leg_anchor``: mid by default; single legs with
``touch_pct``: 95 % of the bid to sell, 105 % of the ask to buy, a protected marketable
limit), then every ``walk_interval_s`` move toward the target (the natural price) in
``walk_steps`` equal steps, re-reading the quotes each time; round to ``tick_size_usd``
and never go past the bound (the rounded price is clamped to the bound rounded *down* to a
tick, so rounding can never cross it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from agent.config import ExecutionSettings
from agent.domain import OrderLeg, Quote, Side

__all__ = [
    "NetQuote",
    "PricePlan",
    "anchor_price",
    "bound_price",
    "exit_bound",
    "net_quote",
    "plan_price",
    "step_index",
    "step_toward",
    "target_price",
]

_HUNDRED = Decimal(100)


def _dec(value: float) -> Decimal:
    return Decimal(repr(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class NetQuote:
    """Signed net prices of one structure unit from the legs' quotes (USD per share).

    ``touch`` is the protected marketable price of a single-leg order (``touch_pct``), None
    for multi-leg orders.
    """

    mid: Decimal
    natural: Decimal
    touch: Decimal | None = None

    @property
    def spread_width(self) -> Decimal:
        """Distance from mid to natural (half the net bid-ask spread)."""
        return self.natural - self.mid


def net_quote(
    legs: Sequence[OrderLeg], quotes: Mapping[str, Quote], settings: ExecutionSettings
) -> NetQuote | None:
    """The net mid/natural of ``legs`` (None if a leg has no usable quote).

    A quote is usable with ``0 ≤ bid ≤ ask`` and ``ask > 0``: a zero bid is a real price for
    a worthless option being sold.
    """
    mid = Decimal(0)
    natural = Decimal(0)
    for leg in legs:
        quote = quotes.get(leg.symbol)
        if quote is None:
            return None
        bid, ask = _dec(quote.bid), _dec(quote.ask)
        if not (ask > 0 and Decimal(0) <= bid <= ask):
            return None
        sign = leg.side.sign * leg.ratio_qty
        mid += sign * (bid + ask) / 2
        natural += sign * (ask if leg.side is Side.BUY else bid)
    touch = None
    if len(legs) == 1:
        quote = quotes[legs[0].symbol]
        if legs[0].side is Side.BUY:
            touch = _dec(quote.ask) * _dec(settings.single_leg_buy_pct_of_ask) / _HUNDRED
        else:
            touch = -_dec(quote.bid) * _dec(settings.single_leg_sell_pct_of_bid) / _HUNDRED
    return NetQuote(mid=mid, natural=natural, touch=touch)


def anchor_price(net: NetQuote, settings: ExecutionSettings, *, single_leg: bool) -> Decimal:
    """Where a walk round starts."""
    if single_leg:
        if settings.single_leg_anchor == "touch_pct" and net.touch is not None:
            return net.touch
        return net.mid
    return net.mid if settings.multi_leg_anchor == "mid" else net.natural


def target_price(net: NetQuote, settings: ExecutionSettings, *, single_leg: bool) -> Decimal:
    """Where a walk round ends: the natural price (a touch-priced single leg stays put)."""
    if single_leg and settings.single_leg_anchor == "touch_pct" and net.touch is not None:
        return net.touch
    return net.natural


def exit_bound(net: NetQuote, settings: ExecutionSettings, *, single_leg: bool) -> Decimal:
    """The bound of an order that must get done: the current natural price, or for a
    touch-priced single leg its protected marketable price (which lies past the natural)."""
    return max(net.natural, target_price(net, settings, single_leg=single_leg))


def step_index(elapsed_s: float, *, interval_s: float, steps: int) -> int:
    """The walk step due ``elapsed_s`` after a round started (0 = the anchor)."""
    if steps <= 0 or elapsed_s < interval_s:
        return 0
    return min(steps, int(elapsed_s // interval_s))


def step_toward(anchor: Decimal, target: Decimal, step: int, steps: int) -> Decimal:
    """The price ``step`` of ``steps`` equal steps from ``anchor`` to ``target``."""
    if steps <= 0:
        return anchor
    step = max(0, min(step, steps))
    return anchor + (target - anchor) * step / steps


def bound_price(
    price: Decimal, *, bound: Decimal, tick: Decimal, side: Side | None
) -> tuple[Decimal, bool] | None:
    """Round ``price`` to a tick and clamp it to ``bound`` (a ceiling).

    Returns ``(limit, clamped)``; ``clamped`` tells that the bound decided the price.
    ``side`` is given for single-leg orders, whose limit must be signed by their side (a buy
    ≥ one tick, a sell ≤ minus one tick); None if no such price respects the bound.
    """
    rounded = (price / tick).to_integral_value(ROUND_HALF_UP) * tick
    ceiling = (bound / tick).to_integral_value(ROUND_FLOOR) * tick
    if side is Side.BUY:
        rounded = max(rounded, tick)
    elif side is Side.SELL:
        rounded = min(rounded, -tick)
    clamped = rounded > ceiling
    limit = ceiling if clamped else rounded
    if side is Side.BUY and limit < tick:
        return None
    return limit, clamped


@dataclass(frozen=True, slots=True, kw_only=True)
class PricePlan:
    """The limit a walk wants now, and the references it was computed from."""

    limit: Decimal
    step: int
    clamped: bool
    natural: Decimal | None
    mid: Decimal | None
    spread_width: Decimal | None


def plan_price(
    *,
    net: NetQuote,
    bound: Decimal,
    elapsed_s: float,
    settings: ExecutionSettings,
    side: Side | None,
) -> PricePlan | None:
    """The limit price ``elapsed_s`` into a walk round (None if the bound allows none).

    ``side`` is the side of a single-leg order (None for multi-leg orders).
    """
    single_leg = side is not None
    steps = settings.walk_steps
    step = step_index(elapsed_s, interval_s=settings.walk_interval_s, steps=steps)
    wanted = step_toward(
        anchor_price(net, settings, single_leg=single_leg),
        target_price(net, settings, single_leg=single_leg),
        step,
        steps,
    )
    bounded = bound_price(wanted, bound=bound, tick=_dec(settings.tick_size_usd), side=side)
    if bounded is None:
        return None
    limit, clamped = bounded
    return PricePlan(
        limit=limit,
        step=step,
        clamped=clamped,
        natural=net.natural,
        mid=net.mid,
        spread_width=net.spread_width,
    )
