"""Rolls: close the threatened legs and open their replacement as ONE multi-leg order.

:func:`find_roll` takes a trade the strategy wants rolled, the enriched chain of its
underlying and the strategy's :meth:`~agent.strategies.Strategy.roll_candidates` (the
opening side, best first), and returns a :class:`RollAction` for the first acceptable
combination, or the reasons none was.

**What is closed.** A spread (bull put spread) closes both legs and a cash-secured put its
short put; an iron condor closes only its *tested side* — the breached side, else the short
with the larger |delta| (:func:`agent.strategies.iron_condor.tested_side`) — because the
whole condor plus a new side would exceed the 4-leg limit of one multi-leg order. So a roll
order is close 2 + open 2 (spread, condor side) or close 1 + open 1 (CSP).

**Prices of the whole order**, signed net per unit, USD per share (negative = credit), the
convention of :mod:`agent.domain.orders` and of ``ExecutionService.roll_trade``, which
sends ``close_symbols`` (each at its held quantity ÷ the units held) plus the candidate's
legs as one order priced at ``candidate.net_price_mid`` (anchor) / ``net_price_natural``
(the natural price, which risk turns into the limit bound):

- closing legs from the same chain snapshot as the opening legs: a short bought back at its
  ask rounded up to the cent, a long sold at its bid rounded down (natural), or at the exact
  mid;
- ``net_price_natural = close natural + opening natural``;
  ``net_price_mid = close mid + opening mid``, rounded up to the cent (toward less credit).

**Acceptance** (every rule must pass; the reasons go into the candidate):

1. ``roll_legs``: at most 4 legs, unique symbols, 2-4 options on one underlying (one
   multi-leg order), every closing leg held in equal ratio;
2. ``roll_net_credit``: the net credit at the natural price ``-net_price_natural ≥
   roll_min_net_credit_usd`` of the strategy (0 by default: credit-neutral or better);
3. ``roll_short_delta``: each new short's delta inside the strategy's band (the condor's put
   or call band for its side);
4. ``roll_max_loss``: the new legs' max loss per unit (payout at worst − their natural
   credit, the strategy's ``max_loss_usd``) may not exceed that of the legs being closed
   (their payout at worst − the premium they brought in at entry): the roll must not make
   the position riskier than it was when risk approved it. What closing costs is judged by
   ``roll_net_credit``; risk judges the book after the roll against its own budgets (heat,
   per-trade, concentration) when the engine asks it. The payout at worst is a vertical's
   width, a cash-secured put's strike;
5. ``roll_liquidity``: every leg of the order has a usable quote in the chain
   (``0 ≤ bid ≤ ask``, ``ask > 0``); the opening short passed the scanner's contract filters
   (the strategy only picks eligible shorts). The order's liquidity score is its weakest leg's.

Among acceptable candidates the strategy's ranking decides (EV per USD at risk × quality,
the entry score).

**The candidate handed to risk and execution** (``RollAction.candidate``): purpose ROLL, the
opening legs, ``rolled_from_trade_id``, ``close_symbols``, the whole order's net prices, the
opening side's greeks (risk removes the closed legs' greeks itself), and — by contract with
risk — ``max_loss_usd``/``capital_usd`` of the whole structure held after the roll per unit:
the new legs' plus, for a condor, the untested side's (from its entry prices; conservative,
as the two sides then expire on different dates). ``credit_usd`` stays the opening side's
credit: it describes the trade the roll opens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal
from functools import reduce

import numpy as np

from agent.config import AgentSettings, ExitSettings
from agent.domain import (
    CONTRACT_MULTIPLIER,
    Candidate,
    ExitReason,
    OptionRight,
    OrderPurpose,
    PositionLeg,
    Reason,
    RollAction,
    Side,
    StructureKind,
    Trade,
    TradeMark,
)
from agent.execution.intents import mleg_compatible
from agent.pricing.enriched import EnrichedChain
from agent.strategies.base import Strategy, StrategyContext
from agent.strategies.common import leg_price, to_decimal
from agent.strategies.iron_condor import tested_side

__all__ = [
    "ClosingLeg",
    "RollSearch",
    "closing_legs_for",
    "delta_band",
    "exit_settings_for",
    "find_roll",
    "max_payout_per_share",
    "price_roll",
]

CENT = Decimal("0.01")
SHOWN_REJECTIONS = 5
"""Rejected roll candidates named in a close's detail (the rest are counted)."""
_MULTIPLIER = Decimal(CONTRACT_MULTIPLIER)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosingLeg:
    """A held leg the roll closes, with its quote (USD per share)."""

    position: PositionLeg
    ratio: int
    bid: float
    ask: float

    @property
    def symbol(self) -> str:
        return self.position.symbol

    @property
    def usable(self) -> bool:
        return (
            math.isfinite(self.bid)
            and math.isfinite(self.ask)
            and self.ask > 0.0
            and 0.0 <= self.bid <= self.ask
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RollSearch:
    """The outcome of a roll search: the action, or why there is none."""

    action: RollAction | None
    rejections: tuple[str, ...] = ()
    candidates: int = 0

    def why_not(self) -> str:
        if self.action is not None:
            return ""
        if not self.rejections:
            return "no roll candidate"
        shown = "; ".join(self.rejections[:SHOWN_REJECTIONS])
        more = len(self.rejections) - SHOWN_REJECTIONS
        return shown + (f"; and {more} more" if more > 0 else "")


def exit_settings_for(kind: StructureKind, settings: AgentSettings) -> ExitSettings:
    s = settings.strategies
    if kind is StructureKind.BULL_PUT_SPREAD:
        return s.bull_put_spread
    if kind is StructureKind.CASH_SECURED_PUT:
        return s.cash_secured_put
    if kind is StructureKind.IRON_CONDOR:
        return s.iron_condor
    raise ValueError(f"{kind.value} has no exit settings")


def delta_band(
    kind: StructureKind, right: OptionRight, settings: AgentSettings
) -> tuple[float, float]:
    """The short-delta band of ``kind`` for a short of ``right`` (inclusive)."""
    s = settings.strategies
    if kind is StructureKind.BULL_PUT_SPREAD:
        return s.bull_put_spread.short_delta_min, s.bull_put_spread.short_delta_max
    if kind is StructureKind.CASH_SECURED_PUT:
        return s.cash_secured_put.short_delta_min, s.cash_secured_put.short_delta_max
    if kind is StructureKind.IRON_CONDOR:
        ic = s.iron_condor
        if right is OptionRight.CALL:
            return ic.call_delta_min, ic.call_delta_max
        return ic.put_delta_min, ic.put_delta_max
    raise ValueError(f"{kind.value} has no delta band")


def closing_legs_for(
    trade: Trade, mark: TradeMark, legs: Sequence[PositionLeg]
) -> tuple[list[PositionLeg], list[PositionLeg]]:
    """(legs the roll closes, legs it keeps): a condor's tested side, else every option leg."""
    options = [leg for leg in legs if leg.right is not None and leg.qty > 0]
    if trade.strategy is StructureKind.IRON_CONDOR:
        side = tested_side(mark)
        closing = [leg for leg in options if leg.right is side]
        kept = [leg for leg in options if leg.right is not side]
        return closing, kept
    return options, []


def max_payout_per_share(
    shorts: Sequence[tuple[OptionRight, float]], longs: Sequence[tuple[OptionRight, float]]
) -> Decimal:
    """The most one unit of these legs (one contract each) can pay out at expiry, per share:
    a vertical's width, a lone short put's strike; unbounded (inf) for a naked short call."""
    if len(shorts) == 1 and not longs:
        right, strike = shorts[0]
        return to_decimal(strike) if right is OptionRight.PUT else Decimal("Infinity")
    if len(shorts) == 1 and len(longs) == 1:
        return abs(to_decimal(shorts[0][1]) - to_decimal(longs[0][1]))
    # Anything else: the sum of the shorts' payouts at their worst is a safe upper bound.
    total = Decimal(0)
    for right, strike in shorts:
        if right is OptionRight.CALL:
            return Decimal("Infinity")
        total += to_decimal(strike)
    return total


def _chain_quotes(
    chain: EnrichedChain, symbols: Sequence[str]
) -> dict[str, tuple[float, float, float]]:
    """(bid, ask, liquidity) of ``symbols`` in the chain (absent when not listed)."""
    out: dict[str, tuple[float, float, float]] = {}
    if not symbols or len(chain) == 0:
        return out
    rows = np.flatnonzero(np.isin(chain.chain.symbol, np.asarray(symbols, dtype=np.str_)))
    for row in rows.tolist():
        out[str(chain.chain.symbol[row])] = (
            float(chain.chain.bid[row]),
            float(chain.chain.ask[row]),
            float(chain.liquidity[row]),
        )
    return out


def price_roll(
    closing: Sequence[ClosingLeg], candidate: Candidate
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(close natural, close mid, order natural, order mid): signed net per unit (see the
    module doc); the order mid is rounded up to the cent (toward less credit)."""
    close_natural = Decimal(0)
    close_mid = Decimal(0)
    for leg in closing:
        closing_side = leg.position.side.opposite()
        touch = leg.ask if closing_side is Side.BUY else leg.bid
        close_natural += closing_side.sign * leg.ratio * leg_price(touch, closing_side)
        close_mid += closing_side.sign * leg.ratio * (to_decimal(leg.bid) + to_decimal(leg.ask)) / 2
    natural = close_natural + candidate.net_price_natural
    mid = (close_mid + candidate.net_price_mid).quantize(CENT, rounding=ROUND_CEILING)
    return close_natural, close_mid, natural, mid


def _side_max_loss(legs: Sequence[PositionLeg], units: int) -> Decimal:
    """Max loss per unit of held legs from their entry prices (payout − premium, ≥ 0)."""
    if not legs:
        return Decimal(0)
    shorts = [
        (leg.right, float(leg.strike or 0)) for leg in legs if leg.side is Side.SELL and leg.right
    ]
    longs = [
        (leg.right, float(leg.strike or 0)) for leg in legs if leg.side is Side.BUY and leg.right
    ]
    payout = max_payout_per_share(shorts, longs)
    if not payout.is_finite():
        return payout
    premium = sum(
        (-leg.side.sign * leg.entry_price * Decimal(leg.qty) / Decimal(units) for leg in legs),
        Decimal(0),
    )
    return max((payout - premium) * _MULTIPLIER, Decimal(0))


def find_roll(
    *,
    trade: Trade,
    mark: TradeMark,
    legs: Sequence[PositionLeg],
    strategy: Strategy,
    chain: EnrichedChain,
    ctx: StrategyContext,
    settings: AgentSettings,
    reason: ExitReason,
    detail: str,
) -> RollSearch:
    """The best acceptable roll of ``trade`` (see the module doc), or why there is none."""
    closing_positions, kept = closing_legs_for(trade, mark, legs)
    if not closing_positions:
        return RollSearch(action=None, rejections=("no option legs to roll",))
    units_held = reduce(math.gcd, (leg.qty for leg in closing_positions))
    quotes = _chain_quotes(chain, [leg.symbol for leg in closing_positions])
    by_symbol = {leg.symbol: leg for leg in mark.legs}
    closing: list[ClosingLeg] = []
    liquidity = math.inf
    for position in closing_positions:
        quoted = quotes.get(position.symbol)
        if quoted is not None:
            bid, ask, liq = quoted
            liquidity = min(liquidity, liq if math.isfinite(liq) else 0.0)
        else:  # not in the chain snapshot (outside its expiry window): the mark's quote
            marked = by_symbol.get(position.symbol)
            bid, ask = (marked.bid, marked.ask) if marked is not None else (math.nan, math.nan)
            liquidity = 0.0
        closing.append(
            ClosingLeg(position=position, ratio=position.qty // units_held, bid=bid, ask=ask)
        )

    exits = exit_settings_for(trade.strategy, settings)
    min_credit = to_decimal(exits.roll_min_net_credit_usd)
    old_max_loss = _side_max_loss(closing_positions, units_held)
    remainder_loss = _side_max_loss(kept, units_held)
    candidates = strategy.roll_candidates(trade, mark, chain, ctx)
    rejections: list[str] = []
    for candidate in candidates:
        reasons, failed = _judge(
            closing=closing,
            candidate=candidate,
            trade=trade,
            settings=settings,
            min_credit=min_credit,
            old_max_loss=old_max_loss,
        )
        if failed:
            rejections.append(f"{candidate.expiry} {_legs_text(candidate)}: {failed}")
            continue
        _, _, natural, mid = price_roll(closing, candidate)
        order_liquidity = min(liquidity, candidate.liquidity_score)
        rolled = replace(
            candidate,
            purpose=OrderPurpose.ROLL,
            rolled_from_trade_id=trade.trade_id,
            close_symbols=tuple(leg.symbol for leg in closing),
            net_price_natural=natural,
            net_price_mid=mid,
            max_loss_usd=candidate.max_loss_usd + remainder_loss,
            capital_usd=candidate.capital_usd + remainder_loss,
            liquidity_score=order_liquidity,
            reasons=(*candidate.reasons, *reasons),
        )
        credit = -natural
        roll_detail = (
            f"{detail}; roll {'+'.join(leg.symbol for leg in closing)} → "
            f"{_legs_text(candidate)} ({candidate.expiry}) for a net "
            f"{'credit' if credit >= 0 else 'debit'} {abs(credit)} (mid {-mid})"
        )
        action = RollAction(
            trade_id=trade.trade_id,
            candidate=rolled,
            close_symbols=rolled.close_symbols,
            reason=reason,
            detail=roll_detail,
        )
        return RollSearch(action=action, rejections=tuple(rejections), candidates=len(candidates))
    if not candidates:
        rejections.append("the strategy found no roll target in its DTE window")
    return RollSearch(action=None, rejections=tuple(rejections), candidates=len(candidates))


def _legs_text(candidate: Candidate) -> str:
    return "/".join(
        f"{'-' if leg.side is Side.SELL else '+'}{leg.contract.strike}{leg.contract.right.occ_letter}"
        for leg in candidate.legs
    )


def _judge(
    *,
    closing: Sequence[ClosingLeg],
    candidate: Candidate,
    trade: Trade,
    settings: AgentSettings,
    min_credit: Decimal,
    old_max_loss: Decimal,
) -> tuple[list[Reason], str]:
    """The acceptance reasons of one combination and the first failure's text ("" if none)."""
    reasons: list[Reason] = []
    symbols = [leg.symbol for leg in closing] + [leg.symbol for leg in candidate.legs]
    ratios_equal = len({leg.ratio for leg in closing}) <= 1
    shape_ok = (
        len(symbols) <= 4
        and len(set(symbols)) == len(symbols)
        and mleg_compatible(symbols)
        and ratios_equal
    )
    reasons.append(
        Reason(
            rule="roll_legs",
            passed=shape_ok,
            value=len(symbols),
            limit=4,
            message=f"close {len(closing)} + open {len(candidate.legs)} legs as one multi-leg order",
        )
    )
    usable = all(leg.usable for leg in closing) and all(
        leg.ask > 0.0 and 0.0 <= leg.bid <= leg.ask for leg in candidate.legs
    )
    liquidity = candidate.liquidity_score
    reasons.append(
        Reason(
            rule="roll_liquidity",
            passed=usable,
            value=round(liquidity, 2) if math.isfinite(liquidity) else None,
            message="every leg has a usable quote (opening legs' liquidity score shown)"
            if usable
            else "a leg of the roll has no usable quote",
        )
    )
    if not usable:
        return reasons, "a leg has no usable quote"
    _, _, natural, mid = price_roll(closing, candidate)
    credit = -natural
    reasons.append(
        Reason(
            rule="roll_net_credit",
            passed=credit >= min_credit,
            value=float(credit),
            limit=float(min_credit),
            message=f"net natural {natural} (mid {mid}) for the whole roll order",
        )
    )
    band_ok = True
    worst_delta = math.nan
    for leg in candidate.legs:
        if leg.side is not Side.SELL:
            continue
        low, high = delta_band(trade.strategy, leg.contract.right, settings)
        inside = math.isfinite(leg.delta) and low <= leg.delta <= high
        band_ok = band_ok and inside
        worst_delta = leg.delta
    reasons.append(
        Reason(
            rule="roll_short_delta",
            passed=band_ok,
            value=round(worst_delta, 4) if math.isfinite(worst_delta) else None,
            message="new short delta inside the strategy's band"
            if band_ok
            else "new short delta outside the strategy's band",
        )
    )
    new_max_loss = candidate.max_loss_usd
    loss_ok = old_max_loss.is_finite() and new_max_loss <= old_max_loss
    reasons.append(
        Reason(
            rule="roll_max_loss",
            passed=loss_ok,
            value=round(float(new_max_loss), 2),
            limit=round(float(old_max_loss), 2) if old_max_loss.is_finite() else None,
            message=(
                f"max loss per unit of the new legs {new_max_loss} vs {old_max_loss} of the "
                f"legs closed (at their entry)"
            ),
        )
    )
    for rule in reasons:
        if not rule.passed:
            limit = "" if rule.limit is None else f" vs {rule.limit}"
            return reasons, f"{rule.rule} {rule.value}{limit}"
    return reasons, ""
