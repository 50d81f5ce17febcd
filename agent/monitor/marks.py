"""Marks: every open leg re-priced from a fresh quote, rolled up into a :class:`TradeMark`.

Pure functions of the legs, the quotes, the spot and the time; all the pricing work of a
monitor pass is one :func:`~agent.pricing.closed_form.implied_vol` call and one
:func:`~agent.pricing.closed_form.bs_greeks` call over every option leg of every trade. Those
are plain numpy (same values, NaNs and edge cases as the numba kernels of
:mod:`agent.pricing.bsm`, to ~1e-12): nothing here loads numba, which would cost the
Monitor's process ~45 MiB for a few dozen contracts a pass.

Per option leg (USD per share, kernel units):

- **mid** = (bid + ask) / 2 of a *usable* quote: ``0 ≤ bid ≤ ask``, ``ask > 0``, quote age
  ``≤ max_quote_age_s``; a zero bid only under a small ask (a nearly worthless option).
- **IV** implied from the mid (T to 16:00 ET on the expiry, ``market_data.risk_free_rate``,
  the underlying's dividend yield). A mid without a vol (below the European intrinsic value,
  which a deep ITM American option often is, or T = 0) borrows the mean IV of the trade's
  other legs; with none, the leg gets its intrinsic delta (±1 in the money, 0 out) and zero
  gamma, theta and vega.
- **greeks** from :func:`~agent.pricing.closed_form.bs_greeks` at that IV.

A leg **without a usable quote** (missing, crossed, zero/negative ask, a zero bid under an ask
above :data:`ZERO_BID_MAX_ASK_USD`, older than ``max_quote_age_s``) is marked with
what is known — the model price at the borrowed IV, else its intrinsic value — its bid and
ask are NaN, and the problem is listed in ``TradeMark.quote_problems``. The monitor then
fires no price-driven rule on that trade (see docs/monitoring.md, "Garbage quotes").

Stock legs (an assigned cash-secured put, a spread broken by an assignment) are marked at
the underlying's snapshot quote: delta 1 per share, no other greeks.

Trade values: ``units`` = GCD of the open option legs' quantities (the trade's qty when it
holds stock only); ``close_net_*`` are signed net prices per unit and per 100 shares of the
order that closes every open leg (positive = we pay): a short leg is bought back at its ask
(natural) or mid, a long leg sold at its bid or mid. ``entry_credit_usd`` is the cash the
open legs brought in at their entry prices (all units; negative for a debit), and
``unrealized_pnl_usd`` = Σ (mid − entry) × direction × quantity × multiplier, so for a credit
structure ``unrealized = entry credit − cost to close at mid``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import reduce

import numpy as np
import numpy.typing as npt

from agent.calendar import ET
from agent.domain import (
    CONTRACT_MULTIPLIER,
    Greeks,
    LegMark,
    OptionRight,
    PositionLeg,
    Quote,
    Side,
    Trade,
    TradeMark,
)
from agent.pricing.closed_form import bs_greeks, implied_vol
from agent.pricing.enriched import time_to_expiry_years
from agent.pricing.units import theta_per_day, vega_per_vol_point

__all__ = [
    "ZERO_BID_MAX_ASK_USD",
    "MarkInput",
    "MarkResult",
    "StockQuote",
    "extrinsic_value",
    "intrinsic_value",
    "mark_trades",
    "prob_touch",
    "quote_problem",
    "units_of",
]

FloatArray = npt.NDArray[np.float64]

ZERO_BID_MAX_ASK_USD = 0.20
"""A zero bid is the real market of a nearly worthless option only under a small ask; under a
larger ask it is a broken quote (its mid would be half the ask, garbage for a stop-loss)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StockQuote:
    """The underlying's quote from its snapshot (USD per share)."""

    price: float
    bid: float
    ask: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkInput:
    """One trade to mark: its open legs and what the market shows now."""

    trade: Trade
    legs: tuple[PositionLeg, ...]
    spot: StockQuote
    dividend_yield: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkResult:
    """A trade's mark plus, per leg, what goes into the position row (good quotes only)."""

    mark: TradeMark
    leg_marks: Mapping[str, tuple[float | None, Decimal]] = field(default_factory=dict)
    """position_id → (current delta per share, unrealized P&L USD) for legs with a usable
    quote; legs with a bad quote keep their last stored mark."""


def units_of(legs: Sequence[PositionLeg], trade: Trade) -> int:
    """Structure units held: the GCD of the open option legs' quantities (else trade qty)."""
    option_qtys = [leg.qty for leg in legs if leg.right is not None and leg.qty > 0]
    if option_qtys:
        return reduce(math.gcd, option_qtys)
    return max(trade.qty, 1)


def intrinsic_value(right: OptionRight, strike: float, spot: float) -> float:
    """Exercise value (USD per share) of a call or put at ``spot``."""
    if right is OptionRight.CALL:
        return max(spot - strike, 0.0)
    return max(strike - spot, 0.0)


def extrinsic_value(right: OptionRight, strike: float, spot: float, mid: float) -> float:
    """Time value left in a quote (USD per share): mid − intrinsic (may be negative)."""
    return mid - intrinsic_value(right, strike, spot)


def quote_problem(quote: Quote | None, *, now: datetime, max_quote_age_s: float) -> str | None:
    """Why a quote cannot be used for a mark (None if it can)."""
    if quote is None:
        return "no quote"
    bid, ask = quote.bid, quote.ask
    if not (math.isfinite(bid) and math.isfinite(ask)):
        return "quote is not a number"
    if ask <= 0.0:
        return f"no ask (bid {bid}, ask {ask})"
    if bid < 0.0:
        return f"negative bid {bid}"
    if bid > ask:
        return f"crossed quote (bid {bid} > ask {ask})"
    if bid == 0.0 and ask > ZERO_BID_MAX_ASK_USD:
        return f"one-sided quote (zero bid under an ask of {ask})"
    age_s = (now - quote.quoted_at).total_seconds()
    if age_s > max_quote_age_s:
        return f"stale quote ({age_s:.0f}s old > {max_quote_age_s:.0f}s)"
    return None


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def prob_touch(
    *,
    spot: float,
    barrier: float,
    years: float,
    sigma: float,
    rate: float,
    dividend_yield: float,
) -> float:
    """Probability that spot touches ``barrier`` before ``years`` (model, 0-1).

    Spot follows geometric Brownian motion with the risk-neutral drift ``r − q`` and vol
    ``sigma``; with ``m = (r − q − σ²/2)``, ``b = ln(barrier / spot)`` and ``s = σ√T``, the
    first-passage probability of a barrier below spot is
    ``N((b − mT)/s) + e^{2mb/σ²} N((b + mT)/s)`` (and the mirror image above). 1.0 when spot
    is already at or beyond it; NaN without a usable vol.
    """
    if not (spot > 0.0 and barrier > 0.0):
        return math.nan
    if years <= 0.0:
        return 1.0 if barrier == spot else 0.0
    if not (math.isfinite(sigma) and sigma > 0.0):
        return math.nan
    b = math.log(barrier / spot)
    if b == 0.0:
        return 1.0
    m = rate - dividend_yield - 0.5 * sigma * sigma
    s = sigma * math.sqrt(years)
    mirror = math.exp(min(2.0 * m * b / (sigma * sigma), 700.0))
    if b < 0.0:  # barrier below spot: the running minimum reaches it
        p = _norm_cdf((b - m * years) / s) + mirror * _norm_cdf((b + m * years) / s)
    else:  # barrier above spot: the running maximum reaches it
        p = _norm_cdf((-b + m * years) / s) + mirror * _norm_cdf((-b - m * years) / s)
    return min(max(p, 0.0), 1.0)


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


@dataclass(slots=True)
class _LegWork:
    """Working values of one leg while a pass is computed."""

    leg: PositionLeg
    trade_index: int
    bid: float = math.nan
    ask: float = math.nan
    mid: float = math.nan
    problem: str | None = None
    years: float = 0.0
    iv: float = math.nan
    delta: float = math.nan
    gamma: float = math.nan
    theta: float = math.nan
    vega: float = math.nan

    @property
    def is_option(self) -> bool:
        return self.leg.right is not None


def mark_trades(
    inputs: Sequence[MarkInput],
    quotes: Mapping[str, Quote],
    *,
    as_of: datetime,
    rate: float,
    max_quote_age_s: float,
) -> list[MarkResult]:
    """Marks for every trade in ``inputs`` (same order), from option ``quotes`` by symbol
    and each trade's underlying quote. Never raises on bad numbers (see the module doc)."""
    work: list[_LegWork] = []
    for t, item in enumerate(inputs):
        for leg in item.legs:
            w = _LegWork(leg=leg, trade_index=t)
            if w.is_option:
                quote = quotes.get(leg.symbol)
                w.problem = quote_problem(quote, now=as_of, max_quote_age_s=max_quote_age_s)
                if w.problem is None and quote is not None:
                    w.bid, w.ask = float(quote.bid), float(quote.ask)
                    w.mid = (w.bid + w.ask) / 2.0
                assert leg.expiry is not None
                w.years = time_to_expiry_years(as_of, leg.expiry)
            else:
                spot = item.spot
                bad = not (
                    math.isfinite(spot.bid) and math.isfinite(spot.ask) and 0 < spot.bid <= spot.ask
                )
                w.bid, w.ask = (math.nan, math.nan) if bad else (spot.bid, spot.ask)
                w.mid = spot.price if bad else (spot.bid + spot.ask) / 2.0
                w.iv, w.delta, w.gamma, w.theta, w.vega = 0.0, 1.0, 0.0, 0.0, 0.0
            work.append(w)

    options = [w for w in work if w.is_option]
    _solve_ivs(options, inputs, rate)
    _fallback_ivs(options, len(inputs))
    _greeks(options, inputs, rate)

    by_trade: list[list[_LegWork]] = [[] for _ in inputs]
    for w in work:
        by_trade[w.trade_index].append(w)
    return [
        _roll_up(item, legs, as_of=as_of, rate=rate)
        for item, legs in zip(inputs, by_trade, strict=True)
    ]


def _kernel_inputs(
    rows: Sequence[_LegWork], inputs: Sequence[MarkInput]
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    spot = np.array([inputs[w.trade_index].spot.price for w in rows], dtype=np.float64)
    strike = np.array([float(w.leg.strike or 0) for w in rows], dtype=np.float64)
    years = np.array([w.years for w in rows], dtype=np.float64)
    q = np.array([inputs[w.trade_index].dividend_yield for w in rows], dtype=np.float64)
    calls = np.array([w.leg.right is OptionRight.CALL for w in rows], dtype=np.bool_)
    return spot, strike, years, q, calls


def _solve_ivs(options: Sequence[_LegWork], inputs: Sequence[MarkInput], rate: float) -> None:
    priced = [w for w in options if w.problem is None]
    if not priced:
        return
    spot, strike, years, q, calls = _kernel_inputs(priced, inputs)
    mids = np.array([w.mid for w in priced], dtype=np.float64)
    ivs = implied_vol(mids, spot, strike, years, rate, q, calls)
    for w, iv in zip(priced, ivs.tolist(), strict=True):
        w.iv = iv if math.isfinite(iv) and iv > 0.0 else math.nan


def _fallback_ivs(options: Sequence[_LegWork], n_trades: int) -> None:
    """A leg without its own IV borrows the mean IV of its trade's other legs."""
    sums = [0.0] * n_trades
    counts = [0] * n_trades
    for w in options:
        if math.isfinite(w.iv):
            sums[w.trade_index] += w.iv
            counts[w.trade_index] += 1
    for w in options:
        if not math.isfinite(w.iv) and counts[w.trade_index]:
            w.iv = sums[w.trade_index] / counts[w.trade_index]


def _greeks(options: Sequence[_LegWork], inputs: Sequence[MarkInput], rate: float) -> None:
    with_iv = [w for w in options if math.isfinite(w.iv) and w.years > 0.0]
    if with_iv:
        spot, strike, years, q, calls = _kernel_inputs(with_iv, inputs)
        sigma = np.array([w.iv for w in with_iv], dtype=np.float64)
        g = bs_greeks(spot, strike, years, rate, q, sigma, calls)
        model = g.price
        for k, w in enumerate(with_iv):
            w.delta, w.gamma = float(g.delta[k]), float(g.gamma[k])
            w.theta, w.vega = float(g.theta[k]), float(g.vega[k])
            if w.problem is not None:  # no usable quote: mark at the model, floored at intrinsic
                assert w.leg.right is not None
                intrinsic = intrinsic_value(w.leg.right, float(w.leg.strike or 0), float(spot[k]))
                w.mid = max(float(model[k]), intrinsic)
    for w in options:
        right = w.leg.right
        assert right is not None
        spot_w = inputs[w.trade_index].spot.price
        strike_w = float(w.leg.strike or 0)
        if not math.isfinite(w.delta):
            itm = intrinsic_value(right, strike_w, spot_w) > 0.0
            w.delta = (1.0 if right is OptionRight.CALL else -1.0) if itm else 0.0
            w.gamma = w.theta = w.vega = 0.0
        if not math.isfinite(w.mid):
            w.mid = intrinsic_value(right, strike_w, spot_w)


def _roll_up(
    item: MarkInput, legs: Sequence[_LegWork], *, as_of: datetime, rate: float
) -> MarkResult:
    trade = item.trade
    spot = item.spot.price
    units = units_of(item.legs, trade)
    per_unit_shares = Decimal(units * CONTRACT_MULTIPLIER)
    today = as_of.astimezone(ET).date()

    leg_marks: dict[str, tuple[float | None, Decimal]] = {}
    marked: list[LegMark] = []
    problems: list[str] = []
    entry_credit = Decimal(0)
    unrealized = Decimal(0)
    close_mid = Decimal(0)
    close_natural = Decimal(0)
    delta = gamma = theta = vega = 0.0
    expiries: list[date] = []
    short_puts: list[_LegWork] = []
    short_calls: list[_LegWork] = []
    max_abs_short_delta = 0.0
    min_extrinsic = math.nan

    for w in legs:
        leg = w.leg
        multiplier = CONTRACT_MULTIPLIER if w.is_option else 1
        direction = leg.side.sign  # +1 long, −1 short
        shares = leg.qty * multiplier
        usable = w.problem is None and math.isfinite(w.bid) and math.isfinite(w.ask)
        # Exact cents from the quote when there is one (no float noise in the P&L).
        mid_dec = (_dec(w.bid) + _dec(w.ask)) / 2 if usable else _dec(w.mid)
        leg_pnl = (mid_dec - leg.entry_price) * direction * shares
        entry_credit -= direction * leg.entry_price * shares
        unrealized += leg_pnl
        # closing side is the opposite: a short is bought back (+), a long sold (−)
        closing_sign = -direction
        weight = Decimal(shares) / per_unit_shares
        close_mid += closing_sign * mid_dec * weight
        if usable:
            touch = w.ask if closing_sign > 0 else w.bid
            close_natural += closing_sign * _dec(touch) * weight
            leg_marks[leg.position_id] = (w.delta, leg_pnl)
        else:
            close_natural += closing_sign * mid_dec * weight
            if w.problem is not None:
                problems.append(f"{leg.symbol}: {w.problem}")
        sign_shares = direction * shares
        if w.is_option:
            delta += w.delta * sign_shares
            gamma += w.gamma * sign_shares
            theta += theta_per_day(w.theta) * sign_shares
            vega += vega_per_vol_point(w.vega) * sign_shares
            assert leg.expiry is not None and leg.right is not None
            expiries.append(leg.expiry)
            if leg.side is Side.SELL:
                max_abs_short_delta = max(max_abs_short_delta, abs(w.delta))
                (short_puts if leg.right is OptionRight.PUT else short_calls).append(w)
                strike = float(leg.strike or 0)
                if leg.right is OptionRight.PUT and spot < strike and w.problem is None:
                    extrinsic = extrinsic_value(leg.right, strike, spot, w.mid)
                    if not math.isfinite(min_extrinsic) or extrinsic < min_extrinsic:
                        min_extrinsic = extrinsic
        else:
            delta += sign_shares
        marked.append(
            LegMark(
                symbol=leg.symbol,
                side=leg.side,
                qty=leg.qty,
                right=leg.right,
                strike=float(leg.strike) if leg.strike is not None else None,
                expiry=leg.expiry,
                bid=w.bid,
                ask=w.ask,
                mid=w.mid,
                iv=w.iv,
                delta=w.delta,
                gamma=w.gamma,
                theta=w.theta,
                vega=w.vega,
                entry_price=leg.entry_price,
            )
        )

    # The most threatened short on each side: the highest short put, the lowest short call.
    short_put = max(short_puts, key=lambda w: float(w.leg.strike or 0), default=None)
    short_call = min(short_calls, key=lambda w: float(w.leg.strike or 0), default=None)
    put_strike = float(short_put.leg.strike or 0) if short_put is not None else None
    call_strike = float(short_call.leg.strike or 0) if short_call is not None else None
    breached: OptionRight | None = None
    distances: list[tuple[float, _LegWork]] = []
    if short_put is not None and put_strike is not None:
        distances.append(((spot - put_strike) / spot * 100.0, short_put))
        if spot < put_strike:
            breached = OptionRight.PUT
    if short_call is not None and call_strike is not None:
        distances.append(((call_strike - spot) / spot * 100.0, short_call))
        if spot > call_strike and breached is None:
            breached = OptionRight.CALL
    distance = math.nan
    touch = math.nan
    if distances:
        distance, nearest = min(distances, key=lambda d: d[0])
        if distance <= 0.0:
            touch = 1.0
        else:
            touch = prob_touch(
                spot=spot,
                barrier=float(nearest.leg.strike or 0),
                years=nearest.years,
                sigma=nearest.iv,
                rate=rate,
                dividend_yield=item.dividend_yield,
            )
    expiry = min(expiries) if expiries else None
    mark = TradeMark(
        trade_id=trade.trade_id,
        underlying=trade.underlying,
        as_of=as_of,
        spot=spot,
        expiry=expiry,
        dte=(expiry - today).days if expiry is not None else None,
        qty=units,
        entry_credit_usd=entry_credit,
        close_net_mid=close_mid,
        close_net_natural=close_natural,
        unrealized_pnl_usd=unrealized,
        greeks=Greeks(delta=delta, gamma=gamma, theta=theta, vega=vega),
        legs=tuple(marked),
        short_put_strike=put_strike,
        short_call_strike=call_strike,
        breached=breached,
        max_abs_short_delta=max_abs_short_delta,
        prob_touch=touch,
        short_distance_pct=distance,
        min_short_put_extrinsic=min_extrinsic,
        quote_problems=tuple(problems),
    )
    return MarkResult(mark=mark, leg_marks=leg_marks)
