"""Deterministic ids and the construction of trades, intents and order legs.

Ids are UUIDv5 of what they stand for, so repeating a call (a retried actor call, a restarted
process replaying the engine's decision) finds the rows it wrote the first time instead of
creating a second trade or a second order:

- a trade opened from a risk decision: ``trade/<decision_id>``;
- its entry (or roll) intent: ``open/<trade_id>`` (``roll/<trade_id>``);
- the n-th closing or single-leg intent of a trade: ``close/<trade_id>/<n>``.

The client order id of attempt ``a`` of an intent is ``client_order_id_for(intent_id, a)``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import reduce

from agent.domain import (
    Candidate,
    OrderLeg,
    PositionIntent,
    PositionLeg,
    RiskDecision,
    Side,
    StructureKind,
    is_option_symbol,
    underlying_of,
)
from agent.domain.orders import MAX_LEGS

__all__ = [
    "candidate_legs",
    "closing_leg",
    "closing_orders",
    "entry_intent_id",
    "indexed_intent_id",
    "mleg_compatible",
    "roll_intent_id",
    "trade_id_for_decision",
    "trade_params",
]

_NAMESPACE = uuid.UUID("3b0f6f4e-2f0e-4c55-9d53-5e7a1c1f0a77")


def _uuid(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name))


def trade_id_for_decision(decision_id: str) -> str:
    return _uuid(f"trade/{decision_id}")


def entry_intent_id(trade_id: str) -> str:
    return _uuid(f"open/{trade_id}")


def roll_intent_id(trade_id: str) -> str:
    return _uuid(f"roll/{trade_id}")


def indexed_intent_id(kind: str, trade_id: str, index: int) -> str:
    """The ``index``-th intent of ``kind`` (``close``, ``single``) of a trade."""
    return _uuid(f"{kind}/{trade_id}/{index}")


def candidate_legs(candidate: Candidate) -> tuple[OrderLeg, ...]:
    return tuple(
        OrderLeg(
            symbol=leg.symbol,
            side=leg.side,
            position_intent=leg.position_intent,
            ratio_qty=leg.ratio,
        )
        for leg in candidate.legs
    )


def closing_leg(position: PositionLeg, ratio: int = 1) -> OrderLeg:
    """The order leg that closes ``position`` (buy back a short, sell a long)."""
    if position.side is Side.SELL:
        return OrderLeg(
            symbol=position.symbol,
            side=Side.BUY,
            position_intent=PositionIntent.BUY_TO_CLOSE,
            ratio_qty=ratio,
        )
    return OrderLeg(
        symbol=position.symbol,
        side=Side.SELL,
        position_intent=PositionIntent.SELL_TO_CLOSE,
        ratio_qty=ratio,
    )


def mleg_compatible(symbols: Sequence[str]) -> bool:
    """Whether these legs can go as one multi-leg order: 2-4 options on one underlying."""
    return (
        2 <= len(symbols) <= MAX_LEGS
        and all(is_option_symbol(s) for s in symbols)
        and len({underlying_of(s) for s in symbols}) == 1
    )


def closing_orders(positions: Sequence[PositionLeg]) -> list[tuple[tuple[OrderLeg, ...], int]]:
    """The orders that flatten ``positions``: ``[(legs, qty)]``.

    One multi-leg order when the legs allow it (ratios = leg qty / GCD, qty = GCD), else one
    single-leg order per leg: a structure broken by an assignment (stock plus options) is
    cleaned up leg by leg, which is not legging *into* a spread.
    """
    open_positions = [p for p in positions if p.qty > 0]
    if not open_positions:
        return []
    if len(open_positions) == 1:
        only = open_positions[0]
        return [((closing_leg(only),), only.qty)]
    if mleg_compatible([p.symbol for p in open_positions]):
        units = reduce(math.gcd, (p.qty for p in open_positions))
        legs = tuple(closing_leg(p, p.qty // units) for p in open_positions)
        return [(legs, units)]
    # Buy back shorts first: a sale of shares under a short call is refused as long as the
    # call is open (a buy-to-close already working counts as done).
    ordered = sorted(open_positions, key=lambda p: p.side is not Side.SELL)
    return [((closing_leg(p),), p.qty) for p in ordered]


def adopted_trade_id(symbol: str, at: datetime) -> str:
    """The trade that takes in an external broker position found at ``at``."""
    return _uuid(f"adopt/{symbol}/{at.isoformat()}")


def structure_of_single(symbol: str) -> StructureKind:
    return StructureKind.SINGLE_OPTION if is_option_symbol(symbol) else StructureKind.STOCK


def _float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def trade_params(candidate: Candidate, decision: RiskDecision) -> dict[str, object]:
    """What the trade was, as decided (kept on the trade for learning)."""
    return {
        "expiry": candidate.expiry,
        "dte": candidate.dte,
        "width": candidate.width,
        "credit_usd_per_unit": candidate.credit_usd,
        "max_profit_usd_per_unit": candidate.max_profit_usd,
        "breakevens": [_float(b) for b in candidate.breakevens],
        "pop": _float(candidate.pop),
        "expected_value_usd": _float(candidate.expected_value_usd),
        "return_on_risk": _float(candidate.return_on_risk),
        "score": _float(candidate.score),
        "sizing_method": decision.sizing_method,
        "legs": [
            {
                "symbol": leg.symbol,
                "side": leg.side.value,
                "position_intent": leg.position_intent.value,
                "ratio": leg.ratio,
                "strike": leg.contract.strike,
                "right": leg.contract.right.value,
                "expiry": leg.contract.expiry,
                "delta": _float(leg.delta),
                "iv": _float(leg.iv),
            }
            for leg in candidate.legs
        ],
    }


def market_snapshot(candidate: Candidate) -> dict[str, object]:
    return {
        "as_of": candidate.as_of,
        "spot": _float(candidate.spot),
        "net_price_mid": candidate.net_price_mid,
        "net_price_natural": candidate.net_price_natural,
        "iv_rank": None if candidate.iv_rank is None else _float(candidate.iv_rank),
        "liquidity_score": _float(candidate.liquidity_score),
        "legs": {
            leg.symbol: {"bid": _float(leg.bid), "ask": _float(leg.ask), "mid": _float(leg.mid)}
            for leg in candidate.legs
        },
    }


def risk_snapshot(decision: RiskDecision) -> dict[str, object]:
    return {
        "decision_id": decision.decision_id,
        "qty": decision.qty,
        "limit_bound": decision.limit_bound,
        "sizing_method": decision.sizing_method,
        "checks": [
            {"rule": c.rule, "passed": c.passed, "value": c.value, "limit": c.limit}
            for c in decision.checks
        ],
    }


def entry_deltas(params: Mapping[str, object]) -> dict[str, float]:
    """Leg deltas at decision time by symbol, from :func:`trade_params`."""
    out: dict[str, float] = {}
    legs = params.get("legs")
    if isinstance(legs, list):
        for leg in legs:
            if isinstance(leg, Mapping):
                symbol, delta = leg.get("symbol"), leg.get("delta")
                if isinstance(symbol, str) and isinstance(delta, float | int):
                    out[symbol] = float(delta)
    return out


def signed_bound(side: Side, limit_bound: Decimal) -> Decimal:
    """A single-leg bound in the signed convention whatever sign the caller gave it."""
    return abs(limit_bound) if side is Side.BUY else -abs(limit_bound)
