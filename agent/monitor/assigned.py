"""What follows an assignment: shares held by a trade.

Execution books an assignment (or exercise) as a **stock leg of the same trade** (see
docs/execution.md). A trade that holds shares is handled here, and only here (the strategies'
exit rules are about option structures):

- **Cash-secured put** (``cash_secured_put.assigned_stock_action``):

  - ``hold``: keep the shares (the assignment is alerted; nothing else);
  - ``sell_limit``: one :class:`SingleLegAction` selling every share with a limit bound of
    :data:`STOCK_SELL_BOUND_PCT_OF_BID` % of the current bid, rounded down to the cent (the
    order starts at the touch and can fill at the bid; it never sells below the bound);
  - ``covered_call``: one :class:`SingleLegAction` selling to open ``shares // 100`` calls at
    the listed expiry nearest ``covered_call_dte`` days (the earlier on a tie, at least one
    day out) and the strike whose delta is nearest ``covered_call_delta`` (the higher strike
    on a tie), with a usable quote and a positive bid; the limit bound is that bid. While a
    short call is open nothing more happens: it expires (and the next pass writes a new one)
    or is assigned (the shares go, the trade closes). Not written while trading is HALTED.

  A short call that is open when the action is ``sell_limit`` (the setting changed) makes the
  whole trade close instead, the short call bought back first.
- **Any other structure** (a spread or condor whose short leg was assigned early, or whose
  legs finished on different sides of the strike): the structure is broken, so what is left
  is closed — an :class:`ExitAction` (``ASSIGNED``) that execution turns into one single-leg
  limit order per leg (shorts bought back first, then the long options and the shares sold).
  That is clean-up of what is left, never legging *into* a spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal

import numpy as np

from agent.config import AssignedStockAction, CashSecuredPutSettings
from agent.domain import (
    ExitAction,
    ExitReason,
    OptionRight,
    PositionIntent,
    PositionLeg,
    Side,
    SingleLegAction,
    StructureKind,
    Trade,
    TradingState,
)
from agent.pricing.enriched import ChainFlag, EnrichedChain

__all__ = [
    "STOCK_SELL_BOUND_PCT_OF_BID",
    "AssignedPlan",
    "CoveredCall",
    "pick_covered_call",
    "plan_assigned",
    "stock_sell_bound",
]

STOCK_SELL_BOUND_PCT_OF_BID = Decimal(99)
"""Assigned shares are sold with a limit no lower than this share of the bid (percent)."""

CENT = Decimal("0.01")
_UNUSABLE = ChainFlag.NO_QUOTE | ChainFlag.CROSSED | ChainFlag.EXPIRED


@dataclass(frozen=True, slots=True, kw_only=True)
class CoveredCall:
    """A call to write against shares (USD per share; delta per share)."""

    symbol: str
    expiry: date
    strike: float
    delta: float
    bid: float
    ask: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignedPlan:
    """What to do with a trade holding shares (at most one of the fields set)."""

    exit: ExitAction | None = None
    single_leg: SingleLegAction | None = None
    needs_covered_call: bool = False
    """The caller should look for a call (:func:`pick_covered_call`) and build the order."""
    note: str = ""


def stock_sell_bound(bid: float) -> Decimal | None:
    """The worst price per share at which assigned stock is sold (None without a bid)."""
    if not (math.isfinite(bid) and bid > 0.0):
        return None
    bound = Decimal(repr(bid)) * STOCK_SELL_BOUND_PCT_OF_BID / 100
    rounded = bound.quantize(CENT, rounding=ROUND_FLOOR)
    return rounded if rounded > 0 else None


def plan_assigned(
    *,
    trade: Trade,
    legs: Sequence[PositionLeg],
    stock_bid: float,
    settings: CashSecuredPutSettings,
    state: TradingState,
) -> AssignedPlan:
    """The action for a trade that holds shares (see the module doc)."""
    stock = [leg for leg in legs if leg.right is None and leg.qty > 0]
    if not stock:
        return AssignedPlan(note="no shares")
    shares = sum(leg.signed_qty for leg in stock)
    short_calls = [
        leg
        for leg in legs
        if leg.right is OptionRight.CALL and leg.side is Side.SELL and leg.qty > 0
    ]
    symbol = stock[0].symbol
    if trade.strategy is not StructureKind.CASH_SECURED_PUT or shares < 0:
        return AssignedPlan(
            exit=ExitAction(
                trade_id=trade.trade_id,
                reason=ExitReason.ASSIGNED,
                detail=(
                    f"{trade.strategy.value} broken by an assignment ({shares:+d} {symbol} shares "
                    f"and {len(legs) - len(stock)} option leg(s) left): closing what is left, "
                    f"leg by leg"
                ),
            )
        )
    action = settings.assigned_stock_action
    if action is AssignedStockAction.HOLD:
        return AssignedPlan(note=f"holding {shares} {symbol} shares (assigned_stock_action hold)")
    if action is AssignedStockAction.SELL_LIMIT:
        if short_calls:
            return AssignedPlan(
                exit=ExitAction(
                    trade_id=trade.trade_id,
                    reason=ExitReason.ASSIGNED,
                    detail=(
                        f"assigned {shares} {symbol}: selling them (sell_limit) needs the "
                        f"covered call bought back first; closing the trade"
                    ),
                )
            )
        bound = stock_sell_bound(stock_bid)
        if bound is None:
            return AssignedPlan(note=f"no bid for {symbol}: the shares wait for a quote")
        return AssignedPlan(
            single_leg=SingleLegAction(
                trade_id=trade.trade_id,
                symbol=symbol,
                side=Side.SELL,
                position_intent=PositionIntent.SELL_TO_CLOSE,
                qty=shares,
                limit_bound=bound,
                reason=ExitReason.ASSIGNED,
                detail=(
                    f"assigned: selling the {shares} {symbol} shares with a limit no lower than "
                    f"{bound} ({STOCK_SELL_BOUND_PCT_OF_BID}% of the bid {stock_bid:g})"
                ),
            )
        )
    # covered_call
    if short_calls:
        return AssignedPlan(note=f"covered call {short_calls[0].symbol} open on {shares} shares")
    if state is TradingState.HALTED:
        return AssignedPlan(note="trading halted: no covered call written")
    if shares < 100:
        return AssignedPlan(note=f"{shares} shares: fewer than one contract's worth")
    return AssignedPlan(needs_covered_call=True)


def pick_covered_call(
    chain: EnrichedChain, *, target_delta: float, target_dte: int
) -> CoveredCall | None:
    """The call to write (see the module doc), or None if the chain has no usable one."""
    raw = chain.chain
    if len(raw) == 0:
        return None
    usable = (
        raw.is_call
        & (chain.dte_days >= 1)
        & ((chain.flags & np.uint32(_UNUSABLE)) == 0)
        & np.isfinite(chain.delta)
        & (raw.bid > 0.0)
        & (raw.ask >= raw.bid)
    )
    rows = np.flatnonzero(usable)
    if len(rows) == 0:
        return None
    dtes = chain.dte_days[rows]
    distance = np.abs(dtes - target_dte)
    best_dte = int(dtes[np.lexsort((dtes, distance))[0]])
    rows = rows[dtes == best_dte]
    order = np.lexsort((-raw.strike[rows], np.abs(chain.delta[rows] - target_delta)))
    row = int(rows[order[0]])
    return CoveredCall(
        symbol=str(raw.symbol[row]),
        expiry=raw.expiry[row].astype("datetime64[D]").item(),
        strike=float(raw.strike[row]),
        delta=float(chain.delta[row]),
        bid=float(raw.bid[row]),
        ask=float(raw.ask[row]),
    )


def covered_call_action(
    trade: Trade, shares: int, call: CoveredCall, *, stock_symbol: str
) -> SingleLegAction:
    """Sell to open ``shares // 100`` of ``call`` with its bid as the bound."""
    bound = Decimal(repr(call.bid)).quantize(CENT, rounding=ROUND_FLOOR)
    return SingleLegAction(
        trade_id=trade.trade_id,
        symbol=call.symbol,
        side=Side.SELL,
        position_intent=PositionIntent.SELL_TO_OPEN,
        qty=shares // 100,
        limit_bound=bound,
        reason=ExitReason.ASSIGNED,
        detail=(
            f"assigned: covered call on {shares} {stock_symbol} shares, sell {shares // 100} "
            f"{call.symbol} (delta {call.delta:.2f}, {call.expiry}) no lower than {bound}"
        ),
    )
